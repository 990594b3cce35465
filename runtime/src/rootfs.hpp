// Building the container's root filesystem inside its new mount namespace: the rootfs bind,
// config mounts, /dev, masked and read-only paths, then pivot_root. Runs in the container init.
#pragma once

#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

struct RootfsContext {
    const Spec* spec = nullptr;
    std::string rootfs;  // absolute host path
    std::string bundle;  // absolute; relative bind sources are taken from here
    bool user_namespace = false;
    bool no_pivot = false;
};

// Everything up to the switch into the new root: mounts, /dev, sysctls, then readonly and
// masked paths (runc's order: a sysctl may live under a path that is then made read-only).
Result<> prepare_rootfs(const RootfsContext& ctx);

// pivot_root (or MS_MOVE + chroot with no_pivot) into the prepared rootfs.
Result<> enter_rootfs(const RootfsContext& ctx);

// After pivot: rootfsPropagation and read-only root.
Result<> finish_rootfs(const RootfsContext& ctx);

}  // namespace wmrun::runtime
