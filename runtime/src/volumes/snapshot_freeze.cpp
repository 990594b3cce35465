// What `snapshot create <container>` reads, and the freeze it holds while reading changed files.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "lifecycle/cgroup_setup.hpp"
#include "volumes/image_bundle.hpp"
#include "volumes/snapshot_freeze.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

class CgroupFreeze final : public FreezeGuard {
  public:
    CgroupFreeze(ContainerLock lock, CgroupHandle cgroup, std::string marker)
        : lock_(std::move(lock)),
          cgroup_(std::move(cgroup)),
          froze_(cgroup_.valid()),
          marker_(std::move(marker)) {}
    ~CgroupFreeze() override { (void)thaw(); }
    bool frozen_by_us() const override { return froze_; }
    Result<> thaw() override {
        if (!cgroup_.valid()) return {};
        auto done = cgroup_.manager()->thaw();
        cgroup_ = CgroupHandle();  // once: a failed thaw is reported, not retried in the dtor
        if (done) ::unlink(marker_.c_str());
        return done;
    }

  private:
    ContainerLock lock_;
    CgroupHandle cgroup_;  // empty once thawed
    bool froze_;
    std::string marker_;
};

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// A directory removed (with its contents) when the owner goes away, unless released.
class TempDir {
  public:
    explicit TempDir(std::string path) : path_(std::move(path)) {}
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        if (!path_.empty()) (void)remove_all(path_);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

Result<std::string> make_temp_dir(const std::string& parent, const char* prefix) {
    std::string tmpl = parent + "/" + prefix + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return sys_error("mkdtemp", tmpl);
    return tmpl;
}

Result<> sync_dir(const std::string& dir, bool whole_fs) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open", dir);
    if (whole_fs ? ::syncfs(fd.get()) < 0 : ::fsync(fd.get()) < 0)
        return sys_error(whole_fs ? "syncfs" : "fsync", dir);
    return {};
}

Result<> rename_path(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) < 0) return sys_error("rename", from + " to " + to);
    return {};
}

}  // namespace

Result<SnapshotSource> snapshot_source(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto state = WM_TRY(store.load(id));
    SnapshotSource src;
    src.status = current_status(store, state);
    if (state.image_store.empty()) {
        // The bundle's rootfs holds everything the container wrote.
        src.dir = state.rootfs;
        return src;
    }
    // The volume layer: the overlay's upper dir and the image's volumes, not the merged view
    // (the image's layers are in the store already) nor overlay's work dir.
    src.dir = state.image_store + "/containers/" + id;
    for (const char* name : {"upper", "volumes"})
        if (is_dir(src.dir + "/" + name)) src.include.emplace_back(name);
    if (src.include.empty())
        return fail("snapshot", src.dir, "the container has no volume layer", ENOENT);
    return src;
}

Result<std::unique_ptr<FreezeGuard>> freeze_for_snapshot(const GlobalOptions& g,
                                                         const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    std::string marker = store.dir(id) + "/" + kSnapshotFreezeMarker;
    CgroupHandle cgroup;
    if (current_status(store, state) == Status::running) {
        cgroup = CgroupHandle::load(state);
        if (!cgroup.valid())
            return fail("freeze for snapshot", id, "container has no cgroup", ENOTSUP);
        WM_CHECK(mark_frozen_by_us(store, id));
        if (auto frozen = cgroup.manager()->freeze(); !frozen) {
            ::unlink(marker.c_str());
            return std::unexpected(frozen.error());
        }
    }
    return std::make_unique<CgroupFreeze>(std::move(lock), std::move(cgroup), marker);
}

Result<> mark_frozen_by_us(const StateStore& store, const std::string& id) {
    auto self = WM_TRY(process_start_time(::getpid()));
    return store.save_file(id, kSnapshotFreezeMarker,
                           std::to_string(::getpid()) + " " + std::to_string(self));
}

EndingSignalsHeld::EndingSignalsHeld() {
    sigset_t ending;
    sigemptyset(&ending);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT})
        sigaddset(&ending, sig);
    ::pthread_sigmask(SIG_BLOCK, &ending, &old_);
}

void EndingSignalsHeld::release() {
    if (!held_) return;
    held_ = false;
    // A signal that came meanwhile is delivered now, and ends us with the container thawed.
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

Result<bool> thaw_after_killed_snapshot(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto text = store.load_file(id, kSnapshotFreezeMarker);
    if (!text && text.error().err == ENOENT) return false;
    if (!text) return std::unexpected(text.error());
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    long long pid = 0;
    unsigned long long start = 0;
    bool alive = std::sscanf(text->c_str(), "%lld %llu", &pid, &start) == 2 && pid > 0 &&
                 process_alive(static_cast<pid_t>(pid), start);
    if (alive) return false;  // a snapshot still reading
    // A migration that may have started the container elsewhere: not ours to thaw.
    if (store.load_file(id, kMigrateUnconfirmedMarker)) return false;
    bool thawed = false;
    if (current_status(store, state) == Status::paused) {
        auto cgroup = CgroupHandle::load(state);
        if (cgroup.valid()) {
            WM_CHECK(cgroup.manager()->thaw());
            thawed = true;
            log::warn("thawed container " + id + ", left frozen by a snapshot or migration that " +
                      "ended (pid " + std::to_string(pid) + ")");
        }
    }
    WM_CHECK(store.remove_file(id, kSnapshotFreezeMarker));
    return thawed;
}

Result<> replace_volume_layer(const GlobalOptions& g, const std::string& id,
                              const std::string& store,
                              const std::function<Result<>(const std::string& dir)>& fill) {
    WM_CHECK(validate_id(id));
    StateStore states(g.root);
    // The lock keeps start, run and delete of the same id out while the layer is swapped.
    std::optional<ContainerLock> lock;
    std::string store_root = store;
    bool rootless = false;
    if (auto state = states.load(id)) {
        lock.emplace(WM_TRY(states.lock(id)));
        auto status = current_status(states, *state);
        if (status != Status::stopped)
            return fail("restore into container", id,
                        std::string("container is ") + status_name(status) + "; stop it first",
                        EBUSY);
        if (state->image_store.empty())
            return fail("restore into container", id, "not made from an image: no volume layer",
                        ENOTSUP);
        store_root = state->image_store;
        rootless = state->rootless;
    }
    auto ostore = WM_TRY(overlay::Store::open(store_root, whiteout_mode(rootless)));
    std::string cdir = ostore.container_dir(id);
    if (!is_dir(cdir + "/upper"))
        return fail("restore into container", cdir, "no volume layer for this container", ENOENT);

    TempDir fresh(WM_TRY(make_temp_dir(cdir, ".restore-")));
    WM_CHECK(fill(fresh.path()));
    WM_CHECK(sync_dir(fresh.path(), true));
    if (!is_dir(fresh.path() + "/upper"))
        return fail("restore into container", id, "the snapshot holds no upper/ directory", EINVAL);
    // A stopped container's overlay is still mounted on merged/; overlayfs does not allow its
    // upper dir to change under it, and a stopped container is only ever deleted.
    WM_CHECK(ostore.unmount_container(id));

    // The swap: old entries aside, restored ones in. Renames in one directory, so a failure
    // midway is undone by renaming back.
    TempDir old(WM_TRY(make_temp_dir(cdir, ".old-")));
    std::vector<std::string> moved_aside, moved_in;
    auto undo = [&] {
        for (const auto& n : moved_in)
            (void)rename_path(cdir + "/" + n, fresh.path() + "/" + n);
        for (const auto& n : moved_aside)
            (void)rename_path(old.path() + "/" + n, cdir + "/" + n);
    };
    for (const char* name : {"upper", "volumes"}) {
        std::string cur = cdir + "/" + name, next = fresh.path() + "/" + name;
        if (exists(cur)) {
            if (auto r = rename_path(cur, old.path() + "/" + name); !r) {
                undo();
                return r;
            }
            moved_aside.emplace_back(name);
        }
        if (exists(next)) {
            if (auto r = rename_path(next, cur); !r) {
                undo();
                return r;
            }
            moved_in.emplace_back(name);
        }
    }
    WM_CHECK(sync_dir(cdir, false));
    return {};  // old and fresh (now empty) go with their owners
}

}  // namespace wmrun::runtime
