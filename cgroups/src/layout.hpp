// Where the hierarchies are mounted on this host.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::cgroups::detail {

inline constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
inline constexpr const char* kHybridUnifiedRoot = "/sys/fs/cgroup/unified";

// v1 hierarchies by controller ("memory", "cpu", "name=systemd"); co-mounted controllers such
// as cpu,cpuacct map to the same mount point.
std::map<std::string, std::string> parse_v1_mounts(std::string_view mountinfo);
Result<std::map<std::string, std::string>> v1_mounts();

}  // namespace wmrun::cgroups::detail
