// linux.resources of config.json (and of `update --resources`) as plain structs.
// Absent fields stay std::nullopt so that only what was asked is written.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::cgroups {

struct DeviceRule {
    bool allow = false;
    char type = 'a';                    // 'a', 'c', 'b'
    std::optional<std::int64_t> major;  // nullopt: any
    std::optional<std::int64_t> minor;  // nullopt: any
    std::string access;                 // subset of "rwm"
};

struct Memory {
    std::optional<std::int64_t> limit, reservation, swap, kernel, kernel_tcp;
    std::optional<std::uint64_t> swappiness;
    std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
};

struct Cpu {
    std::optional<std::uint64_t> shares;
    std::optional<std::int64_t> quota, burst, realtime_runtime;
    std::optional<std::uint64_t> period, realtime_period;
    std::string cpus, mems;
    std::optional<std::int64_t> idle;
};

struct Pids {
    std::optional<std::int64_t> limit;
};

struct WeightDevice {
    std::int64_t major = 0, minor = 0;
    std::optional<std::uint16_t> weight, leaf_weight;
};

struct ThrottleDevice {
    std::int64_t major = 0, minor = 0;
    std::uint64_t rate = 0;
};

struct BlockIo {
    std::optional<std::uint16_t> weight, leaf_weight;
    std::vector<WeightDevice> weight_devices;
    std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops,
        throttle_write_iops;
};

struct HugepageLimit {
    std::string page_size;  // "2MB", "1GB"
    std::uint64_t limit = 0;
};

struct NetworkPriority {
    std::string name;
    std::uint32_t priority = 0;
};

struct Network {
    std::optional<std::uint32_t> class_id;
    std::vector<NetworkPriority> priorities;
};

struct Rdma {
    std::optional<std::uint32_t> hca_handles, hca_objects;
};

struct Resources {
    std::vector<DeviceRule> devices;
    std::optional<Memory> memory;
    std::optional<Cpu> cpu;
    std::optional<Pids> pids;
    std::optional<BlockIo> block_io;
    std::vector<HugepageLimit> hugepage_limits;
    std::optional<Network> network;
    std::map<std::string, Rdma> rdma;
    std::map<std::string, std::string> unified;
};

// Parses a linux.resources object; `field` is the JSON path used in error messages
// (e.g. "linux.resources"), so an error reads "linux.resources.memory.limit: must be an integer".
Result<Resources> parse_resources(const Json& doc, const std::string& field);

}  // namespace wmrun::cgroups
