// The driver for hybrid and legacy hosts: a directory per v1 hierarchy, plus (hybrid) one in
// the unified tree, which gives the v2 freezer, cgroup.kill and a reliable process list.
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
        if (v2_freezer()) return unified_->frozen();
        return freezer_frozen_v1(WM_TRY(freezer_dir()));
    }

    Result<> kill_all(int signal) override {
        if (signal == SIGKILL && unified_ && unified_->can_kill()) return unified_->kill();
        bool freeze_it = !WM_TRY(frozen());
        // Frozen, the processes cannot fork children that the list below would miss.
        if (freeze_it) WM_CHECK(set_frozen(true));
        auto list = pids();
        Result<> status;
        if (!list) status = std::unexpected(list.error());
        for (pid_t pid : list ? *list : std::vector<pid_t>{})
            if (::kill(pid, signal) < 0 && errno != ESRCH && status)
                status = sys_error("kill", std::to_string(pid));
        if (freeze_it) {
            auto thawed = set_frozen(false);
            if (status && !thawed) status = thawed;
        }
        return status;
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
        if (v2_freezer()) return unified_->set_frozen(want);
        return set_freezer_v1(WM_TRY(freezer_dir()), want);
    }

    std::string path_;
    V1Dirs dirs_;
    std::optional<UnifiedDir> unified_;
};

}  // namespace

Result<> set_freezer_v1(const std::string& dir, bool want) {
    const char* target = want ? "FROZEN" : "THAWED";
    WM_CHECK(write_value(dir, "freezer.state", target));
    auto delay = std::chrono::microseconds(10);
    auto deadline = std::chrono::steady_clock::now() + kFreezeTimeout;
    for (;;) {
        if (WM_TRY(read_value(dir, "freezer.state")) == target) return {};
        if (std::chrono::steady_clock::now() > deadline) {
            if (want) (void)write_value(dir, "freezer.state", "THAWED");
            return fail(want ? "freeze" : "thaw", dir, "timed out waiting for freezer.state",
                        ETIMEDOUT);
        }
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::microseconds(1000));
    }
}

Result<bool> freezer_frozen_v1(const std::string& dir) {
    // FREEZING counts as frozen: the request stands, as `pause` left it.
    return WM_TRY(read_value(dir, "freezer.state")) != "THAWED";
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
