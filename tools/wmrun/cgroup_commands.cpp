// pause, resume: freeze and thaw through the container's cgroup. update: new limits. events:
// statistics and OOM notices as JSON lines.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>

#include "commands.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"

namespace wmrun::cli {

namespace {

// docker's units.RAMInBytes, which runc uses: "512m", "1.5g", "64MiB"; binary multiples.
Result<std::int64_t> parse_size(const std::string& flag, const std::string& text) {
    if (text == "-1") return -1;  // runc: unlimited
    static const std::regex re(R"(^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$)");
    std::smatch m;
    if (!std::regex_match(text, m, re)) return fail("read flags", flag, "invalid size: " + text);
    double value = std::stod(m[1].str());
    static const std::string units = "kmgtp";
    if (m[3].matched) {
        auto pos = units.find(static_cast<char>(std::tolower(m[3].str()[0])));
        value *= std::pow(1024.0, static_cast<double>(pos + 1));
    }
    if (value >= 9.2e18) return fail("read flags", flag, "size out of range: " + text);
    return static_cast<std::int64_t>(value);
}

template <typename T>
Result<T> parse_int(const std::string& flag, const std::string& text) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size())
        return fail("read flags", flag, "invalid number: " + text);
    return v;
}

struct UpdateFlags {
    std::string id, resources_file;
    std::string memory, memory_reservation, memory_swap, kernel_memory;
    std::string cpu_shares, cpu_quota, cpu_period, cpu_rt_period, cpu_rt_runtime, cpu_burst,
        cpu_idle;
    std::string cpuset_cpus, cpuset_mems, pids_limit, blkio_weight;
    std::string l3_cache_schema, mem_bw_schema;
};

// The linux.resources object to apply: the --resources document, with each flag given on the
// command line set over it.
Result<Json> update_resources(CLI::App& cmd, const UpdateFlags& f) {
    if (cmd.count("--l3-cache-schema") || cmd.count("--mem-bw-schema"))
        return fail("read flags", "--l3-cache-schema, --mem-bw-schema",
                    "Intel RDT is not supported", ENOTSUP);
    Json r = Json::object();
    if (!f.resources_file.empty()) {
        std::string text;
        if (f.resources_file == "-") {
            text = WM_TRY(read_fd(STDIN_FILENO, "stdin"));
        } else {
            text = WM_TRY(read_file(f.resources_file));
        }
        r = WM_TRY(parse_json(text, f.resources_file == "-" ? "stdin" : f.resources_file));
        if (!r.is_object()) return fail("read resources", f.resources_file, "not a JSON object");
    }
    auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
    for (const char* flag : {"--kernel-memory", "--kernel-memory-tcp"})
        if (given(flag))
            log::warn(std::string(flag) + " is ignored: the kernel no longer supports it");
    if (given("--memory")) r["memory"]["limit"] = WM_TRY(parse_size("--memory", f.memory));
    if (given("--memory-reservation"))
        r["memory"]["reservation"] =
            WM_TRY(parse_size("--memory-reservation", f.memory_reservation));
    if (given("--memory-swap"))
        r["memory"]["swap"] = WM_TRY(parse_size("--memory-swap", f.memory_swap));
    if (given("--cpu-shares"))
        r["cpu"]["shares"] = WM_TRY(parse_int<std::uint64_t>("--cpu-shares", f.cpu_shares));
    if (given("--cpu-quota"))
        r["cpu"]["quota"] = WM_TRY(parse_int<std::int64_t>("--cpu-quota", f.cpu_quota));
    if (given("--cpu-period"))
        r["cpu"]["period"] = WM_TRY(parse_int<std::uint64_t>("--cpu-period", f.cpu_period));
    if (given("--cpu-burst"))
        r["cpu"]["burst"] = WM_TRY(parse_int<std::uint64_t>("--cpu-burst", f.cpu_burst));
    if (given("--cpu-idle"))
        r["cpu"]["idle"] = WM_TRY(parse_int<std::int64_t>("--cpu-idle", f.cpu_idle));
    if (given("--cpu-rt-period"))
        r["cpu"]["realtimePeriod"] =
            WM_TRY(parse_int<std::uint64_t>("--cpu-rt-period", f.cpu_rt_period));
    if (given("--cpu-rt-runtime"))
        r["cpu"]["realtimeRuntime"] =
            WM_TRY(parse_int<std::int64_t>("--cpu-rt-runtime", f.cpu_rt_runtime));
    if (given("--cpuset-cpus")) r["cpu"]["cpus"] = f.cpuset_cpus;
    if (given("--cpuset-mems")) r["cpu"]["mems"] = f.cpuset_mems;
    if (given("--pids-limit"))
        r["pids"]["limit"] = WM_TRY(parse_int<std::int64_t>("--pids-limit", f.pids_limit));
    if (given("--blkio-weight"))
        r["blockIO"]["weight"] = WM_TRY(parse_int<std::uint16_t>("--blkio-weight", f.blkio_weight));
    return r;
}

bool print_line(const OrderedJson& j) {
    std::string line = j.dump() + "\n";
    return std::fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
           std::fflush(stdout) == 0;
}

void add_update(CLI::App& app, Context& ctx) {
    static UpdateFlags f;
    // The action asks the subcommand which flags were given, so a default is never written.
    static CLI::App* cmd = nullptr;
    cmd = add_command(app, ctx, "update", "update container resource constraints",
                      [&ctx]() -> Result<int> {
                          Json r = WM_TRY(update_resources(*cmd, f));
                          WM_CHECK(runtime::update_container(ctx.global, f.id, r));
                          return 0;
                      });
    cmd->add_option("container-id", f.id, "container id")->required();
    cmd->add_option("-r,--resources", f.resources_file,
                    "path to a JSON linux.resources object to apply ('-' for stdin)");
    cmd->add_option("--memory", f.memory, "memory limit (in bytes, or with k, m, g suffix)");
    cmd->add_option("--memory-reservation", f.memory_reservation, "memory soft limit");
    cmd->add_option("--memory-swap", f.memory_swap,
                    "total memory usage (memory + swap); -1 for unlimited");
    cmd->add_option("--kernel-memory", f.kernel_memory, "ignored: kernel memory limit");
    cmd->add_option("--kernel-memory-tcp", f.kernel_memory, "ignored: kernel TCP memory limit");
    cmd->add_option("--cpu-share,--cpu-shares", f.cpu_shares, "CPU shares (relative weight)");
    cmd->add_option("--cpu-quota", f.cpu_quota, "CPU CFS quota in microseconds");
    cmd->add_option("--cpu-period", f.cpu_period, "CPU CFS period in microseconds");
    cmd->add_option("--cpu-burst", f.cpu_burst, "CPU CFS burst in microseconds");
    cmd->add_option("--cpu-idle", f.cpu_idle, "1: SCHED_IDLE for the cgroup, 0: normal");
    cmd->add_option("--cpu-rt-period", f.cpu_rt_period, "CPU realtime period in microseconds");
    cmd->add_option("--cpu-rt-runtime", f.cpu_rt_runtime, "CPU realtime runtime in microseconds");
    cmd->add_option("--cpuset-cpus", f.cpuset_cpus, "CPUs to use (0-3, 0,1)");
    cmd->add_option("--cpuset-mems", f.cpuset_mems, "memory nodes to use (0-3, 0,1)");
    cmd->add_option("--pids-limit", f.pids_limit, "maximum number of pids");
    cmd->add_option("--blkio-weight", f.blkio_weight, "block IO weight (10 to 1000)");
    cmd->add_option("--l3-cache-schema", f.l3_cache_schema, "not supported");
    cmd->add_option("--mem-bw-schema", f.mem_bw_schema, "not supported");
}

void add_events(CLI::App& app, Context& ctx) {
    static std::string id, interval = "5s";
    static bool once = false;
    auto* cmd = add_command(app, ctx, "events", "display container events and statistics",
                            [&ctx]() -> Result<int> {
                                if (once) {
                                    print_line(WM_TRY(runtime::container_stats(ctx.global, id)));
                                    return 0;
                                }
                                unsigned ms = WM_TRY(parse_duration_ms(interval, "--interval"));
                                WM_CHECK(runtime::watch_events(ctx.global, id, ms, print_line));
                                return 0;
                            });
    cmd->add_option("container-id", id, "container id")->required();
    cmd->add_flag("--stats", once, "print the container's statistics once and exit");
    cmd->add_option("--interval", interval, "time between stats events (default 5s)");
}

}  // namespace

// Go's time.ParseDuration for the forms a user types: "5s", "500ms", "1m30s", "1.5s".
Result<unsigned> parse_duration_ms(const std::string& text, const std::string& flag) {
    static const std::regex part(R"((\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))");
    double ms = 0;
    std::string rest = text;
    std::smatch m;
    while (!rest.empty() && std::regex_search(rest, m, part) && m.position(0) == 0) {
        double n = std::stod(m[1].str());
        const std::string unit = m[2].str();
        ms += unit == "h"    ? n * 3600000
              : unit == "m"  ? n * 60000
              : unit == "s"  ? n * 1000
              : unit == "ms" ? n
              : unit == "ns" ? n / 1e6
                             : n / 1e3;
        rest = m.suffix().str();
    }
    if (text.empty() || !rest.empty() || ms < 1 || ms > 4e9)
        return fail("read flags", flag, "invalid duration: " + text);
    return static_cast<unsigned>(ms);
}

void add_cgroup_commands(CLI::App& app, Context& ctx) {
    static std::string pause_id, resume_id;
    add_command(app, ctx, "pause", "freeze every process of a container",
                [&ctx]() -> Result<int> {
                    WM_CHECK(runtime::pause_container(ctx.global, pause_id));
                    return 0;
                })
        ->add_option("container-id", pause_id, "container id")
        ->required();
    add_command(app, ctx, "resume", "thaw a paused container",
                [&ctx]() -> Result<int> {
                    WM_CHECK(runtime::resume_container(ctx.global, resume_id));
                    return 0;
                })
        ->add_option("container-id", resume_id, "container id")
        ->required();
    add_update(app, ctx);
    add_events(app, ctx);
}

}  // namespace wmrun::cli
