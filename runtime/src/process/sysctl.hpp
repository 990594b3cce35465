// linux.sysctl: which keys a container may set, and setting them. Only sysctls that belong to
// a namespace the container has of its own are allowed, as runc's validator has it: writing any
// other (vm.*, fs.* but fs.mqueue, kernel.* outside the IPC and UTS sets, net.* without a
// network namespace of its own) would change the host.
#pragma once

#include <map>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// Checked by `create` before anything is made; the error names the sysctl and the reason.
Result<> check_sysctls(const Linux& l);

// Written by the init, in the container's namespaces, through a private procfs (procfs.hpp).
Result<> apply_sysctls(const std::map<std::string, std::string>& sysctl);

}  // namespace wmrun::runtime
