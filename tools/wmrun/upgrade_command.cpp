// upgrade: a container made from an image moved to another, with automatic rollback
// (runtime/upgrade.hpp); this file parses the flags and prints.
#include <fmt/format.h>

#include <chrono>

#include "commands.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/upgrade.hpp"

namespace wmrun::cli {
namespace {

struct UpgradeArgs {
    runtime::UpgradeOptions o;
    std::string timeout = "30s", stop_timeout = "10s";
    bool rollback = false, json = false;
};

Result<int> upgrade(const runtime::GlobalOptions& g, UpgradeArgs a) {
    a.o.timeout_ms = WM_TRY(parse_duration_ms(a.timeout, "--timeout"));
    a.o.stop_timeout_ms = WM_TRY(parse_duration_ms(a.stop_timeout, "--stop-timeout"));
    if (a.rollback && (!a.o.image.empty() || !a.o.check.empty() || a.o.wait_notify))
        return fail("", "--rollback",
                    "goes back to the image before the last upgrade: no "
                    "--image, --check or --wait-notify");
    if (!a.rollback && a.o.image.empty()) return fail("", a.o.id, "--image is needed");
    auto start = std::chrono::steady_clock::now();
    auto r =
        WM_TRY(a.rollback ? runtime::rollback_upgrade(g, a.o) : runtime::upgrade_container(g, a.o));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (a.json) {
        Json j = {{"id", r.id},
                  {"from", r.from},
                  {"to", r.to},
                  {"snapshot", r.snapshot},
                  {"repo", r.repo},
                  {"rolled_back", r.rolled_back},
                  {"duration_seconds", seconds}};
        if (r.rolled_back) j["reason"] = r.reason;
        print(j.dump() + "\n");
    } else if (!r.rolled_back) {
        print(fmt::format("{} {} from {} to {} (snapshot {})\n",
                          a.rollback ? "rolled back" : "upgraded", r.id, r.from, r.to, r.snapshot));
    }
    if (r.rolled_back) return fail("", r.id, r.reason + "; rolled back to " + r.from);
    return 0;
}

}  // namespace

void add_upgrade_command(CLI::App& app, Context& ctx) {
    static UpgradeArgs ua;
    auto* u = add_command(app, ctx, "upgrade",
                          "move a container made from an image to another image, keeping its "
                          "volume layer; roll back on its own if it does not come up",
                          [&ctx] { return upgrade(ctx.global, ua); });
    u->add_option("ID", ua.o.id, "container id")->required();
    u->add_option("--image", ua.o.image, "the new image, in the container's store");
    u->add_option("--repo", ua.o.repo,
                  "repository for the snapshot taken before the switch (default: the one of "
                  "the container's snapshot policy)");
    u->add_option("--check", ua.o.check,
                  "command run inside (sh -c) until it exits 0: the new version is ready");
    u->add_flag("--wait-notify", ua.o.wait_notify,
                "the new version is ready once it sends READY=1 on NOTIFY_SOCKET");
    u->add_option("--timeout", ua.timeout, "from its start to ready, else roll back")
        ->capture_default_str();
    u->add_option("--stop-timeout", ua.stop_timeout, "from SIGTERM to SIGKILL when stopping")
        ->capture_default_str();
    u->add_flag("--rollback", ua.rollback,
                "go back to the image and volume layer of before the last upgrade (the volume "
                "layer of now is snapshotted first)");
    u->add_flag("--json", ua.json, "print a JSON summary");
    u->footer(
        "Without --check or --wait-notify, the new version is ready when it still runs a second "
        "after its start. What the user changed (the volume layer, the overlay's upper) stays "
        "over the new image's files: a file deleted stays deleted, a changed file keeps its "
        "content, a directory made anew hides what the image has in it.");
}

}  // namespace wmrun::cli
