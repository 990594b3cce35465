// update: new limits for a live container's cgroup, as runc's `update`.
#include "lifecycle/cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/cgroups/resources.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

Result<> update_container(const GlobalOptions& g, const std::string& id, const Json& resources) {
    // Parse before locking so a bad document fails without touching the container.
    auto parsed = WM_TRY(cgroups::parse_resources(resources, "resources"));
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    Status status = current_status(store, state);
    if (status == Status::stopped || status == Status::creating)
        return fail("check container", id, std::string("container is ") + status_name(status));
    auto h = CgroupHandle::load(state);
    if (!h.valid()) return fail("check container", id, "container has no cgroup", ENOTSUP);
    if (auto r = h.manager()->apply(parsed); !r)
        return std::unexpected(with_context(r.error(), "update " + id));
    return {};
}

}  // namespace wmrun::runtime
