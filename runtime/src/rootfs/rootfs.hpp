// Building the container's root filesystem inside its new mount namespace: the rootfs bind,
// config mounts, /dev, masked and read-only paths, then pivot_root. Runs in the container init.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rootfs/mount_options.hpp"
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
    // false: the container shares the runtime's mount namespace; nothing is mounted and the
    // init is only chrooted into the rootfs (launch refuses what would need a mount).
    bool own_mount_namespace = true;
    // Indexed like spec->mounts: a detached mount `wmrun create` made (idmapped mounts), which
    // is attached as it is, or -1. Each is closed once attached.
    std::vector<int> prepared;
    // A pid namespace joined by path, which the init enters only after pivot_root (init.hpp),
    // or -1: proc mounts are made for it from outside it.
    int pid_ns_fd = -1;
};

// Everything up to the switch into the new root: mounts, /dev, sysctls, then readonly and
// masked paths (runc's order: a sysctl may live under a path that is then made read-only).
Result<> prepare_rootfs(const RootfsContext& ctx);

// pivot_root (or MS_MOVE + chroot with no_pivot) into the prepared rootfs.
Result<> enter_rootfs(const RootfsContext& ctx);

// After pivot: rootfsPropagation and read-only root.
Result<> finish_rootfs(const RootfsContext& ctx);

// The mount building blocks, shared with idmap_mounts.cpp (which runs them in the parent).
// `shown` names the mount in errors.

// A bind source as config.md reads it: relative to the bundle unless absolute.
std::string bind_source(const std::string& bundle, const std::string& source);

// A fresh filesystem instance (proc, tmpfs, devpts, ...) through fsopen/fsconfig/fsmount.
// `fd_params`: parameters that take an fd (FSCONFIG_SET_FD), such as proc's pidns.
Result<UniqueFd> new_filesystem(const std::string& type, const std::string& source,
                                const MountOptions& opts, const std::string& shown,
                                const std::vector<std::pair<std::string, int>>& fd_params = {});

// A proc instance that shows the pid namespace behind `pid_ns_fd`, made by a process outside
// it (proc_mount.cpp).
Result<UniqueFd> new_proc_for(int pid_ns_fd, const std::string& source, const MountOptions& opts,
                              const std::string& shown);

// open_tree(OPEN_TREE_CLONE): a detached copy of `path` below `dirfd` (the tree for rbind).
Result<UniqueFd> clone_tree(int dirfd, const std::string& path, bool recursive,
                            const std::string& shown);

// mount_setattr on a mount fd; nothing to do is no call.
Result<> set_mount_attrs(int fd, const std::string& shown, unsigned long long set,
                         unsigned long long clr, unsigned long long propagation, bool recursive);

}  // namespace wmrun::runtime
