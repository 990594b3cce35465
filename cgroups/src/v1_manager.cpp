// The driver for hybrid and legacy hosts: a directory per v1 hierarchy, plus (hybrid) one in
// the unified tree, which gives cgroup.kill and a reliable process list. Freezing goes through
// the v1 freezer wherever it is mounted, as runc does: podman, docker and containerd read
// freezer.state; the unified tree's cgroup.freeze is used only where v1 has no freezer.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "cgroup_dir.hpp"
#include "drivers.hpp"
#include "layout.hpp"
#include "v1.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::cgroups::detail {

namespace {

bool is_permission_error(const Error& e) {
    return e.err == EACCES || e.err == EPERM;
}

// An empty cpuset.cpus or cpuset.mems refuses every task (ENOSPC), so each new level starts
// with its parent's, as runc does.
Result<> create_cpuset(const std::string& mount_point, const std::string& path) {
    std::string current = mount_point;
    std::size_t pos = 1;
    while (pos <= path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        std::string child = current + path.substr(pos - 1, next - pos + 1);
        if (::mkdir(child.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("mkdir", child);
        for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
            if (!WM_TRY(read_value(child, file)).empty()) continue;
            WM_CHECK(write_value(child, file, WM_TRY(read_value(current, file))));
        }
        current = child;
        pos = next + 1;
    }
    return {};
}

constexpr auto kFreezeTimeout = std::chrono::seconds(10);

class V1Manager final : public Manager {
  public:
    V1Manager(std::string path, V1Dirs dirs, std::optional<UnifiedDir> unified)
        : path_(std::move(path)), dirs_(std::move(dirs)), unified_(std::move(unified)) {}

    Json save() const override {
        Json j{{"driver", "v1"}, {"path", path_}, {"dirs", dirs_}};
        if (unified_) j["unified_root"] = unified_->root();
        return j;
    }

    Result<> apply(const Resources& r) override {
        return apply_v1(dirs_, unified_ ? &*unified_ : nullptr, r);
    }

    Result<Reclaimed> reclaim_memory() override {
        auto it = dirs_.find("memory");
        if (it != dirs_.end()) return reclaim_v1(it->second);
        // A hybrid host that bound memory to its unified tree.
        if (unified_ && unified_->controllers().contains("memory"))
            return reclaim_v2(unified_->dir());
        return fail("reclaim", path_, "no memory cgroup", ENOTSUP);
    }

    // CLONE_INTO_CGROUP would place the child in the unified tree only.
    Result<UniqueFd> clone_into_fd() override { return UniqueFd(); }

    Result<> enter(pid_t pid) override {
        for (const auto& dir : distinct_dirs())
            WM_CHECK(write_pid(dir, "cgroup.procs", pid));
        if (unified_) WM_CHECK(unified_->enter(pid));
        return {};
    }

    Result<> freeze() override { return set_frozen(true); }
    Result<> thaw() override { return set_frozen(false); }

    Result<bool> frozen() override {
        auto v1 = dirs_.find("freezer");
        if (v1 == dirs_.end()) {
            if (v2_freezer()) return unified_->frozen();
            return std::unexpected(freezer_dir().error());
        }
        if (WM_TRY(freezer_frozen_v1(v1->second))) return true;
        // A container paused through the unified tree by an earlier wmrun stays paused (and
        // can be resumed) until it is thawed.
        return v2_freezer() && WM_TRY(unified_->frozen());
    }

    Result<> kill_all(int signal) override {
        if (signal == SIGKILL && unified_ && unified_->can_kill()) {
            WM_CHECK(unified_->kill());
            return thaw_for_kill();
        }
        bool freeze_it = !WM_TRY(frozen());
        // Frozen, the processes cannot fork children that the list below would miss.
        if (freeze_it) WM_CHECK(set_frozen(true));
        auto list = pids();
        Result<> status;
        if (!list) status = std::unexpected(list.error());
        for (pid_t pid : list ? *list : std::vector<pid_t>{})
            if (::kill(pid, signal) < 0 && errno != ESRCH && status)
                status = sys_error("kill", std::to_string(pid));
        Result<> thawed = freeze_it ? set_frozen(false) : signal == SIGKILL ? thaw_for_kill()
                                                                             : Result<>{};
        if (status && !thawed) status = thawed;
        return status;
    }

    // A task frozen by the v1 freezer takes a SIGKILL only once thawed (the v2 freezer lets
    // fatal signals through), so a paused container is thawed after it, as runc does.
    Result<> thaw_for_kill() {
        auto v1 = dirs_.find("freezer");
        if (v1 == dirs_.end() || !WM_TRY(frozen())) return {};
        return set_frozen(false);
    }

    Result<std::vector<pid_t>> pids() override {
        if (unified_) return unified_->pids();
        for (const char* c : {"freezer", "pids", "memory"})
            if (auto it = dirs_.find(c); it != dirs_.end())
                return read_pids_recursive(it->second, "cgroup.procs");
        if (dirs_.empty()) return fail("list processes", path_, "no cgroup hierarchy", ENODEV);
        return read_pids_recursive(dirs_.begin()->second, "cgroup.procs");
    }

    Result<Stats> stats() override {
        Stats stats;
        read_stats_v1(dirs_, stats);
        if (unified_) {
            std::string dir = unified_->dir();
            stats.cpu_pressure = read_pressure(dir, "cpu.pressure");
            stats.memory_pressure = read_pressure(dir, "memory.pressure");
            stats.io_pressure = read_pressure(dir, "io.pressure");
            if (!dirs_.contains("hugetlb")) read_hugetlb_v2(dir, stats);
        }
        return stats;
    }

    Result<> destroy() override {
        Result<> status;
        auto keep_first = [&](Result<> r) {
            if (status && !r) status = std::move(r);
        };
        for (const auto& dir : distinct_dirs())
            keep_first(remove_cgroup(dir));
        if (unified_) keep_first(unified_->destroy());
        return status;
    }

    std::string path() const override { return path_; }

  private:
    std::set<std::string> distinct_dirs() const {
        std::set<std::string> out;
        for (const auto& [controller, dir] : dirs_)
            out.insert(dir);
        return out;
    }

    bool v2_freezer() const { return unified_ && unified_->can_freeze(); }

    Result<std::string> freezer_dir() const {
        auto it = dirs_.find("freezer");
        if (it == dirs_.end())
            return fail("freeze", path_, "no freezer: neither v1 freezer nor cgroup.freeze",
                        ENODEV);
        return it->second;
    }

    Result<> set_frozen(bool want) {
        auto v1 = dirs_.find("freezer");
        if (v1 == dirs_.end()) {
            if (v2_freezer()) return unified_->set_frozen(want);
            return std::unexpected(freezer_dir().error());
        }
        WM_CHECK(set_freezer_v1(v1->second, want));
        // See frozen(): an earlier wmrun may have frozen the unified tree instead.
        if (!want && v2_freezer() && WM_TRY(unified_->frozen()))
            WM_CHECK(unified_->set_frozen(false));
        return {};
    }

    std::string path_;
    V1Dirs dirs_;
    std::optional<UnifiedDir> unified_;
};

}  // namespace

namespace {

// runc's numbers (libcontainer/cgroups/fs/freezer.go): a v1 cgroup can stay FREEZING while
// processes keep appearing in it (fork, exec joining it), so FROZEN is written again until the
// state settles, and every 50 attempts the cgroup is thawed for 10 ms to let such a burst end.
constexpr int kFreezeAttempts = 1000;
constexpr int kThawEvery = 50;
constexpr auto kThawPause = std::chrono::milliseconds(10);

Result<std::string> freezer_state(const std::string& dir) {
    return read_value(dir, "freezer.state");
}

Result<> freeze_v1(const std::string& dir) {
    auto deadline = std::chrono::steady_clock::now() + kFreezeTimeout;
    auto nap = std::chrono::microseconds(10);
    for (int i = 0; i < kFreezeAttempts; ++i) {
        if (i % kThawEvery == kThawEvery - 1) {
            WM_CHECK(write_value(dir, "freezer.state", "THAWED"));
            std::this_thread::sleep_for(kThawPause);
            nap = std::chrono::microseconds(10);
        }
        WM_CHECK(write_value(dir, "freezer.state", "FROZEN"));
        auto state = WM_TRY(freezer_state(dir));
        if (state == "FROZEN") return {};
        if (state != "FREEZING")
            return fail("freeze", dir + "/freezer.state", "unexpected state " + state);
        if (std::chrono::steady_clock::now() > deadline) break;
        // A task that is running must get a CPU before it can stop: a short nap (10 us doubling
        // to 1 ms) rather than a busy loop, which would take that CPU on a small host.
        std::this_thread::sleep_for(nap);
        nap = std::min(nap * 2, std::chrono::microseconds(1000));
    }
    return fail("freeze", dir + "/freezer.state", "unable to freeze: the state stays FREEZING",
                EBUSY);
}

}  // namespace

Result<> set_freezer_v1(const std::string& dir, bool want) {
    if (!want) {
        WM_CHECK(write_value(dir, "freezer.state", "THAWED"));
        auto state = WM_TRY(freezer_state(dir));
        // FROZEN after a THAWED write: an ancestor is frozen, which this cgroup cannot undo.
        if (state != "THAWED")
            return fail("thaw", dir + "/freezer.state", "state is " + state + " (a parent is frozen)");
        return {};
    }
    auto frozen = freeze_v1(dir);
    // Not left half-frozen: a failed pause leaves the container running.
    if (!frozen) (void)write_value(dir, "freezer.state", "THAWED");
    return frozen;
}

Result<bool> freezer_frozen_v1(const std::string& dir) {
    // As runc's GetState: FREEZING settles (or is undone) within a freeze() call, so it is
    // waited out briefly; FROZEN counts only when this cgroup itself was frozen
    // (freezer.self_freezing), not when it is frozen through a parent.
    for (int i = 0; i < 1000; ++i) {
        auto state = WM_TRY(freezer_state(dir));
        if (state == "THAWED") return false;
        if (state == "FROZEN") {
            auto self = read_value(dir, "freezer.self_freezing");
            return !self || *self != "0";
        }
        if (state != "FREEZING")
            return fail("freezer state", dir + "/freezer.state", "unknown state " + state);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Still FREEZING after a second: the request stands, as a `pause` in progress left it.
    return true;
}

Result<std::unique_ptr<Manager>> create_v1(Layout layout, const std::string& path, bool rootless) {
    auto mounts = WM_TRY(v1_mounts());
    V1Dirs dirs;
    std::set<std::string> done;
    std::vector<std::string> created;
    auto undo = [&] {
        for (const auto& dir : created)
            (void)remove_cgroup(dir);
    };
    for (const auto& [controller, mount_point] : mounts) {
        std::string dir = mount_point + path;
        if (!done.contains(mount_point)) {
            bool existed = ::access(dir.c_str(), F_OK) == 0;
            auto r = controller == "cpuset" ? create_cpuset(mount_point, path) : mkdir_all(dir);
            if (!r && rootless && is_permission_error(r.error())) continue;
            if (!r) {
                undo();
                return std::unexpected(r.error());
            }
            if (!existed) created.push_back(dir);
            done.insert(mount_point);
        }
        dirs[controller] = dir;
    }
    std::optional<UnifiedDir> unified;
    if (layout == Layout::hybrid) {
        UnifiedDir u(kHybridUnifiedRoot, path);
        // Only the core files (freeze, kill, procs) are used here; controllers the host bound
        // to v2 are enabled when a limit needs them.
        auto r = u.create(false);
        if (r) {
            unified = u;
        } else if (!(rootless && is_permission_error(r.error()))) {
            undo();
            return std::unexpected(r.error());
        }
    }
    return std::unique_ptr<Manager>(
        std::make_unique<V1Manager>(path, std::move(dirs), std::move(unified)));
}

Result<std::unique_ptr<Manager>> load_v1(const Json& saved) {
    auto path = saved.value("path", std::string());
    auto dirs_json = saved.value("dirs", Json::object());
    if (path.empty() || !dirs_json.is_object()) return fail("load cgroup", "v1", "missing path");
    V1Dirs dirs;
    for (const auto& [controller, dir] : dirs_json.items()) {
        if (!dir.is_string()) return fail("load cgroup", controller, "directory is not a string");
        dirs[controller] = dir.get<std::string>();
    }
    std::optional<UnifiedDir> unified;
    if (auto root = saved.value("unified_root", std::string()); !root.empty())
        unified.emplace(root, path);
    return std::unique_ptr<Manager>(
        std::make_unique<V1Manager>(path, std::move(dirs), std::move(unified)));
}

}  // namespace wmrun::cgroups::detail
