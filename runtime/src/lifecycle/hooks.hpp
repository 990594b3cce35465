// OCI hooks (config.md "POSIX-platform Hooks"): each runs with the container state on stdin,
// its own args and env, and an optional timeout.
#pragma once

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// Runs the hooks in order; the first that fails fails the step (prestart, createRuntime,
// createContainer, startContainer).
Result<> run_hooks(const std::vector<Hook>& hooks, const OrderedJson& state, const char* stage);

// Runs every hook, logging a warning for each that fails, which changes nothing else
// (poststop: runtime.md step 13; poststart: as crun and the runtime-tools validation suite's
// poststart_fail, see docs/runtime.md).
void run_hooks_logging_failures(const std::vector<Hook>& hooks, const OrderedJson& state,
                                const char* stage);

}  // namespace wmrun::runtime
