// Statistics from cgroup v1 files.
#include <dirent.h>
#include <unistd.h>

#include <sstream>

#include "cgroup_dir.hpp"
#include "v1.hpp"

namespace wmrun::cgroups::detail {

namespace {

// v1 reports "no limit" as the page counter's maximum (about 2^63, page aligned).
constexpr std::uint64_t kV1Unlimited = 1ULL << 62;

std::uint64_t limit_or_zero(std::uint64_t v) {
    return v >= kV1Unlimited ? 0 : v;
}

std::optional<std::uint64_t> number(const std::string& dir, const std::string& file) {
    auto v = read_u64(dir, file);
    return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
}

std::map<std::string, std::uint64_t> keyed(const std::string& dir, const std::string& file) {
    auto text = read_value(dir, file);
    return text ? parse_flat_keyed(*text) : std::map<std::string, std::uint64_t>{};
}

const std::string* find(const V1Dirs& dirs, const char* controller) {
    auto it = dirs.find(controller);
    return it == dirs.end() ? nullptr : &it->second;
}

void read_memory(const std::string& dir, MemoryStats& m) {
    m.usage = number(dir, "memory.usage_in_bytes").value_or(0);
    m.limit = limit_or_zero(number(dir, "memory.limit_in_bytes").value_or(0));
    m.peak = number(dir, "memory.max_usage_in_bytes").value_or(0);
    m.raw = keyed(dir, "memory.stat");
    // The total_ figures include child cgroups, as v2's do.
    m.cache = m.raw.contains("total_cache") ? m.raw["total_cache"] : m.raw["cache"];
    m.rss = m.raw.contains("total_rss") ? m.raw["total_rss"] : m.raw["rss"];
    if (auto memsw = number(dir, "memory.memsw.usage_in_bytes"); memsw && *memsw >= m.usage)
        m.swap_usage = *memsw - m.usage;
    auto memsw_limit = limit_or_zero(number(dir, "memory.memsw.limit_in_bytes").value_or(0));
    if (memsw_limit != 0 && m.limit != 0 && memsw_limit >= m.limit)
        m.swap_limit = memsw_limit - m.limit;
    m.oom_kill = keyed(dir, "memory.oom_control")["oom_kill"];
    m.failcnt = number(dir, "memory.failcnt").value_or(0);
}

void read_cpu(const V1Dirs& dirs, CpuStats& c) {
    if (auto dir = find(dirs, "cpuacct")) {
        c.usage_ns = number(*dir, "cpuacct.usage").value_or(0);
        auto user = number(*dir, "cpuacct.usage_user"), sys = number(*dir, "cpuacct.usage_sys");
        if (user && sys) {
            c.user_ns = *user;
            c.system_ns = *sys;
        } else {
            // cpuacct.stat counts USER_HZ ticks.
            auto ticks = keyed(*dir, "cpuacct.stat");
            std::uint64_t ns_per_tick =
                1000000000ULL / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
            c.user_ns = ticks["user"] * ns_per_tick;
            c.system_ns = ticks["system"] * ns_per_tick;
        }
    }
    if (auto dir = find(dirs, "cpu")) {
        auto st = keyed(*dir, "cpu.stat");
        c.periods = st["nr_periods"];
        c.throttled_periods = st["nr_throttled"];
        c.throttled_ns = st["throttled_time"];
    }
}

// "8:0 Read 4096" lines of blkio.throttle.io_service_bytes(_recursive) and io_serviced.
void read_blkio(const std::string& dir, std::vector<IoDeviceStats>& out) {
    auto device = [&](std::int64_t major, std::int64_t minor) -> IoDeviceStats& {
        for (auto& d : out)
            if (d.major == major && d.minor == minor) return d;
        out.push_back(IoDeviceStats{major, minor});
        return out.back();
    };
    auto parse = [&](const char* file, bool bytes) {
        std::string name = std::string(file) + "_recursive";
        auto text = read_value(dir, name);
        if (!text) text = read_value(dir, file);
        if (!text) return;
        std::istringstream lines(*text);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream in(line);
            std::int64_t major = 0, minor = 0;
            char colon = 0;
            std::string op;
            std::uint64_t value = 0;
            if (!(in >> major >> colon >> minor >> op >> value)) continue;
            auto& d = device(major, minor);
            if (op == "Read") (bytes ? d.read_bytes : d.read_ios) = value;
            if (op == "Write") (bytes ? d.write_bytes : d.write_ios) = value;
        }
    };
    parse("blkio.throttle.io_service_bytes", true);
    parse("blkio.throttle.io_serviced", false);
}

void read_hugetlb(const std::string& dir, std::map<std::string, HugetlbStats>& out) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    const std::string prefix = "hugetlb.", suffix = ".limit_in_bytes";
    while (dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (!name.starts_with(prefix) || !name.ends_with(suffix)) continue;
        std::string size = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
        if (size.find('.') != std::string::npos) continue;  // hugetlb.2MB.rsvd.limit_in_bytes
        HugetlbStats h;
        h.usage = number(dir, prefix + size + ".usage_in_bytes").value_or(0);
        h.limit = limit_or_zero(number(dir, name).value_or(0));
        h.failcnt = number(dir, prefix + size + ".failcnt").value_or(0);
        out[size] = h;
    }
    ::closedir(d);
}

}  // namespace

void read_stats_v1(const V1Dirs& dirs, Stats& stats) {
    if (auto dir = find(dirs, "memory")) read_memory(*dir, stats.memory);
    read_cpu(dirs, stats.cpu);
    if (auto dir = find(dirs, "pids")) {
        stats.pids.current = number(*dir, "pids.current").value_or(0);
        stats.pids.limit = number(*dir, "pids.max").value_or(0);
    }
    if (auto dir = find(dirs, "blkio")) read_blkio(*dir, stats.io);
    if (auto dir = find(dirs, "hugetlb")) read_hugetlb(*dir, stats.hugetlb);
}

}  // namespace wmrun::cgroups::detail
