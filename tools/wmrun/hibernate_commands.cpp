// hibernate, wake: freeze with memory given back, and thaw. activate: wake-on-connection.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"

namespace wmrun::cli {

namespace {

std::string mib(std::uint64_t bytes) {
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

void add_hibernate(CLI::App& app, Context& ctx) {
    static std::string id;
    static bool json = false;
    auto* cmd = add_command(
        app, ctx, "hibernate", "freeze a container and give its memory back to the host",
        [&ctx]() -> Result<int> {
            auto h = WM_TRY(runtime::hibernate_container(ctx.global, id));
            if (json) {
                OrderedJson j{{"id", id}, {"reclaimed", h.reclaimed}};
                if (h.reclaimed) {
                    j["memoryBefore"] = h.memory_before;
                    j["memoryAfter"] = h.memory_after;
                }
                print(j.dump() + "\n");
            } else if (h.reclaimed) {
                print(fmt::format("{}: hibernated, memory {} -> {}\n", id, mib(h.memory_before),
                                  mib(h.memory_after)));
            } else {
                print(id + ": hibernated (this kernel offers no memory reclaim)\n");
            }
            return 0;
        });
    cmd->add_option("container-id", id, "container id")->required();
    cmd->add_flag("--json", json, "print the memory before and after as JSON");
}

void add_wake(CLI::App& app, Context& ctx) {
    static std::string id;
    add_command(app, ctx, "wake", "thaw a hibernated container",
                [&ctx]() -> Result<int> {
                    WM_CHECK(runtime::wake_container(ctx.global, id));
                    return 0;
                })
        ->add_option("container-id", id, "container id")
        ->required();
}

void add_activate(CLI::App& app, Context& ctx) {
    static runtime::ActivateOptions o;
    static std::string idle = "0", stop_after = "0", stop_timeout = "10s";
    static bool events = false;
    auto* cmd = add_command(
        app, ctx, "activate",
        "own listening sockets and start, thaw, hibernate or stop a container on demand",
        [&ctx]() -> Result<int> {
            o.idle_timeout_ms = idle == "0" ? 0 : WM_TRY(parse_duration_ms(idle, "--idle-timeout"));
            o.stop_after_ms =
                stop_after == "0" ? 0 : WM_TRY(parse_duration_ms(stop_after, "--stop-after"));
            o.stop_timeout_ms = WM_TRY(parse_duration_ms(stop_timeout, "--stop-timeout"));
            if (events) {
                o.on_event = [](const OrderedJson& e) {
                    print(e.dump() + "\n");
                    std::fflush(stdout);  // a reader waits on each line
                };
            }
            WM_CHECK(runtime::activate_container(ctx.global, o));
            return 0;
        });
    cmd->add_option("container-id", o.id, "container id")->required();
    cmd->add_option("--listen", o.listen, "tcp:HOST:PORT or unix:PATH (repeatable)")->required();
    cmd->add_option("-b,--bundle", o.bundle,
                    "bundle to create the container from when it does not exist (default .)");
    cmd->add_option("--image", o.image, "create the container from this image of the store");
    cmd->add_option("--store", o.store, "image store directory (with --image)");
    cmd->add_option("--idle-timeout", idle,
                    "hibernate after this long with no open connection (default 0: never)");
    cmd->add_option("--stop-after", stop_after,
                    "stop after this long idle; the next connection starts it again (default 0)");
    cmd->add_option("--stop-timeout", stop_timeout, "SIGTERM to SIGKILL when stopping (10s)");
    cmd->add_flag("--events", events, "print each transition as a JSON line on stdout");
}

}  // namespace

void add_hibernate_commands(CLI::App& app, Context& ctx) {
    add_hibernate(app, ctx);
    add_wake(app, ctx);
    add_activate(app, ctx);
}

}  // namespace wmrun::cli
