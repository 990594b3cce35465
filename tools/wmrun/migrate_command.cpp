// migrate and migrate receive: a container with its volume layer to another host
// (runtime/migrate.hpp); this file parses the flags and prints.
#include <unistd.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/migrate.hpp"

namespace wmrun::cli {
namespace {

struct MigrateArgs {
    runtime::MigrateOptions o;
    std::string target_root, target_store, target_repo, timeout = "30s";
    bool json = false;
    runtime::ReceiveTarget receive{.store = overlay::kDefaultStoreRoot,
                                   .repo = "/var/lib/wmrun/snapshots"};
    CLI::App* receive_cmd = nullptr;
};

Result<int> receive(const runtime::GlobalOptions& g, MigrateArgs& a) {
    if (!a.o.id.empty())
        return fail("", a.o.id, "migrate receive takes no container id: the sender names it");
    if (::isatty(0) == 1 || ::isatty(1) == 1)
        return fail("", "",
                    "migrate receive speaks to a sender on stdin and stdout, not a "
                    "terminal (see wmrun migrate --help)");
    a.receive.timeout_ms = WM_TRY(parse_duration_ms(a.timeout, "--timeout"));
    WM_CHECK(runtime::migrate_receive(g, a.receive, 0, 1));
    return 0;
}

Result<int> migrate(const runtime::GlobalOptions& g, MigrateArgs& a) {
    if (a.receive_cmd->parsed()) return receive(g, a);
    if (a.o.id.empty()) return fail("", "", "a container id is needed");
    // ssh runs `wmrun [--root R] migrate receive [--store S] [--repo R]` there.
    std::vector<std::string> remote;
    if (!a.target_root.empty()) remote = {"--root", a.target_root};
    remote.insert(remote.end(), {"migrate", "receive"});
    if (!a.target_store.empty()) remote.insert(remote.end(), {"--store", a.target_store});
    if (!a.target_repo.empty()) remote.insert(remote.end(), {"--repo", a.target_repo});
    a.o.receive_args = remote;
    if (!a.o.via.empty() &&
        (!a.target_root.empty() || !a.target_store.empty() || !a.target_repo.empty()))
        return fail("", "--via", "names the whole receiving command; --target-* are for ssh://");
    auto r = WM_TRY(runtime::migrate_container(g, a.o));
    if (a.json) {
        Json rounds = Json::array();
        for (const auto& x : r.rounds)
            rounds.push_back({{"snapshot", x.snapshot},
                              {"frozen", x.frozen},
                              {"bytes_sent", x.bytes_sent},
                              {"seconds", x.seconds}});
        print(Json({{"id", r.id},
                    {"image", r.image},
                    {"was_running", r.was_running},
                    {"rounds", rounds},
                    {"blobs_sent", r.blobs_sent},
                    {"blob_bytes_sent", r.blob_bytes_sent},
                    {"bytes_sent", r.bytes_sent},
                    {"bytes_received", r.bytes_received},
                    {"downtime_seconds", r.downtime_seconds},
                    {"total_seconds", r.total_seconds}})
                  .dump() +
              "\n");
        return 0;
    }
    print(fmt::format(
        "migrated {}: {} snapshot{} sent, {} bytes ({} image blobs), downtime {:.3f} s, "
        "total {:.3f} s\n",
        r.id, r.rounds.size(), r.rounds.size() == 1 ? "" : "s", r.bytes_sent, r.blobs_sent,
        r.downtime_seconds, r.total_seconds));
    return 0;
}

}  // namespace

void add_migrate_command(CLI::App& app, Context& ctx) {
    static MigrateArgs ma;
    auto* m = add_command(app, ctx, "migrate",
                          "move a container made from an image, with its volume layer, to another "
                          "host: copied while it runs, frozen for the last changes, started there, "
                          "then stopped here",
                          [&ctx] { return migrate(ctx.global, ma); });
    m->add_option("ID", ma.o.id, "container id");
    m->add_option("--target-id", ma.o.target_id,
                  "the container's id there (default: the same; another one is needed between "
                  "two state roots of one host, whose containers share the cgroup wmrun/ID)");
    m->add_option("--to", ma.o.to, "ssh://[user@]host[:port]: runs wmrun migrate receive there");
    m->add_option("--via", ma.o.via,
                  "or a shell command whose stdin and stdout reach wmrun migrate receive");
    m->add_option("--target-root", ma.target_root, "with --to: the state root there");
    m->add_option("--target-store", ma.target_store, "with --to: the image store there");
    m->add_option("--target-repo", ma.target_repo, "with --to: the snapshot repository there");
    m->add_option("--repo", ma.o.repo,
                  "repository here for the copies (default: the one of the container's "
                  "snapshot policy)");
    m->add_option("--rounds", ma.o.rounds, "copies made while it runs, before the frozen one")
        ->check(CLI::Range(0, 10))
        ->capture_default_str();
    m->add_flag("--remove-source", ma.o.remove_source,
                "delete the volume layer here once the container runs there");
    m->add_flag("--json", ma.json, "print a JSON summary");
    m->footer(
        "The process restarts on the target: its memory is not moved. The container here is "
        "stopped only after the target says it started there; until then a failure thaws it "
        "here and removes what the target made of it.");

    auto* r = m->add_subcommand("receive",
                                "the receiving side, on stdin and stdout (run by migrate over "
                                "ssh, or by the --via command)");
    ma.receive_cmd = r;
    r->add_option("--store", ma.receive.store, "image store the container is made in")
        ->capture_default_str();
    r->add_option("--repo", ma.receive.repo,
                  "repository the copies are received into (made if missing)")
        ->capture_default_str();
    r->add_option("--timeout", ma.timeout, "for the container's create and start here")
        ->capture_default_str();
}

}  // namespace wmrun::cli
