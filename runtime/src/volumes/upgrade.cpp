// upgrade and its rollback (upgrade.hpp). The record of the last upgrade is kept beside the
// volume layer in the store (containers/<id>/upgrade.json), which outlives the container's
// state: a rollback after a reboot, or after an upgrade killed half-way, still finds it.
#include "wmrun/runtime/upgrade.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include "volumes/image_bundle.hpp"
#include "volumes/upgrade_steps.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json_fields.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/snapshot_policy.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/runtime/state.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::runtime {

namespace {

constexpr const char* kRecordFile = "upgrade.json";
// create makes the overlay and the init; start of an app without a check is quick. Each has its
// own limit so that a hung child cannot hold the upgrade, or its rollback, forever.
constexpr auto kCreateLimit = std::chrono::minutes(5);

// The last upgrade of a container, written at each phase, so that a rollback knows where to go.
struct Record {
    std::string phase;  // "upgrading", "done", "rolled back"
    std::string from, from_manifest, to;
    std::string repo, snapshot;     // the volume layer before the upgrade
    std::vector<std::string> args;  // the command the container was given; empty: the image's
};

Json record_json(const Record& r) {
    return {{"phase", r.phase},
            {"from", r.from},
            {"fromManifest", r.from_manifest},
            {"to", r.to},
            {"repo", r.repo},
            {"snapshot", r.snapshot},
            {"args", r.args},
            {"time", log::rfc3339_now()}};
}

Result<Record> parse_record(const Json& j) {
    using namespace json_fields;
    auto f = WM_TRY(Fields::of(j, ""));
    Record r;
    r.phase = WM_TRY(f.req_string("phase"));
    r.from = WM_TRY(f.req_string("from"));
    r.from_manifest = WM_TRY(f.req_string("fromManifest"));
    r.to = WM_TRY(f.req_string("to"));
    r.repo = WM_TRY(f.req_string("repo"));
    r.snapshot = WM_TRY(f.req_string("snapshot"));
    r.args = WM_TRY(f.strings("args"));
    return r;
}

// What is known of the container before anything changes.
struct Target {
    std::string id, store, image, manifest;
    std::vector<std::string> args;  // the command it was given, if not its image's
    std::optional<SnapshotPolicy> policy;
    UniqueFd lock;  // flock on its directory in the store: one upgrade at a time
};

std::string record_path(const Target& t) {
    return t.store + "/containers/" + t.id + "/" + kRecordFile;
}

Result<> save_record(const Target& t, const Record& r) {
    return write_json_file_atomic(record_path(t), record_json(r), 2);
}

Result<std::optional<Record>> load_record(const Target& t) {
    std::string path = record_path(t);
    if (!path_exists(path)) return std::optional<Record>{};
    auto r = parse_record(WM_TRY(read_json_file(path)));
    if (!r) return fail("read upgrade record", path, r.error().message());
    return std::optional<Record>(std::move(*r));
}

Result<Target> inspect(const GlobalOptions& g, const std::string& id) {
    StateStore states(g.root);
    auto state = WM_TRY(states.load(id));
    if (state.image_store.empty() || state.image.empty())
        return fail("", id, "upgrade needs a container made from an image (--image)");
    auto config = WM_TRY(container_config(states, state));
    if (config.contains("process") && config["process"].value("terminal", false))
        return fail("", id, "a container with a terminal cannot be started again detached");
    Target t{.id = id, .store = state.image_store, .image = state.image};
    std::string dir = t.store + "/containers/" + id;
    t.lock = WM_TRY(open_file(dir, O_RDONLY | O_DIRECTORY));
    while (::flock(t.lock.get(), LOCK_EX) < 0)
        if (errno != EINTR) return sys_error("flock", dir);
    auto layers = WM_TRY(read_json_file(dir + "/layers.json"));
    t.manifest = layers.value("manifest", "");
    auto store = WM_TRY(overlay::Store::open(t.store, whiteout_mode(g.rootless)));
    auto image = WM_TRY(store.get(t.image));
    t.args = command_beyond_image(config, image.config.config);
    t.policy = WM_TRY(load_snapshot_policy(g, id));
    return t;
}

Result<snapshot::Repository> open_repo(const Target& t, const std::string& given) {
    std::string dir = given;
    if (dir.empty() && t.policy) dir = t.policy->repo;
    if (dir.empty())
        return fail("", t.id, "--repo is needed (the container has no snapshot policy naming one)");
    return snapshot::Repository::open(dir);
}

Result<std::string> snapshot_volume_layer(const GlobalOptions& g, snapshot::Repository& repo,
                                          const std::string& id, const char* tag) {
    snapshot::CreateOptions opt;
    opt.tags = {"upgrade", tag};
    auto report = WM_TRY(create_snapshot(g, repo, id, std::move(opt)));
    return report.result.id;
}

// Creates the container on `image` with its volume layer as it is, gives it back its policy,
// and starts it; the ready checks apply when `ready` is given.
Result<> bring_up(const GlobalOptions& g, const Target& t, const std::string& image,
                  const std::vector<std::string>& args, const UpgradeOptions* ready) {
    std::optional<NotifyListener> notify;
    if (ready && ready->wait_notify) notify.emplace(WM_TRY(NotifyListener::open()));
    std::vector<std::string> create = {"create", "--image", image, "--store", t.store, t.id};
    if (!args.empty()) {
        create.push_back("--");
        create.insert(create.end(), args.begin(), args.end());
    }
    WM_CHECK(create_detached(g, create, notify ? notify->path() : "",
                             UpgradeClock::now() + kCreateLimit));
    if (t.policy) WM_CHECK(save_snapshot_policy(g, t.id, *t.policy));
    auto timeout = std::chrono::milliseconds(ready ? ready->timeout_ms : 30000);
    ReadyCheck check{.check = ready ? ready->check : "", .notify = notify ? &*notify : nullptr};
    return start_and_wait_ready(g, t.id, check, UpgradeClock::now() + timeout);
}

// The volume layer of `snapshot` back in place and the container up on `image` again.
Result<> restore_and_bring_up(const GlobalOptions& g, const Target& t, snapshot::Repository& repo,
                              const std::string& snapshot, const std::string& image,
                              const std::vector<std::string>& args, std::int64_t stop_timeout_ms) {
    WM_CHECK(stop_and_delete(g, t.id, stop_timeout_ms));
    WM_CHECK(restore_snapshot(g, repo, snapshot, t.id, t.store, {}));
    return bring_up(g, t, image, args, nullptr);
}

// The old image must still be the one the container ran on: a name imported again since names
// other layers, under which the restored volume layer would not be what it was.
Result<> check_same_image(const GlobalOptions& g, const Target& t, const Record& r) {
    auto store = WM_TRY(overlay::Store::open(t.store, whiteout_mode(g.rootless)));
    auto image = WM_TRY(store.get(r.from));
    if (!r.from_manifest.empty() && image.record.manifest.digest.str() != r.from_manifest)
        return fail("roll back", t.id,
                    "image " + r.from + " names another manifest than before the upgrade (" +
                        r.from_manifest + "); import that one again to roll back");
    return {};
}

}  // namespace

Result<UpgradeReport> upgrade_container(const GlobalOptions& g, const UpgradeOptions& o) {
    auto t = WM_TRY(inspect(g, o.id));
    {
        auto store = WM_TRY(overlay::Store::open(t.store, whiteout_mode(g.rootless)));
        WM_CHECK(store.get(o.image));
    }
    auto repo = WM_TRY(open_repo(t, o.repo));
    UpgradeReport report{.id = o.id, .from = t.image, .to = o.image, .repo = repo.dir()};

    // An upgrade that rolls back leaves the record of the one before it, to roll back later.
    auto previous = WM_TRY(load_record(t));
    WM_CHECK(stop_processes(g, o.id, o.stop_timeout_ms));
    report.snapshot = WM_TRY(snapshot_volume_layer(g, repo, o.id, "before-upgrade"));
    Record record{.phase = "upgrading",
                  .from = t.image,
                  .from_manifest = t.manifest,
                  .to = o.image,
                  .repo = repo.dir(),
                  .snapshot = report.snapshot,
                  .args = t.args};
    WM_CHECK(save_record(t, record));
    WM_CHECK(delete_container(g, o.id, true));

    auto up = bring_up(g, t, o.image, t.args, &o);
    if (up) {
        record.phase = "done";
        WM_CHECK(save_record(t, record));
        return report;
    }
    report.rolled_back = true;
    report.reason = up.error().message();
    log::warn("upgrade " + o.id + " to " + o.image + " failed; rolling back to " + t.image);
    WM_CHECK(restore_and_bring_up(g, t, repo, report.snapshot, t.image, t.args, o.stop_timeout_ms));
    record.phase = "rolled back";
    WM_CHECK(save_record(t, previous ? *previous : record));
    return report;
}

Result<UpgradeReport> rollback_upgrade(const GlobalOptions& g, const UpgradeOptions& o) {
    auto t = WM_TRY(inspect(g, o.id));
    auto record = WM_TRY(load_record(t));
    if (!record || record->phase == "rolled back")
        return fail("roll back", o.id, "no upgrade to roll back");
    WM_CHECK(check_same_image(g, t, *record));
    auto repo = WM_TRY(snapshot::Repository::open(o.repo.empty() ? record->repo : o.repo));
    UpgradeReport report{.id = o.id, .from = t.image, .to = record->from, .repo = repo.dir()};
    WM_CHECK(stop_processes(g, o.id, o.stop_timeout_ms));
    report.snapshot = WM_TRY(snapshot_volume_layer(g, repo, o.id, "before-rollback"));
    WM_CHECK(restore_and_bring_up(g, t, repo, record->snapshot, record->from, record->args,
                                  o.stop_timeout_ms));
    record->phase = "rolled back";
    WM_CHECK(save_record(t, *record));
    return report;
}

}  // namespace wmrun::runtime
