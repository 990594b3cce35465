// /dev inside the container: runc's default nodes and symlinks plus linux.devices, made through
// fds resolved inside the rootfs. In a user namespace, nodes are bind mounts of the host's.
#pragma once

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

Result<> setup_dev(int rootfd, const Spec& spec, bool dev_mounted, bool user_namespace);

}  // namespace wmrun::runtime
