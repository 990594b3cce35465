// pause and resume: the cgroup freezer, with the state checks runc makes.
#include "cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

Result<CgroupHandle> cgroup_of(const StateStore& store, const ContainerState& s, Status want,
                               const char* verb) {
    Status status = current_status(store, s);
    if (status != want) return fail(verb, s.id, std::string("container is ") + status_name(status));
    auto h = CgroupHandle::load(s);
    if (!h.valid()) return fail(verb, s.id, "container has no cgroup", ENOTSUP);
    return h;
}

}  // namespace

Result<> pause_container(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    auto h = WM_TRY(cgroup_of(store, state, Status::running, "pause"));
    return h.manager()->freeze();
}

Result<> resume_container(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    auto h = WM_TRY(cgroup_of(store, state, Status::paused, "resume"));
    return h.manager()->thaw();
}

}  // namespace wmrun::runtime
