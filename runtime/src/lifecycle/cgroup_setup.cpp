#include "lifecycle/cgroup_setup.hpp"

#include "lifecycle/status_probe.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/cgroups/devices.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::runtime {

CgroupHandle::CgroupHandle() = default;
CgroupHandle::CgroupHandle(CgroupHandle&&) noexcept = default;
CgroupHandle& CgroupHandle::operator=(CgroupHandle&&) noexcept = default;
CgroupHandle::~CgroupHandle() = default;

namespace {

// runc's device rules: those of config.json, then the default allow list (null, zero, tty,
// pts, ...), then every device the container gets in /dev.
std::vector<cgroups::DeviceRule> device_rules(const Spec& spec) {
    std::vector<cgroups::DeviceRule> rules;
    if (spec.linux_->resources) rules = spec.linux_->resources->devices;
    for (const auto& r : cgroups::default_device_rules())
        if (r.allow) rules.push_back(r);
    for (const auto& d : spec.linux_->devices) {
        if (d.type == 'p') continue;
        rules.push_back({true, d.type == 'b' ? 'b' : 'c', d.major, d.minor, "rwm"});
    }
    return rules;
}

bool asks_for_limits(const Spec& spec) {
    if (!spec.linux_->resources) return false;
    cgroups::Resources r = *spec.linux_->resources;
    r.devices.clear();
    return r.memory || r.cpu || r.pids || r.block_io || !r.hugepage_limits.empty() || r.network ||
           !r.rdma.empty() || !r.unified.empty();
}

}  // namespace

Result<CgroupHandle> CgroupHandle::create(const GlobalOptions& g, const Spec& spec,
                                          const std::string& id) {
    CgroupHandle h;
    cgroups::Config config{spec.linux_->cgroups_path, id, g.systemd_cgroup, g.rootless};
    auto manager = cgroups::Manager::create(config);
    if (!manager) {
        // An unprivileged user without a delegated cgroup runs without one, as runc does,
        // unless config.json asks for limits that only a cgroup can give.
        int e = manager.error().err;
        if (g.rootless && (e == EACCES || e == EPERM || e == EROFS) && !asks_for_limits(spec)) {
            log::debug("rootless: no cgroup: " + manager.error().message());
            return h;
        }
        return std::unexpected(with_context(manager.error(), "create cgroup"));
    }
    // A cgroup that exists already and is frozen (another container's: the default path is
    // wmrun/<id> under every state root) would freeze our init where it stands, and create
    // would hang for good. Refused as runc refuses it, and left as it is: it is not ours.
    if (auto frozen = (*manager)->frozen(); frozen && *frozen)
        return fail("create cgroup", (*manager)->path(), "container's cgroup unexpectedly frozen",
                    EBUSY);
    h.manager_ = std::move(*manager);
    cgroups::Resources resources = spec.linux_->resources.value_or(cgroups::Resources{});
    resources.devices = device_rules(spec);
    if (auto r = h.manager_->apply(resources); !r) {
        h.destroy();
        return std::unexpected(with_context(r.error(), "apply cgroup limits"));
    }
    return h;
}

CgroupHandle CgroupHandle::load(const ContainerState& state) {
    CgroupHandle h;
    if (state.cgroup.is_null()) return h;
    if (auto m = cgroups::Manager::load(state.cgroup)) h.manager_ = std::move(*m);
    return h;
}

UniqueFd CgroupHandle::clone_into_fd() {
    if (!manager_) return UniqueFd();
    auto fd = manager_->clone_into_fd();
    return fd ? std::move(*fd) : UniqueFd();
}

Result<> CgroupHandle::enter(pid_t pid) {
    if (!manager_) return {};
    return manager_->enter(pid);
}

Json CgroupHandle::save() const {
    return manager_ ? manager_->save() : Json();
}

void CgroupHandle::destroy() {
    if (!manager_) return;
    if (auto r = manager_->destroy(); !r) log::warn("destroy cgroup: " + r.error().message());
}

bool is_frozen(const ContainerState& state) {
    auto h = CgroupHandle::load(state);
    if (!h.valid()) return false;
    auto f = h.manager()->frozen();
    return f && *f;
}

}  // namespace wmrun::runtime
