// cgroup v1 pieces of the hybrid/legacy driver: limits, freezer and statistics, each working
// on the map of controller -> cgroup directory.
#pragma once

#include <map>
#include <string>

#include "unified.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::cgroups::detail {

using V1Dirs = std::map<std::string, std::string>;  // "memory" -> /sys/fs/cgroup/memory/<path>

// `unified` (may be null) takes what the host binds to its v2 tree: hugetlb, unified keys.
Result<> apply_v1(const V1Dirs& dirs, const UnifiedDir* unified, const Resources& resources);

// freezer.state: writes FROZEN or THAWED and waits until the state is reached.
Result<> set_freezer_v1(const std::string& dir, bool frozen);
Result<bool> freezer_frozen_v1(const std::string& dir);

void read_stats_v1(const V1Dirs& dirs, Stats& stats);

}  // namespace wmrun::cgroups::detail
