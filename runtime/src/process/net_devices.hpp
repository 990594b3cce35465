// linux.netDevices (runtime-spec 1.3): host network interfaces moved into the container's new
// network namespace, renamed on the way. When the namespace goes, the kernel gives physical
// devices back to the host's and destroys virtual ones.
#pragma once

#include <sys/types.h>

#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// From the parent, once the init (pid) has its network namespace.
Result<> move_net_devices(pid_t pid, const std::vector<NetDevice>& devices);

}  // namespace wmrun::runtime
