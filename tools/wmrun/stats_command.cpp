// stats: every container's state and figures, once (--no-stream) or refreshing in place, as a
// table, JSON or Prometheus text. The reading is runtime::StatsSampler's, the rendering
// stats_format's; this only parses flags and prints.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "commands.hpp"
#include "wmrun/runtime/stats.hpp"
#include "wmrun/runtime/stats_format.hpp"

namespace wmrun::cli {

namespace {

// The interval over which --no-stream measures CPU % of the containers that run.
constexpr unsigned kOnceIntervalMs = 100;
constexpr auto kRefresh = std::chrono::seconds(1);

struct StatsFlags {
    std::vector<std::string> ids;
    bool no_stream = false;
    std::string format = "table";
};

std::string render(const StatsFlags& f, const std::vector<runtime::ContainerStats>& stats) {
    if (f.format == "json") return runtime::stats_json(stats).dump() + "\n";
    if (f.format == "prometheus") return runtime::stats_prometheus(stats);
    return runtime::stats_table(stats);
}

Result<int> run_stats(const runtime::GlobalOptions& g, const StatsFlags& f) {
    if (f.format == "prometheus" && !f.no_stream)
        return fail("read flags", "--format prometheus",
                    "prints one exposition: add --no-stream, or use --serve for scrapers",
                    EINVAL);
    runtime::StatsSampler sampler(g, f.ids);
    if (f.no_stream) {
        print(render(f, WM_TRY(sampler.once(kOnceIntervalMs))));
        return 0;
    }
    // The first frame comes after one short interval, so that CPU % is there from the start.
    auto frame = WM_TRY(sampler.once(kOnceIntervalMs));
    bool in_place = f.format == "table" && ::isatty(STDOUT_FILENO);
    for (;;) {
        // Home and clear to the end of the screen: the table redraws where it was, as docker's.
        std::string text = render(f, frame);
        print(in_place ? "\x1b[H\x1b[J" + text : text);
        std::fflush(stdout);
        std::this_thread::sleep_for(kRefresh);
        frame = WM_TRY(sampler.next());
    }
}

}  // namespace

void add_stats_command(CLI::App& app, Context& ctx) {
    static StatsFlags f;
    auto* cmd = add_command(
        app, ctx, "stats",
        "show the state, CPU, memory, I/O, pids and pressure of every container (or those named)",
        [&ctx]() -> Result<int> { return run_stats(ctx.global, f); });
    cmd->add_option("container-id", f.ids, "containers to show (default: all)");
    cmd->add_flag("--no-stream", f.no_stream, "print once instead of refreshing every second");
    cmd->add_option("--format", f.format, "table, json or prometheus")
        ->check(CLI::IsMember({"table", "json", "prometheus"}));
}

}  // namespace wmrun::cli
