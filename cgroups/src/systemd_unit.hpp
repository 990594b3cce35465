// What the systemd driver asks systemd for: the unit a "slice:prefix:name" cgroupsPath names,
// and linux.resources as the unit properties systemd has for them (runc's conversions). Pure,
// so that it is unit-tested without a systemd.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "wmrun/cgroups/manager.hpp"

namespace wmrun::cgroups::detail {

struct SystemdUnit {
    std::string slice;  // "system.slice"
    std::string unit;   // "prefix-name.scope", or "name.slice"
    std::string path;   // below the hierarchy root: "/system.slice/prefix-name.scope"
};

// Config::cgroups_path in runc's systemd form: an empty slice is system.slice (user.slice when
// rootless), an empty name the container id; a name ending in ".slice" is a slice unit.
Result<SystemdUnit> systemd_unit(const Config& config);

// A D-Bus property of a unit: "t" (uint64), "ay" (a CPU or NUMA node bitmask), "s" (a
// DevicePolicy) or "a(ss)" (DeviceAllow's paths and access).
using DeviceAllowList = std::vector<std::pair<std::string, std::string>>;
struct UnitProperty {
    std::string name;
    std::variant<std::uint64_t, std::vector<std::uint8_t>, std::string, DeviceAllowList> value;
    bool operator==(const UnitProperty&) const = default;
};

// systemd's "infinity" for limits and quotas.
inline constexpr std::uint64_t kUnitInfinity = UINT64_MAX;

// The properties for the resources that are set, as runc sets them: MemoryMax, MemoryLow,
// MemorySwapMax, CPUWeight, CPUQuotaPerSecUSec (rounded up to 10 ms) and CPUQuotaPeriodUSec,
// AllowedCPUs, AllowedMemoryNodes, TasksMax, IOWeight, and from linux.resources.unified
// memory.high/low/max/swap.max, pids.max and cpu.weight. Zero means unset, as in runc.
// Devices are converted apart (systemd_devices.hpp), since that needs /proc/devices.
Result<std::vector<UnitProperty>> unit_properties(const Resources& resources);

// "0-3,8" -> the little-endian bitmask systemd takes for AllowedCPUs/AllowedMemoryNodes.
Result<std::vector<std::uint8_t>> cpu_list_to_mask(const std::string& list);

}  // namespace wmrun::cgroups::detail
