// Re-exec from a binary the container cannot write before a command puts a process into a
// container (CVE-2019-5736 class).
#pragma once

#include <string>

#include "wmrun/base/error.hpp"

namespace wmrun::cli {

// For create, run and exec: unless this process already runs from a protected binary,
// re-executes itself with the same argv and environment through a detached read-only
// overlayfs of the binary's directory (its second, empty layer is made under state_root), or
// else from a sealed memfd copy, so no process that enters the container has a writable host
// file as its /proc/<pid>/exe. Returns only when nothing needed doing or on an error.
Result<> reexec_sealed_for(const std::string& command, const std::string& state_root, char** argv);

// The same decision taken from argv before the command line is parsed, so that the process
// that re-executes itself has not built the whole parser first: the first word that is not a
// global option (or its value) names the command, and --root gives the state root. Parsing
// afterwards still calls reexec_sealed_for, which stays the guarantee.
Result<> reexec_sealed_early(int argc, char** argv, const std::string& default_root);

}  // namespace wmrun::cli
