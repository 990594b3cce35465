// stats: every container's state and figures, once (--no-stream) or refreshing in place, as a
// table, JSON or Prometheus text. The reading is runtime::StatsSampler's, the rendering
// stats_format's; this only parses flags and prints.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "commands.hpp"
#include "wmrun/runtime/stats.hpp"
#include "wmrun/runtime/stats_format.hpp"
#include "wmrun/runtime/stats_serve.hpp"
#include "wmrun_version.h"

namespace wmrun::cli {

namespace {

// The interval over which --no-stream measures CPU % of the containers that run.
constexpr unsigned kOnceIntervalMs = 100;
constexpr auto kRefresh = std::chrono::seconds(1);

struct StatsFlags {
    std::vector<std::string> ids;
    bool no_stream = false;
    std::string format = "table";
    std::string serve, token_file;
    bool allow_remote = false;
};

// The server program: beside this binary (a build tree, or an install that keeps them
// together), else where meson installs it.
std::string server_program() {
    constexpr const char* name = "/wmrun-stats-server";
    std::string self(4096, '\0');
    ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size());
    if (n > 0 && static_cast<std::size_t>(n) < self.size()) {
        self.resize(static_cast<std::size_t>(n));
        std::string beside = self.substr(0, self.rfind('/')) + name;
        if (::access(beside.c_str(), X_OK) == 0) return beside;
    }
    return std::string(WMRUN_LIBEXECDIR) + name;
}

// --serve: the flags are checked here, so a mistake reads as any other of wmrun's, then the
// server program takes over this process.
Result<int> exec_server(CLI::App& cmd, const runtime::GlobalOptions& g, const StatsFlags& f) {
    for (const char* flag : {"--no-stream", "--format"})
        if (cmd.count(flag))
            return fail("read flags", flag, "does not go with --serve (which serves /metrics "
                        "and the dashboard)", EINVAL);
    WM_CHECK(runtime::serve_options(f.serve, f.allow_remote, f.token_file));
    std::string program = server_program();
    std::vector<std::string> args = {program, "--root", g.root, "--listen", f.serve};
    if (f.allow_remote) args.push_back("--allow-remote");
    if (!f.token_file.empty()) args.insert(args.end(), {"--token-file", f.token_file});
    if (!f.ids.empty()) args.push_back("--");
    args.insert(args.end(), f.ids.begin(), f.ids.end());
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    return sys_error("exec the stats server", program);
}

std::string render(const StatsFlags& f, const std::vector<runtime::ContainerStats>& stats) {
    if (f.format == "json") return runtime::stats_json(stats).dump() + "\n";
    if (f.format == "prometheus") return runtime::stats_prometheus(stats);
    return runtime::stats_table(stats);
}

Result<int> run_stats(CLI::App& cmd, const runtime::GlobalOptions& g, const StatsFlags& f) {
    if (!f.serve.empty()) return exec_server(cmd, g, f);
    for (const char* flag : {"--allow-remote", "--token-file"})
        if (cmd.count(flag)) return fail("read flags", flag, "only goes with --serve", EINVAL);
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
    static CLI::App* cmd = nullptr;
    cmd = add_command(
        app, ctx, "stats",
        "show the state, CPU, memory, I/O, pids and pressure of every container (or those named)",
        [&ctx]() -> Result<int> { return run_stats(*cmd, ctx.global, f); });
    cmd->add_option("container-id", f.ids, "containers to show (default: all)");
    cmd->add_flag("--no-stream", f.no_stream, "print once instead of refreshing every second");
    cmd->add_option("--format", f.format, "table, json or prometheus")
        ->check(CLI::IsMember({"table", "json", "prometheus"}));
    cmd->add_option("--serve", f.serve,
                    "serve /metrics (Prometheus) and a live dashboard at / on ADDR:PORT");
    cmd->add_flag("--allow-remote", f.allow_remote,
                  "with --serve: listen on a non-loopback address (needs --token-file)");
    cmd->add_option("--token-file", f.token_file,
                    "with --serve: require this file's token as a bearer token");
}

}  // namespace wmrun::cli
