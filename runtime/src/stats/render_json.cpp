// stats as JSON: `stats --format json` and the dashboard's data.
#include "wmrun/runtime/stats_format.hpp"

namespace wmrun::runtime {

namespace {

OrderedJson pressure_json(const std::optional<cgroups::Pressure>& p) {
    if (!p) return nullptr;
    return OrderedJson{{"someAvg10", p->some.avg10},
                       {"someAvg60", p->some.avg60},
                       {"fullAvg10", p->full.avg10},
                       {"someTotalUs", p->some.total_us}};
}

OrderedJson cgroup_json(const cgroups::Stats& s) {
    const auto& m = s.memory;
    std::uint64_t read = 0, write = 0, read_ios = 0, write_ios = 0;
    for (const auto& d : s.io) {
        read += d.read_bytes;
        write += d.write_bytes;
        read_ios += d.read_ios;
        write_ios += d.write_ios;
    }
    return OrderedJson{
        {"cpu", {{"usageSeconds", s.cpu.usage_ns / 1e9},
                 {"userSeconds", s.cpu.user_ns / 1e9},
                 {"systemSeconds", s.cpu.system_ns / 1e9},
                 {"throttledPeriods", s.cpu.throttled_periods}}},
        {"memory", {{"usage", m.usage},
                    {"workingSet", working_set_bytes(m)},
                    {"limit", m.limit ? OrderedJson(m.limit) : OrderedJson(nullptr)},
                    {"cache", m.cache},
                    {"rss", m.rss},
                    {"swap", m.swap_usage},
                    {"oomKills", m.oom_kill}}},
        {"io", {{"readBytes", read},
                {"writeBytes", write},
                {"reads", read_ios},
                {"writes", write_ios}}},
        {"pids", {{"current", s.pids.current},
                  {"limit", s.pids.limit ? OrderedJson(s.pids.limit) : OrderedJson(nullptr)}}},
        {"psi", {{"cpu", pressure_json(s.cpu_pressure)},
                 {"memory", pressure_json(s.memory_pressure)},
                 {"io", pressure_json(s.io_pressure)}}}};
}

}  // namespace

OrderedJson stats_json(const std::vector<ContainerStats>& stats) {
    OrderedJson out = OrderedJson::array();
    for (const auto& c : stats) {
        OrderedJson e{{"id", c.id},
                      {"image", c.image},
                      {"state", c.state},
                      {"created", c.created},
                      {"cpuPercent", c.cpu_percent ? OrderedJson(*c.cpu_percent) : nullptr},
                      {"uptimeSeconds", c.uptime_seconds},
                      {"hibernatedSeconds", c.hibernated_seconds},
                      {"wakes", c.wakes.count},
                      {"wakeSecondsSum", c.wakes.sum_seconds}};
        e["cgroup"] = c.cgroup ? cgroup_json(*c.cgroup) : OrderedJson(nullptr);
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace wmrun::runtime
