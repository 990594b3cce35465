// OCI hooks (config.md "POSIX-platform Hooks"): each runs with the container state on stdin,
// its own args and env, and an optional timeout; a failing hook fails the step.
#pragma once

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

Result<> run_hooks(const std::vector<Hook>& hooks, const OrderedJson& state, const char* stage);

}  // namespace wmrun::runtime
