// The driver for a cgroup v2 (unified) host: one directory holds everything.
#include <signal.h>

#include "drivers.hpp"
#include "unified.hpp"

namespace wmrun::cgroups::detail {

namespace {

class V2Manager final : public Manager {
  public:
    V2Manager(std::string root, std::string path) : path_(path), cg_(std::move(root), path) {}

    Json save() const override {
        return Json{{"driver", "v2"}, {"root", cg_.root()}, {"path", path_}};
    }

    Result<> apply(const Resources& r) override {
        return apply_v2(cg_.dir(), cg_.controllers(), r);
    }

    Result<UniqueFd> clone_into_fd() override { return cg_.open_dir(); }
    Result<> enter(pid_t pid) override { return cg_.enter(pid); }
    Result<> freeze() override { return cg_.set_frozen(true); }
    Result<> thaw() override { return cg_.set_frozen(false); }
    Result<bool> frozen() override { return cg_.frozen(); }

    Result<> kill_all(int signal) override {
        if (signal == SIGKILL && cg_.can_kill()) return cg_.kill();
        bool freeze_it = cg_.can_freeze() && !WM_TRY(cg_.frozen());
        // Frozen, the processes cannot fork children that the list below would miss.
        if (freeze_it) WM_CHECK(cg_.set_frozen(true));
        auto pids = cg_.pids();
        Result<> status;
        if (!pids) status = std::unexpected(pids.error());
        for (pid_t pid : pids ? *pids : std::vector<pid_t>{})
            if (::kill(pid, signal) < 0 && errno != ESRCH && status)
                status = sys_error("kill", std::to_string(pid));
        if (freeze_it) {
            auto thawed = cg_.set_frozen(false);
            if (status && !thawed) status = thawed;
        }
        return status;
    }

    Result<std::vector<pid_t>> pids() override { return cg_.pids(); }
    Result<Reclaimed> reclaim_memory() override { return reclaim_v2(cg_.dir()); }

    Result<Stats> stats() override {
        Stats stats;
        read_stats_v2(cg_.dir(), stats);
        return stats;
    }

    Result<> destroy() override { return cg_.destroy(); }
    std::string path() const override { return path_; }

  private:
    std::string path_;
    UnifiedDir cg_;
};

}  // namespace

Result<std::unique_ptr<Manager>> create_v2(const std::string& root, const std::string& path) {
    auto m = std::make_unique<V2Manager>(root, path);
    WM_CHECK(UnifiedDir(root, path).create(true));
    return std::unique_ptr<Manager>(std::move(m));
}

Result<std::unique_ptr<Manager>> load_v2(const Json& saved) {
    auto root = saved.value("root", std::string());
    auto path = saved.value("path", std::string());
    if (root.empty() || path.empty()) return fail("load cgroup", "v2", "missing root or path");
    return std::unique_ptr<Manager>(std::make_unique<V2Manager>(root, path));
}

}  // namespace wmrun::cgroups::detail
