// linux.seccomp compiled with libseccomp and loaded into the calling process.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// A filter compiled to BPF ahead of time: a container's init compiles it before it waits for
// `start`, so that only the load is left between `start` and the program (the compile of a
// container engine's default profile takes milliseconds).
struct SeccompProgram {
    std::vector<sock_filter> filter;
    unsigned flags = 0;   // SECCOMP_FILTER_FLAG_*
    bool notify = false;  // an action is SCMP_ACT_NOTIFY: the load makes a listener
    // Loads the filter into the calling thread; returns the notify listener fd, if any.
    Result<UniqueFd> load() const;
};
Result<SeccompProgram> compile_seccomp(const Seccomp& s);

// Loads `filter`; a notify listener goes over the sync socket (SyncType::seccomp_listener, then
// the fd) to the wmrun process that sends it on to listenerPath, as runc does.
Result<> load_and_pass_listener(int sync_fd, const SeccompProgram& filter);

// Compiles and loads the filter. Syscall names unknown for the architecture are skipped with a
// debug log, as runc does. A notify listener is closed: its syscalls then fail with ENOSYS (the
// container init passes its listener on with compile_seccomp + load instead).
Result<> load_seccomp(const Seccomp& s);

}  // namespace wmrun::runtime
