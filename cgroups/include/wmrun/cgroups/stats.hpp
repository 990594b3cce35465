// A snapshot of a cgroup's usage, filled from whichever files the layout provides. A figure the
// kernel does not expose on this host stays 0 (or nullopt for pressure).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wmrun::cgroups {

struct MemoryStats {
    std::uint64_t usage = 0, limit = 0, peak = 0;  // bytes; limit 0: unlimited
    std::uint64_t cache = 0, rss = 0;              // page cache and anonymous memory
    std::uint64_t swap_usage = 0, swap_limit = 0;  // swap only (not memory+swap); 0: unlimited
    std::uint64_t oom = 0, oom_kill = 0;           // memory.events (v1: oom_control's oom_kill)
    std::uint64_t failcnt = 0;  // usage hit the limit: v1 memory.failcnt, v2 events "max"
    std::map<std::string, std::uint64_t> raw;  // memory.stat as the kernel wrote it
};

struct CpuStats {
    std::uint64_t usage_ns = 0, user_ns = 0, system_ns = 0;
    std::uint64_t periods = 0, throttled_periods = 0, throttled_ns = 0;
};

struct PidsStats {
    std::uint64_t current = 0, limit = 0;  // limit 0: unlimited
};

struct IoDeviceStats {
    std::int64_t major = 0, minor = 0;
    std::uint64_t read_bytes = 0, write_bytes = 0, read_ios = 0, write_ios = 0;
};

struct HugetlbStats {
    std::uint64_t usage = 0, limit = 0, failcnt = 0;  // limit 0: unlimited
};

struct PressureLine {
    double avg10 = 0, avg60 = 0, avg300 = 0;
    std::uint64_t total_us = 0;
};

struct Pressure {
    PressureLine some, full;  // cpu "full" is all zeros on kernels before 5.13
};

struct Stats {
    MemoryStats memory;
    CpuStats cpu;
    PidsStats pids;
    std::vector<IoDeviceStats> io;
    std::map<std::string, HugetlbStats> hugetlb;  // by page size: "2MB"
    std::optional<Pressure> cpu_pressure, memory_pressure, io_pressure;
};

}  // namespace wmrun::cgroups
