// /dev inside the container: runc's default nodes and symlinks plus linux.devices, made through
// fds resolved inside the rootfs. In a user namespace, nodes are bind mounts of the host's.
#pragma once

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

Result<> setup_dev(int rootfd, const Spec& spec, bool dev_mounted, bool user_namespace);

// Idmaps a detached mount with the container's own user namespace (the init is inside it).
Result<> apply_idmap(int mount_fd, const std::string& shown, bool recursive);

}  // namespace wmrun::runtime
