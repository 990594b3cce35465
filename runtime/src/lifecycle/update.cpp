// update: new limits for a live container's cgroup, as runc's `update`.
#include "lifecycle/cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/cgroups/resources.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

// runc fills what an update leaves out from the container's config. It shows in one place: a
// swap figure given alone (`update --memory-swap`), which cgroup v2 turns into memory.swap.max
// as memory+swap minus the memory limit. The limit is then the one the cgroup has now; an
// unlimited memory keeps the refusal ("a swap limit needs a memory limit").
// Without a reading the update goes on as given (v1 takes a swap figure alone).
void complete_swap(cgroups::Manager& manager, cgroups::Resources& r) {
    if (!r.memory || r.memory->limit || r.memory->swap.value_or(0) <= 0) return;
    auto stats = manager.stats();
    if (stats && stats->memory.limit != 0)
        r.memory->limit = static_cast<std::int64_t>(stats->memory.limit);
}

}  // namespace

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
    complete_swap(*h.manager(), parsed);
    if (auto r = h.manager()->apply(parsed); !r)
        return std::unexpected(with_context(r.error(), "update " + id));
    return {};
}

}  // namespace wmrun::runtime
