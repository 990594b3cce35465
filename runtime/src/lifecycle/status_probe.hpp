// Whether a container's cgroup is frozen; kept apart so state.cpp does not depend on a driver.
#pragma once

#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

bool is_frozen(const ContainerState& state);

}  // namespace wmrun::runtime
