// The systemd driver (--systemd-cgroup), as runc's: systemd makes the container's cgroup as a
// transient scope with Delegate=yes and holds the limits it has unit properties for; the
// cgroupfs driver of the host's layout does the rest inside the delegated cgroup (every limit
// file, the device filter, freezing, stats, kill). The scope needs a process to exist, so the
// cgroup is made when the init is entered, not before its clone.
#include <cerrno>

#include "drivers.hpp"
#include "layout.hpp"
#include "wmrun/base/log.hpp"
#include "systemd_bus.hpp"
#include "systemd_devices.hpp"
#include "systemd_unit.hpp"

namespace wmrun::cgroups::detail {

namespace {

Result<std::vector<UnitProperty>> all_properties(const Resources& r) {
    auto properties = WM_TRY(unit_properties(r));
    if (!r.devices.empty()) {
        auto devices = device_properties(r.devices, WM_TRY(read_device_groups()));
        properties.insert(properties.end(), devices.begin(), devices.end());
    }
    return properties;
}

class SystemdManager final : public Manager {
  public:
    SystemdManager(SystemdUnit unit, Layout layout, bool rootless, SystemdBus bus)
        : unit_(std::move(unit)), layout_(layout), rootless_(rootless), bus_(std::move(bus)) {}
    SystemdManager(SystemdUnit unit, bool rootless, std::unique_ptr<Manager> fs)
        : unit_(std::move(unit)), rootless_(rootless), fs_(std::move(fs)) {}

    Json save() const override {
        return Json{{"driver", "systemd"},   {"slice", unit_.slice},
                    {"unit", unit_.unit},    {"path", unit_.path},
                    {"rootless", rootless_}, {"cgroupfs", fs_ ? fs_->save() : Json()}};
    }

    // Before the unit exists (create), the limits wait for enter(); after, they go to systemd
    // first and then, all of them, to the files, as runc's Set does. The files are all or
    // nothing (the cgroupfs driver puts back what it wrote when a write fails); so that the
    // unit agrees with them, its properties are put back too.
    Result<> apply(const Resources& r) override {
        auto properties = WM_TRY(all_properties(r));
        if (!fs_) {
            pending_ = r;
            return {};
        }
        auto* bus = WM_TRY(this->bus());
        auto before = WM_TRY(bus->get_properties(unit_.unit, properties));
        WM_CHECK(bus->set_properties(unit_.unit, properties));
        auto applied = fs_->apply(r);
        if (!applied) {
            if (auto undone = bus->set_properties(unit_.unit, before); !undone)
                log::warn("systemd cgroup: could not put back the properties of " + unit_.unit +
                          ": " + undone.error().message());
        }
        return applied;
    }

    Result<UniqueFd> clone_into_fd() override {
        if (fs_) return fs_->clone_into_fd();
        return UniqueFd();  // clone, then enter(pid) makes the unit around it
    }

    Result<> enter(pid_t pid) override {
        if (fs_) return fs_->enter(pid);
        auto properties = WM_TRY(all_properties(pending_));
        WM_CHECK(
            WM_TRY(bus())->start_unit(unit_, pid, "wmrun container " + unit_.unit, properties));
        auto fs = layout_ == Layout::unified ? create_v2(kCgroupRoot, unit_.path)
                                             : create_v1(layout_, unit_.path, rootless_);
        if (!fs) return std::unexpected(fs.error());
        fs_ = std::move(*fs);
        // A scope already holds the pid; a slice does not, and the v1 controllers systemd does
        // not manage need it too.
        WM_CHECK(fs_->enter(pid));
        return fs_->apply(pending_);
    }

    Result<> freeze() override { return WM_TRY(fs())->freeze(); }
    Result<> thaw() override { return WM_TRY(fs())->thaw(); }
    Result<bool> frozen() override { return WM_TRY(fs())->frozen(); }
    Result<> kill_all(int signal) override {
        auto killed = WM_TRY(fs())->kill_all(signal);
        // systemd removes a scope's cgroup once its last process has exited: nothing to kill.
        if (!killed && killed.error().err == ENOENT) return {};
        return killed;
    }
    Result<std::vector<pid_t>> pids() override { return WM_TRY(fs())->pids(); }
    Result<Stats> stats() override { return WM_TRY(fs())->stats(); }
    Result<Reclaimed> reclaim_memory() override { return WM_TRY(fs())->reclaim_memory(); }

    // Stopping the scope kills what is left in it and removes its cgroup; the cgroupfs part
    // then removes whatever systemd did not (child cgroups the container made, v1 paths).
    Result<> destroy() override {
        WM_CHECK(WM_TRY(bus())->stop_unit(unit_.unit));
        return fs_ ? fs_->destroy() : Result<>{};
    }

    std::string path() const override { return unit_.path; }

  private:
    Result<SystemdBus*> bus() {
        if (!bus_) bus_ = WM_TRY(SystemdBus::connect(rootless_));
        return &*bus_;
    }
    Result<Manager*> fs() {
        if (!fs_) return fail("cgroup", unit_.unit, "the unit has not been started");
        return fs_.get();
    }

    SystemdUnit unit_;
    Layout layout_ = Layout::unified;
    bool rootless_ = false;
    std::optional<SystemdBus> bus_;
    std::unique_ptr<Manager> fs_;  // the cgroupfs driver on the unit's cgroup
    Resources pending_;
};

}  // namespace

Result<std::unique_ptr<Manager>> create_systemd(const Config& config) {
    auto unit = WM_TRY(systemd_unit(config));
    auto layout = WM_TRY(detect_layout());
    // Connecting now makes a host without systemd fail before anything is cloned.
    auto bus = WM_TRY(SystemdBus::connect(config.rootless));
    return std::unique_ptr<Manager>(
        std::make_unique<SystemdManager>(std::move(unit), layout, config.rootless, std::move(bus)));
}

Result<std::unique_ptr<Manager>> load_systemd(const Json& saved) {
    SystemdUnit unit{saved.value("slice", std::string()), saved.value("unit", std::string()),
                     saved.value("path", std::string())};
    if (unit.unit.empty() || unit.path.empty())
        return fail("load cgroup", "systemd", "missing unit or path");
    std::unique_ptr<Manager> fs;
    if (auto inner = saved.find("cgroupfs"); inner != saved.end() && !inner->is_null())
        fs = WM_TRY(Manager::load(*inner));
    return std::unique_ptr<Manager>(std::make_unique<SystemdManager>(
        std::move(unit), saved.value("rootless", false), std::move(fs)));
}

}  // namespace wmrun::cgroups::detail
