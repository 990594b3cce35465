// Statistics from cgroup v2 files; PSI is read here for the hybrid driver too.
#include <dirent.h>

#include <sstream>

#include "cgroup_dir.hpp"
#include "drivers.hpp"

namespace wmrun::cgroups::detail {

namespace {

std::map<std::string, std::uint64_t> keyed(const std::string& dir, const char* file) {
    auto text = read_value(dir, file);
    return text ? parse_flat_keyed(*text) : std::map<std::string, std::uint64_t>{};
}

std::optional<std::uint64_t> number(const std::string& dir, const std::string& file) {
    auto v = read_u64(dir, file);
    return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
}

std::vector<std::string> files_with(const std::string& dir, const std::string& prefix,
                                    const std::string& suffix) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return out;
    while (dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (name.size() > prefix.size() + suffix.size() && name.starts_with(prefix) &&
            name.ends_with(suffix))
            out.push_back(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
    }
    ::closedir(d);
    return out;
}

void read_memory(const std::string& dir, MemoryStats& m) {
    auto current = number(dir, "memory.current");
    if (!current) return;
    m.usage = *current;
    m.limit = number(dir, "memory.max").value_or(0);
    m.peak = number(dir, "memory.peak").value_or(0);
    m.raw = keyed(dir, "memory.stat");
    m.cache = m.raw.contains("file") ? m.raw["file"] : 0;
    m.rss = m.raw.contains("anon") ? m.raw["anon"] : 0;
    m.swap_usage = number(dir, "memory.swap.current").value_or(0);
    m.swap_limit = number(dir, "memory.swap.max").value_or(0);
    auto events = keyed(dir, "memory.events");
    m.oom = events["oom"];
    m.oom_kill = events["oom_kill"];
    m.failcnt = events["max"];  // as runc reports it on v2
}

void read_io(const std::string& dir, std::vector<IoDeviceStats>& out) {
    auto text = read_value(dir, "io.stat");
    if (!text) return;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream in(line);
        std::string dev, kv;
        IoDeviceStats d;
        char colon = 0;
        in >> dev;
        std::istringstream devs(dev);
        if (!(devs >> d.major >> colon >> d.minor)) continue;
        while (in >> kv) {
            auto eq = kv.find('=');
            if (eq == std::string::npos) continue;
            auto v = parse_u64(std::string_view(kv).substr(eq + 1)).value_or(0);
            auto key = kv.substr(0, eq);
            if (key == "rbytes") d.read_bytes = v;
            if (key == "wbytes") d.write_bytes = v;
            if (key == "rios") d.read_ios = v;
            if (key == "wios") d.write_ios = v;
        }
        out.push_back(d);
    }
}

bool parse_pressure_line(const std::string& line, PressureLine& out) {
    std::istringstream in(line);
    std::string kind, field;
    in >> kind;
    while (in >> field) {
        auto eq = field.find('=');
        if (eq == std::string::npos) return false;
        auto key = field.substr(0, eq), value = field.substr(eq + 1);
        try {
            if (key == "avg10") out.avg10 = std::stod(value);
            if (key == "avg60") out.avg60 = std::stod(value);
            if (key == "avg300") out.avg300 = std::stod(value);
            if (key == "total") out.total_us = std::stoull(value);
        } catch (...) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::optional<Pressure> read_pressure(const std::string& dir, const std::string& file) {
    auto text = read_value(dir, file);
    if (!text) return std::nullopt;
    Pressure p;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("some ") && !parse_pressure_line(line, p.some)) return std::nullopt;
        if (line.starts_with("full ") && !parse_pressure_line(line, p.full)) return std::nullopt;
    }
    return p;
}

void read_hugetlb_v2(const std::string& dir, Stats& stats) {
    for (const auto& size : files_with(dir, "hugetlb.", ".current")) {
        if (size.find('.') != std::string::npos) continue;  // hugetlb.2MB.rsvd.current
        HugetlbStats h;
        h.usage = number(dir, "hugetlb." + size + ".current").value_or(0);
        h.limit = number(dir, "hugetlb." + size + ".max").value_or(0);
        h.failcnt = keyed(dir, ("hugetlb." + size + ".events").c_str())["max"];
        stats.hugetlb[size] = h;
    }
}

void read_stats_v2(const std::string& dir, Stats& stats) {
    read_memory(dir, stats.memory);
    auto cpu = keyed(dir, "cpu.stat");
    if (!cpu.empty()) {
        stats.cpu.usage_ns = cpu["usage_usec"] * 1000;
        stats.cpu.user_ns = cpu["user_usec"] * 1000;
        stats.cpu.system_ns = cpu["system_usec"] * 1000;
        stats.cpu.periods = cpu["nr_periods"];
        stats.cpu.throttled_periods = cpu["nr_throttled"];
        stats.cpu.throttled_ns = cpu["throttled_usec"] * 1000;
    }
    if (auto current = number(dir, "pids.current")) {
        stats.pids.current = *current;
        stats.pids.limit = number(dir, "pids.max").value_or(0);
    }
    read_io(dir, stats.io);
    read_hugetlb_v2(dir, stats);
    stats.cpu_pressure = read_pressure(dir, "cpu.pressure");
    stats.memory_pressure = read_pressure(dir, "memory.pressure");
    stats.io_pressure = read_pressure(dir, "io.pressure");
}

}  // namespace wmrun::cgroups::detail
