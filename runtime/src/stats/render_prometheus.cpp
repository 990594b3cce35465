// stats in Prometheus's text exposition format (version 0.0.4). Names are cAdvisor's where the
// figure means the same (so existing dashboards and alerts apply), wmrun_ for the rest.
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <iterator>
#include <map>
#include <unordered_map>

#include "wmrun/runtime/stats_format.hpp"

namespace wmrun::runtime {

namespace {

using Getter = std::function<std::optional<double>(const ContainerStats&)>;

struct Family {
    const char* name;
    const char* type;  // counter, gauge
    const char* help;
    Getter value;      // nullopt: no sample for that container
};

std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
    return fmt::format("{}", v);
}

std::string labels(const ContainerStats& c) {
    return fmt::format(R"(id="{}",image="{}",state="{}")", prometheus_label_value(c.id),
                       prometheus_label_value(c.image), prometheus_label_value(c.state));
}

// The text, written in place; each container's labels are escaped once, not once a sample
// (a thousand containers have some fifty thousand samples).
class Exposition {
  public:
    explicit Exposition(const std::vector<ContainerStats>& stats) {
        // About 4.6 KiB a container: reserved, so that the text is not reallocated as it grows
        // (each doubling holds the old and the new buffer at once, the server's peak).
        out_.reserve(4096 + stats.size() * 5120);
        labels_.reserve(stats.size());
        for (const auto& c : stats)
            labels_.emplace(&c, labels(c));
    }
    void header(std::string_view name, const char* type, const char* help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    void sample(std::string_view name, const ContainerStats& c, double value,
                std::string_view extra = {}) {
        const std::string& l = labels_.at(&c);
        if (extra.empty())
            fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, l, number(value));
        else
            fmt::format_to(std::back_inserter(out_), "{}{{{},{}}} {}\n", name, l, extra,
                           number(value));
    }
    void sample(std::string_view name, std::string_view label_text, double value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, label_text, number(value));
    }
    std::string take() { return std::move(out_); }

  private:
    std::unordered_map<const ContainerStats*, std::string> labels_;
    std::string out_;
};

// A figure of the cgroup, for containers that have one.
Getter cg(std::function<double(const cgroups::Stats&)> f) {
    return [f = std::move(f)](const ContainerStats& c) -> std::optional<double> {
        if (!c.cgroup) return std::nullopt;
        return f(*c.cgroup);
    };
}

double ns_to_s(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

const std::vector<Family>& simple_families() {
    static const std::vector<Family> families = {
        {"container_cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed in seconds.",
         cg([](const auto& s) { return ns_to_s(s.cpu.usage_ns); })},
        {"container_cpu_user_seconds_total", "counter", "Cumulative user CPU time in seconds.",
         cg([](const auto& s) { return ns_to_s(s.cpu.user_ns); })},
        {"container_cpu_system_seconds_total", "counter", "Cumulative system CPU time in seconds.",
         cg([](const auto& s) { return ns_to_s(s.cpu.system_ns); })},
        {"container_cpu_cfs_periods_total", "counter", "Number of elapsed enforcement periods.",
         cg([](const auto& s) { return double(s.cpu.periods); })},
        {"container_cpu_cfs_throttled_periods_total", "counter",
         "Number of throttled period intervals.",
         cg([](const auto& s) { return double(s.cpu.throttled_periods); })},
        {"container_cpu_cfs_throttled_seconds_total", "counter",
         "Total time duration the container has been throttled.",
         cg([](const auto& s) { return ns_to_s(s.cpu.throttled_ns); })},
        {"container_memory_usage_bytes", "gauge",
         "Current memory usage in bytes, including all memory regardless of when it was accessed.",
         cg([](const auto& s) { return double(s.memory.usage); })},
        {"container_memory_working_set_bytes", "gauge", "Current working set in bytes.",
         cg([](const auto& s) { return double(working_set_bytes(s.memory)); })},
        {"container_memory_cache", "gauge", "Number of bytes of page cache memory.",
         cg([](const auto& s) { return double(s.memory.cache); })},
        {"container_memory_rss", "gauge", "Size of RSS in bytes.",
         cg([](const auto& s) { return double(s.memory.rss); })},
        {"container_memory_swap", "gauge", "Container swap usage in bytes.",
         cg([](const auto& s) { return double(s.memory.swap_usage); })},
        {"container_memory_max_usage_bytes", "gauge", "Maximum memory usage recorded in bytes.",
         cg([](const auto& s) { return double(s.memory.peak); })},
        {"container_memory_failcnt", "counter", "Number of memory usage hits limits.",
         cg([](const auto& s) { return double(s.memory.failcnt); })},
        {"container_oom_events_total", "counter", "Count of out of memory events observed.",
         cg([](const auto& s) { return double(std::max(s.memory.oom, s.memory.oom_kill)); })},
        {"container_spec_memory_limit_bytes", "gauge", "Memory limit for the container (0: none).",
         cg([](const auto& s) { return double(s.memory.limit); })},
        {"container_spec_memory_swap_limit_bytes", "gauge",
         "Memory swap limit for the container (0: none).",
         cg([](const auto& s) { return double(s.memory.swap_limit); })},
        {"container_processes", "gauge", "Number of processes running inside the container.",
         cg([](const auto& s) { return double(s.pids.current); })},
        {"container_spec_pids_limit", "gauge", "Limit of processes in the container (0: none).",
         cg([](const auto& s) { return double(s.pids.limit); })},
        {"container_start_time_seconds", "gauge", "Start time of the container since unix epoch.",
         [](const ContainerStats& c) -> std::optional<double> {
             if (c.state == "stopped") return std::nullopt;
             auto now = std::chrono::duration<double>(
                 std::chrono::system_clock::now().time_since_epoch());
             return std::floor(now.count() - c.uptime_seconds);
         }},
        {"wmrun_container_hibernated", "gauge",
         "1 when the container is hibernated (frozen, memory given back), else 0.",
         [](const ContainerStats& c) { return std::optional<double>(c.state == "hibernated"); }},
        {"wmrun_container_hibernated_seconds", "gauge",
         "Seconds since the container was hibernated (0 when it is not).",
         [](const ContainerStats& c) { return std::optional<double>(c.hibernated_seconds); }},
        {"wmrun_container_uptime_seconds", "gauge", "Seconds since the container's init started.",
         [](const ContainerStats& c) -> std::optional<double> {
             if (c.state == "stopped") return std::nullopt;
             return c.uptime_seconds;
         }},
        {"wmrun_wakes_total", "counter", "Wakes of the container from hibernation.",
         [](const ContainerStats& c) { return std::optional<double>(double(c.wakes.count)); }},
    };
    return families;
}

void io_families(Exposition& e, const std::vector<ContainerStats>& stats) {
    struct IoFamily {
        const char* name;
        const char* help;
        std::uint64_t cgroups::IoDeviceStats::*field;
    };
    static const IoFamily io[] = {
        {"container_fs_reads_bytes_total", "Cumulative count of bytes read.",
         &cgroups::IoDeviceStats::read_bytes},
        {"container_fs_writes_bytes_total", "Cumulative count of bytes written.",
         &cgroups::IoDeviceStats::write_bytes},
        {"container_fs_reads_total", "Cumulative count of reads completed.",
         &cgroups::IoDeviceStats::read_ios},
        {"container_fs_writes_total", "Cumulative count of writes completed.",
         &cgroups::IoDeviceStats::write_ios},
    };
    for (const auto& f : io) {
        e.header(f.name, "counter", f.help);
        for (const auto& c : stats) {
            if (!c.cgroup) continue;
            for (const auto& d : c.cgroup->io)
                e.sample(f.name, c, double(d.*f.field),
                         fmt::format(R"(device="{}:{}")", d.major, d.minor));
        }
    }
}

// cAdvisor's PSI counters (waiting: "some", stalled: "full") and wmrun's 10 s averages.
void pressure_families(Exposition& e, const std::vector<ContainerStats>& stats) {
    using P = std::optional<cgroups::Pressure> cgroups::Stats::*;
    static const std::pair<const char*, P> resources[] = {
        {"cpu", &cgroups::Stats::cpu_pressure},
        {"memory", &cgroups::Stats::memory_pressure},
        {"io", &cgroups::Stats::io_pressure}};
    for (const auto& [resource, member] : resources) {
        for (bool full : {false, true}) {
            std::string name = fmt::format("container_pressure_{}_{}_seconds_total", resource,
                                           full ? "stalled" : "waiting");
            e.header(name, "counter",
                     full ? "Total time duration no tasks in the container could make progress."
                          : "Total time duration tasks in the container have waited.");
            for (const auto& c : stats)
                if (c.cgroup && (*c.cgroup).*member) {
                    const auto& p = *((*c.cgroup).*member);
                    e.sample(name, c, double((full ? p.full : p.some).total_us) / 1e6);
                }
        }
    }
    const char* avg = "wmrun_container_pressure_some_avg10_ratio";
    e.header(avg, "gauge", "Share of the last 10 s in which some task waited, per resource.");
    for (const auto& c : stats)
        for (const auto& [resource, member] : resources)
            if (c.cgroup && (*c.cgroup).*member)
                e.sample(avg, c, ((*c.cgroup).*member)->some.avg10 / 100.0,
                         fmt::format(R"(resource="{}")", resource));
}

void wake_histogram(Exposition& e, const std::vector<ContainerStats>& stats) {
    const char* name = "wmrun_wake_duration_seconds";
    e.header(name, "histogram",
             "Time from the event that woke a hibernated container to its cgroup thawed.");
    for (const auto& c : stats) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kWakeBucketBounds.size(); ++i) {
            cumulative += c.wakes.buckets[i];
            e.sample("wmrun_wake_duration_seconds_bucket", c, double(cumulative),
                     fmt::format(R"(le="{}")", kWakeBucketBounds[i]));
        }
        e.sample("wmrun_wake_duration_seconds_bucket", c, double(c.wakes.count), R"(le="+Inf")");
        e.sample("wmrun_wake_duration_seconds_sum", c, c.wakes.sum_seconds);
        e.sample("wmrun_wake_duration_seconds_count", c, double(c.wakes.count));
    }
}

void state_counts(Exposition& e, const std::vector<ContainerStats>& stats) {
    std::map<std::string, unsigned> counts{
        {"created", 0}, {"running", 0}, {"paused", 0}, {"hibernated", 0}, {"stopped", 0}};
    for (const auto& c : stats)
        counts[c.state] += 1;
    e.header("wmrun_containers", "gauge", "Containers under the state root, by state.");
    for (const auto& [state, n] : counts)
        e.sample("wmrun_containers", fmt::format(R"(state="{}")", prometheus_label_value(state)),
                 n);
}

}  // namespace

std::string prometheus_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char ch : value) {
        if (ch == '\\') out += "\\\\";
        else if (ch == '"') out += "\\\"";
        else if (ch == '\n') out += "\\n";
        else out += ch;
    }
    return out;
}

std::string stats_prometheus(const std::vector<ContainerStats>& stats) {
    Exposition e(stats);
    for (const auto& f : simple_families()) {
        e.header(f.name, f.type, f.help);
        for (const auto& c : stats)
            if (auto v = f.value(c)) e.sample(f.name, c, *v);
    }
    io_families(e, stats);
    pressure_families(e, stats);
    wake_histogram(e, stats);
    state_counts(e, stats);
    return e.take();
}

}  // namespace wmrun::runtime
