// linux.seccomp compiled with libseccomp and loaded into the calling process.
#pragma once

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// Loads the filter. Syscall names unknown for the architecture are skipped with a debug log,
// as runc does. The notify listener (SCMP_ACT_NOTIFY) is not sent anywhere yet: such a
// profile is refused rather than silently weakened.
Result<> load_seccomp(const Seccomp& s);

}  // namespace wmrun::runtime
