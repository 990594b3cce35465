#include "systemd_unit.hpp"

#include <charconv>

#include "convert.hpp"
#include "wmrun/base/text.hpp"

namespace wmrun::cgroups::detail {

namespace {

std::string trim(const std::string& s) {
    auto begin = s.find_first_not_of(" \t\n");
    if (begin == std::string::npos) return "";
    return s.substr(begin, s.find_last_not_of(" \t\n") - begin + 1);
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// An OCI figure where -1 is unlimited: systemd's infinity is UINT64_MAX, as uint64(-1) in runc.
std::uint64_t limit_value(std::int64_t v) {
    return v < 0 ? kUnitInfinity : static_cast<std::uint64_t>(v);
}

// runc's addCpuQuota: systemd keeps the quota as a percentage of a CPU, so a fraction of a
// percent is rounded up to the next 10 ms per second, or the kernel would get less than asked.
void add_cpu_quota(const Cpu& cpu, std::vector<UnitProperty>& out) {
    std::int64_t quota = cpu.quota.value_or(0);
    std::uint64_t period = cpu.period.value_or(0);
    if (period != 0) out.push_back({"CPUQuotaPeriodUSec", period});
    if (quota == 0 && period == 0) return;
    std::uint64_t per_sec = kUnitInfinity;
    if (quota > 0) {
        if (period == 0) period = 100000;
        per_sec = static_cast<std::uint64_t>(quota) * 1000000 / period;
        if (per_sec % 10000 != 0) per_sec = (per_sec / 10000 + 1) * 10000;
    }
    out.push_back({"CPUQuotaPerSecUSec", per_sec});
}

Result<> add_memory(const Memory& m, std::vector<UnitProperty>& out) {
    if (m.limit.value_or(0) != 0) out.push_back({"MemoryMax", limit_value(*m.limit)});
    if (m.reservation.value_or(0) != 0) out.push_back({"MemoryLow", limit_value(*m.reservation)});
    // runc's ConvertMemorySwapToCgroupV2Value: 0 is unset, except with an unlimited memory.
    if (m.swap.value_or(0) == 0) {
        if (m.limit.value_or(0) == -1) out.push_back({"MemorySwapMax", kUnitInfinity});
        return {};
    }
    auto swap = WM_TRY(swap_max_v2(m));
    if (swap) out.push_back({"MemorySwapMax", *swap == "max" ? kUnitInfinity : *parse_u64(*swap)});
    return {};
}

Result<> add_cpu(const Cpu& cpu, std::vector<UnitProperty>& out) {
    if (cpu.shares.value_or(0) != 0) out.push_back({"CPUWeight", shares_to_weight(*cpu.shares)});
    add_cpu_quota(cpu, out);
    if (!cpu.cpus.empty()) out.push_back({"AllowedCPUs", WM_TRY(cpu_list_to_mask(cpu.cpus))});
    if (!cpu.mems.empty())
        out.push_back({"AllowedMemoryNodes", WM_TRY(cpu_list_to_mask(cpu.mems))});
    return {};
}

// runc's unifiedResToSystemdProps, for the keys that are plain numbers or "max".
Result<> add_unified(const std::map<std::string, std::string>& unified,
                     std::vector<UnitProperty>& out) {
    static const std::map<std::string, std::string> names = {
        {"memory.high", "MemoryHigh"}, {"memory.low", "MemoryLow"},
        {"memory.max", "MemoryMax"},   {"memory.swap.max", "MemorySwapMax"},
        {"pids.max", "TasksMax"},      {"cpu.weight", "CPUWeight"},
    };
    for (const auto& [key, value] : unified) {
        auto name = names.find(key);
        if (name == names.end()) continue;  // written to the cgroup's file as it is
        std::string v = trim(value);
        auto number = v == "max" ? std::optional(kUnitInfinity) : parse_u64(v);
        if (!number || (key == "cpu.weight" && *number == kUnitInfinity))
            return fail("linux.resources.unified", key, "invalid value \"" + value + "\"");
        std::erase_if(out, [&](const UnitProperty& p) { return p.name == name->second; });
        out.push_back({name->second, *number});
    }
    return {};
}

}  // namespace

Result<std::vector<std::uint8_t>> cpu_list_to_mask(const std::string& list) {
    const std::string op = "cpu list";
    std::vector<std::uint8_t> mask;
    for (const auto& item : split(trim(list), ',')) {
        auto dash = item.find('-');
        auto lo = parse_u64(item.substr(0, dash));
        auto hi = dash == std::string::npos ? lo : parse_u64(item.substr(dash + 1));
        if (!lo || !hi || *lo > *hi || *hi >= 8192)
            return fail(op, list, "invalid range \"" + item + "\"");
        if (mask.size() <= *hi / 8) mask.resize(*hi / 8 + 1);
        for (auto n = *lo; n <= *hi; ++n)
            mask[n / 8] |= static_cast<std::uint8_t>(1u << (n % 8));
    }
    return mask;
}

Result<std::vector<UnitProperty>> unit_properties(const Resources& r) {
    std::vector<UnitProperty> out;
    if (r.memory) WM_CHECK(add_memory(*r.memory, out));
    if (r.cpu) WM_CHECK(add_cpu(*r.cpu, out));
    if (r.pids && (r.pids->limit.value_or(0) > 0 || r.pids->limit.value_or(0) == -1))
        out.push_back({"TasksMax", limit_value(*r.pids->limit)});
    if (r.block_io && r.block_io->weight.value_or(0) != 0)
        out.push_back({"IOWeight", blkio_weight_to_io_weight(*r.block_io->weight)});
    WM_CHECK(add_unified(r.unified, out));
    return out;
}

}  // namespace wmrun::cgroups::detail
