// Re-exec from a sealed in-memory copy of the binary before a command puts a process into a
// container (CVE-2019-5736 class).
#pragma once

#include <string>

#include "wmrun/base/error.hpp"

namespace wmrun::cli {

// For create, run and exec: unless this process already runs from a sealed memfd, copies
// /proc/self/exe into one, seals it and fexecve()s it with the same argv and environment, so
// no process that enters the container has the host binary as its /proc/<pid>/exe. Returns
// only when nothing needed doing or on an error.
Result<> reexec_sealed_for(const std::string& command, char** argv);

}  // namespace wmrun::cli
