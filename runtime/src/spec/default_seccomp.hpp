// The seccomp profile `wmrun spec` puts in linux.seccomp.
#pragma once

#include "wmrun/base/json.hpp"

namespace wmrun::runtime::detail {

// An allow list in the strength of moby's and podman's default profile for a container without
// CAP_SYS_ADMIN: every other syscall fails with EPERM.
OrderedJson default_seccomp_profile();

}  // namespace wmrun::runtime::detail
