// The arithmetic between OCI's (cgroup v1 shaped) resource values and the files the kernel
// takes, kept pure so that it is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/cgroups/resources.hpp"

namespace wmrun::cgroups::detail {

// cpu.shares [2, 262144] -> cpu.weight [1, 10000], as runc and crun convert it.
std::uint64_t shares_to_weight(std::uint64_t shares);
// blkio.weight [10, 1000] -> io.weight [1, 10000].
std::uint64_t blkio_weight_to_io_weight(std::uint64_t weight);

// memory.swap.max from OCI's memory+swap figure; nullopt: leave the file alone. The rules
// follow runc's ConvertMemorySwapToCgroupV2Value, with -1 meaning unlimited.
Result<std::optional<std::string>> swap_max_v2(const Memory& memory);
// A v2 limit file value: negative is "max".
std::string limit_v2(std::int64_t value);
// cpu.max from quota/period; nullopt when neither is set.
std::optional<std::string> cpu_max_v2(const Cpu& cpu);

// "c 1:3 rwm" for devices.allow / devices.deny.
std::string device_rule_v1(const DeviceRule& rule);

// A key of linux.resources.unified must be a file of this cgroup: no path, and its prefix
// an enabled controller or "cgroup".
Result<> check_unified_key(const std::string& key, const std::set<std::string>& controllers);

}  // namespace wmrun::cgroups::detail
