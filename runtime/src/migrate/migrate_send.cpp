// migrate, the sending side (migrate.hpp): the channel to `migrate receive`, what the receiver
// lacks, the copies made while the container runs, the frozen final delta, and the source's
// stop once the target runs the container.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "lifecycle/cgroup_setup.hpp"
#include "migrate/channel.hpp"
#include "process/process_setup.hpp"
#include "volumes/image_bundle.hpp"
#include "volumes/snapshot_freeze.hpp"
#include "volumes/upgrade_steps.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/migrate.hpp"
#include "wmrun/runtime/snapshot_policy.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// The receiving side as a child: `sh -c VIA`, or ssh to the host of an ssh:// URL running
// `wmrun migrate receive`; its stdin and stdout are our end of a socket pair.
class Peer {
  public:
    static Result<Peer> start(const MigrateOptions& o) {
        std::vector<std::string> argv;
        if (!o.via.empty()) {
            argv = {"sh", "-c", o.via};
        } else {
            constexpr std::string_view scheme = "ssh://";
            if (!o.to.starts_with(scheme))
                return fail("", o.to, "the destination is ssh://[user@]host[:port] (or --via CMD)");
            std::string host = o.to.substr(scheme.size()), port;
            if (!host.empty() && host.back() == '/') host.pop_back();
            if (auto colon = host.rfind(':'); colon != std::string::npos && host[0] != '[')
                port = host.substr(colon + 1), host.resize(colon);
            if (host.empty()) return fail("", o.to, "no host");
            argv = {"ssh", "-o", "BatchMode=yes"};
            if (!port.empty()) argv.insert(argv.end(), {"-p", port});
            argv.insert(argv.end(), {"--", host, "wmrun"});
            argv.insert(argv.end(), o.receive_args.begin(), o.receive_args.end());
        }
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return sys_error("socketpair", "migrate");
        UniqueFd ours(sv[0]), theirs(sv[1]);
        auto cargv = c_strings(argv);
        pid_t pid = ::fork();
        if (pid < 0) return sys_error("fork", argv[0]);
        if (pid == 0) {
            ::dup2(theirs.get(), 0);
            ::dup2(theirs.get(), 1);
            sys::close_range(3, ~0U, 0);
            ::execvp(cargv[0], cargv.data());
            ::_exit(127);
        }
        return Peer(pid, std::move(ours));
    }
    Peer(Peer&& o) noexcept : pid_(std::exchange(o.pid_, -1)), fd_(std::move(o.fd_)) {}
    Peer& operator=(Peer&&) = delete;
    ~Peer() {
        if (pid_ < 0) return;
        fd_.reset();  // the receiver reads the end of the channel and cleans up
        (void)wait();
    }
    int fd() const { return fd_.get(); }
    int wait() {
        if (pid_ < 0) return -1;
        return wait_status(std::exchange(pid_, -1));
    }

  private:
    Peer(pid_t pid, UniqueFd fd) : pid_(pid), fd_(std::move(fd)) {}
    pid_t pid_;
    UniqueFd fd_;
};

struct Source {
    ContainerState state;
    Status status = Status::stopped;
    overlay::StoredImage image;
    std::vector<std::string> args;
    std::string snapshot_source;
};

Result<Source> inspect(const GlobalOptions& g, const std::string& id) {
    StateStore states(g.root);
    Source s;
    s.state = WM_TRY(states.load(id));
    if (s.state.image_store.empty() || s.state.image.empty())
        return fail("", id, "migrate needs a container made from an image (--image)");
    s.status = current_status(states, s.state);
    if (s.status == Status::created)
        return fail("", id, "the container is created but not started; start or delete it first");
    auto config = WM_TRY(container_config(states, s.state));
    if (config.contains("process") && config["process"].value("terminal", false))
        return fail("", id, "a container with a terminal cannot be started detached there");
    auto store = WM_TRY(overlay::Store::open(s.state.image_store, whiteout_mode(s.state.rootless)));
    s.image = WM_TRY(store.get(s.state.image));
    s.args = command_beyond_image(config, s.image.config.config);
    s.snapshot_source = WM_TRY(recorded_source(g, id));
    return s;
}

Json blob_list(const overlay::StoredImage& img) {
    Json blobs = Json::array();
    auto add = [&](const overlay::Descriptor& d) {
        blobs.push_back(
            {{"digest", d.digest.str()}, {"size", d.size}, {"mediaType", d.media_type}});
    };
    add(img.record.manifest);
    add(img.manifest.config);
    for (const auto& l : img.manifest.layers)
        add(l);
    return blobs;
}

class Sender {
  public:
    Sender(const GlobalOptions& g, const MigrateOptions& o, Source src, snapshot::Repository repo,
           Peer peer)
        : g_(g),
          o_(o),
          src_(std::move(src)),
          repo_(std::move(repo)),
          peer_(std::move(peer)),
          ch_(peer_.fd(), peer_.fd()) {}

    Result<MigrateReport> run() {
        auto start = Clock::now();
        report_.id = o_.id;
        report_.image = src_.state.image;
        report_.was_running = src_.status == Status::running || src_.status == Status::paused;
        // A migration that ended while it held the container frozen left it so: thawed at once
        // if its receiver was never told to start it, else only once this receiver has removed
        // the copy that one may have started.
        WM_CHECK(thaw_left_frozen());
        WM_CHECK(handshake());
        if (completed_) {
            WM_CHECK(end_completed());
            report_.total_seconds = since(start);
            return report_;
        }
        WM_CHECK(StateStore(g_.root).remove_file(o_.id, kMigrateUnconfirmedMarker));
        WM_CHECK(thaw_left_frozen());
        WM_CHECK(send_image());
        // While it runs: each round copies what changed since the one before.
        if (report_.was_running && src_.status == Status::running)
            for (unsigned i = 0; i < o_.rounds; ++i)
                WM_CHECK(round(false));
        WM_CHECK(finish());
        report_.bytes_sent = ch_.bytes_sent();
        report_.bytes_received = ch_.bytes_received();
        report_.total_seconds = since(start);
        return report_;
    }

  private:
    const GlobalOptions& g_;
    const MigrateOptions& o_;
    Source src_;
    snapshot::Repository repo_;
    Peer peer_;
    migrate::Channel ch_;
    MigrateReport report_;
    std::string base_;  // the newest snapshot of this volume layer the receiver holds

    Result<> thaw_left_frozen() {
        if (WM_TRY(thaw_after_killed_snapshot(g_, o_.id))) {
            StateStore states(g_.root);
            src_.status = current_status(states, WM_TRY(states.load(o_.id)));
        }
        return {};
    }

    Result<> handshake() {
        // Every snapshot here, this volume layer's last: the receiver names those it holds a
        // copy of, and the last of them is the base whose chunks are not sent.
        Json snaps = Json::array(), own = Json::array();
        for (const auto& s : WM_TRY(repo_.list()))
            (s.source == src_.snapshot_source ? own : snaps).push_back(s.id);
        snaps.insert(snaps.end(), own.begin(), own.end());
        WM_CHECK(ch_.send_json("HELO", {{"version", 1},
                                        {"id", o_.target_id.empty() ? o_.id : o_.target_id},
                                        {"image", src_.state.image},
                                        {"manifest", src_.image.record.manifest.digest.str()},
                                        {"blobs", blob_list(src_.image)},
                                        {"args", src_.args},
                                        {"repository", snapshot::repository_id(repo_)},
                                        {"snapshots", snaps}}));
        auto have = WM_TRY(ch_.expect_json("HAVE"));
        if (have.contains("completed")) return check_completed(have.value("completed", ""));
        have_blobs_ = have.value("blobs", Json::array());
        // Snapshots come oldest first: the last one the receiver has is the newest.
        for (const auto& id : have.value("snapshots", Json::array()))
            if (id.is_string()) base_ = id.get<std::string>();
        log::debug("migrate " + o_.id + ": offered " + std::to_string(snaps.size()) +
                   " snapshots, the receiver holds " +
                   std::to_string(have.value("snapshots", Json::array()).size()) + "; base " +
                   (base_.empty() ? "none" : base_));
        return {};
    }
    Json have_blobs_;
    bool completed_ = false;

    // The receiver runs a container of that id made from `from`: an earlier run of this
    // migration, killed after the receiver's DONE, if the source is the stopped container it
    // left and `from` its final copy. Anything else is another container of that id.
    Result<> check_completed(const std::string& from) {
        std::string last;
        for (const auto& s : WM_TRY(repo_.list()))
            if (s.source == src_.snapshot_source &&
                std::find(s.tags.begin(), s.tags.end(), "migrate") != s.tags.end())
                last = s.id;
        if (src_.status == Status::stopped && !from.empty() && from == last) {
            completed_ = true;
            return {};
        }
        (void)ch_.send("ERRO", "container with given ID already exists there");
        return fail("", o_.target_id.empty() ? o_.id : o_.target_id,
                    "container with given ID already exists there");
    }

    // The end an earlier run did not get to: the receiver is told, the source deleted.
    Result<> end_completed() {
        log::warn("migrate " + o_.id +
                  ": already running there from its final copy; deleting "
                  "it here");
        WM_CHECK(ch_.send_json("DONE", Json::object()));
        if (o_.remove_source)
            WM_CHECK(delete_container_volumes(g_, o_.id, true, src_.state.image_store));
        else
            WM_CHECK(delete_container(g_, o_.id, true));
        (void)peer_.wait();
        return {};
    }

    Result<> send_image() {
        auto store = WM_TRY(overlay::Store::open(src_.state.image_store));
        for (const auto& b : blob_list(src_.image)) {
            if (std::find(have_blobs_.begin(), have_blobs_.end(), b["digest"]) != have_blobs_.end())
                continue;
            auto digest = WM_TRY(overlay::parse_digest(b["digest"].get<std::string>(), "blob"));
            WM_CHECK(ch_.send_json("BLOB", b));
            WM_CHECK(ch_.send_file(store.blob_path(digest)));
            report_.blobs_sent += 1;
            report_.blob_bytes_sent += b["size"].get<std::uint64_t>();
        }
        WM_CHECK(ch_.send_json("IMGE", Json::object()));
        WM_CHECK(ch_.expect_json("IMOK"));
        return {};
    }

    // One snapshot of the volume layer sent as its delta to the receiver's newest.
    Result<> round(bool frozen) {
        auto start = Clock::now();
        auto sent_before = ch_.bytes_sent();
        snapshot::CreateOptions opt;
        opt.tags = {"migrate"};
        // A copy made while it runs is not frozen: the frozen final delta reads again every file
        // that changed since (a first copy reads every file, which would freeze it that long).
        auto snap = WM_TRY(create_snapshot(g_, repo_, o_.id, std::move(opt), frozen));
        WM_CHECK(ch_.send_json("SNAP", {{"since", base_}}));
        WM_CHECK(ch_.send_snapshot(repo_, snap.result.id, base_));
        auto got = WM_TRY(ch_.expect_json("RCVD"));
        if (got.value("id", "") != snap.result.id)
            return fail("migrate", o_.id, "the receiver stored another snapshot than sent");
        base_ = snap.result.id;
        report_.rounds.push_back(
            {snap.result.id, frozen, ch_.bytes_sent() - sent_before, since(start)});
        return {};
    }

    // The final delta with the container frozen, its start on the target, and only then its
    // end here. Any failure before the target runs it thaws it here again. Meanwhile the
    // signals that would end us wait (a ^C must not leave it frozen), and a marker names us, so
    // that if we are killed outright the next snapshot or migrate of it thaws it.
    Result<> finish() {
        EndingSignalsHeld held;
        Clock::time_point frozen_at = Clock::now();
        if (src_.status == Status::running) WM_CHECK(freeze_marked());
        auto up = final_delta_and_start();
        if (!up && asked_to_start_ && up.error().err != 0) {
            // The channel broke after the receiver was told to start it: it may run there. Left
            // frozen here, with our marker: the next migrate removes that copy first and thaws.
            return fail("migrate", o_.id,
                        up.error().message() +
                            "; the target may have started it: it stays frozen here until "
                            "migrate is run again (or resume keeps it here)");
        }
        if (!up) {
            if (frozen_by_us_) (void)thaw_marked();
            return up;
        }
        report_.downtime_seconds = report_.was_running ? since(frozen_at) : 0;
        WM_CHECK(end_source());
        if (int rc = peer_.wait(); rc != 0)
            log::warn("migrate " + o_.id + ": the receiver exited with status " +
                      std::to_string(rc) + " after the container started there");
        return {};
    }

    Result<> freeze_marked() {
        WM_CHECK(mark_frozen_by_us(StateStore(g_.root), o_.id));
        cgroup_ = CgroupHandle::load(src_.state);
        if (!cgroup_.valid()) return fail("freeze", o_.id, "container has no cgroup", ENOTSUP);
        WM_CHECK(cgroup_.manager()->freeze());
        frozen_by_us_ = true;
        return {};
    }

    Result<> thaw_marked() {
        WM_CHECK(cgroup_.manager()->thaw());
        frozen_by_us_ = false;
        StateStore store(g_.root);
        WM_CHECK(store.remove_file(o_.id, kMigrateUnconfirmedMarker));
        return store.remove_file(o_.id, kSnapshotFreezeMarker);
    }
    CgroupHandle cgroup_;
    bool frozen_by_us_ = false;
    bool asked_to_start_ = false;

    Result<> final_delta_and_start() {
        WM_CHECK(round(true));
        if (frozen_by_us_)
            WM_CHECK(StateStore(g_.root).save_file(o_.id, kMigrateUnconfirmedMarker, "1\n"));
        asked_to_start_ = true;
        WM_CHECK(ch_.send_json("STRT", {{"snapshot", base_}}));
        WM_CHECK(ch_.expect_json("UPOK"));
        return {};
    }

    // The target runs it: the processes here get SIGKILL while frozen (they die at the thaw
    // without running again), then the receiver is told it is done, and only then is the
    // container deleted here. Killed in between, we leave a stopped container here (its volume
    // layer the final one) and the receiver removes its copy: a retry completes.
    Result<> end_source() {
        if (report_.was_running) {
            // Already stopped: an earlier run of this migration, killed after it sent SIGKILL,
            // left the processes to die at the thaw that started this one.
            if (auto k = kill_container(g_, o_.id, SIGKILL, true); !k && k.error().err != ESRCH)
                return k;
            if (frozen_by_us_) WM_CHECK(thaw_marked());
        }
        if (auto done = ch_.send_json("DONE", Json::object()); !done)
            return fail("migrate", o_.id,
                        done.error().message() +
                            "; it is stopped here with its final volume layer: run migrate "
                            "again to finish");
        if (o_.remove_source)
            return delete_container_volumes(g_, o_.id, true, src_.state.image_store);
        return delete_container(g_, o_.id, true);
    }
};

}  // namespace

Result<MigrateReport> migrate_container(const GlobalOptions& g, const MigrateOptions& o) {
    if (o.to.empty() == o.via.empty())
        return fail("", o.id, "give a destination: ssh://[user@]host[:port] or --via CMD");
    ::signal(SIGPIPE, SIG_IGN);  // a receiver gone is an error from write, not our death
    auto src = WM_TRY(inspect(g, o.id));
    std::string repo_dir = o.repo;
    if (repo_dir.empty())
        if (auto policy = WM_TRY(load_snapshot_policy(g, o.id))) repo_dir = policy->repo;
    if (repo_dir.empty())
        return fail("", o.id, "--repo is needed (the container has no snapshot policy naming one)");
    auto repo = snapshot::Repository::open(repo_dir);
    if (!repo)
        return fail("", repo_dir,
                    "not a snapshot repository (" + repo.error().message() +
                        "); make one with wmrun snapshot init --repo " + repo_dir);
    auto peer = WM_TRY(Peer::start(o));
    Sender sender(g, o, std::move(src), std::move(*repo), std::move(peer));
    return sender.run();
}

}  // namespace wmrun::runtime
