// pause, resume, hibernate, wake: the cgroup freezer, with the state checks runc makes.
#include <algorithm>
#include <chrono>

#include <unistd.h>

#include "lifecycle/cgroup_setup.hpp"
#include "volumes/snapshot_freeze.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

// The freeze or thaw is the user's from now on: a snapshot killed while it held the container
// frozen must not have its marker thaw a pause that came after.
void forget_snapshot_freeze(const StateStore& store, const std::string& id) {
    ::unlink((store.dir(id) + "/" + kSnapshotFreezeMarker).c_str());
    ::unlink((store.dir(id) + "/" + kMigrateUnconfirmedMarker).c_str());
}

Result<CgroupHandle> cgroup_of(const StateStore& store, const ContainerState& s,
                               std::initializer_list<Status> want, const char* verb) {
    Status status = current_status(store, s);
    if (std::find(want.begin(), want.end(), status) == want.end())
        return fail(verb, s.id, std::string("container is ") + display_status(s, status));
    auto h = CgroupHandle::load(s);
    if (!h.valid()) return fail(verb, s.id, "container has no cgroup", ENOTSUP);
    return h;
}

Result<> thaw(const GlobalOptions& g, const std::string& id, const char* verb) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    auto h = WM_TRY(cgroup_of(store, state, {Status::paused}, verb));
    auto begin = std::chrono::steady_clock::now();
    WM_CHECK(h.manager()->thaw());
    forget_snapshot_freeze(store, id);
    if (!state.hibernated) return {};
    record_wake(state, std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
                           .count());
    return store.save(state);
}

}  // namespace

Result<> pause_container(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    auto h = WM_TRY(cgroup_of(store, state, {Status::running}, "pause"));
    WM_CHECK(h.manager()->freeze());
    forget_snapshot_freeze(store, id);
    return {};
}

Result<> resume_container(const GlobalOptions& g, const std::string& id) {
    return thaw(g, id, "resume");
}

Result<Hibernation> hibernate_container(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    auto h = WM_TRY(cgroup_of(store, state, {Status::running, Status::paused}, "hibernate"));
    // Frozen first: a running process would fault its pages straight back in.
    WM_CHECK(h.manager()->freeze());
    forget_snapshot_freeze(store, id);
    Hibernation out;
    auto reclaimed = h.manager()->reclaim_memory();
    if (reclaimed) {
        out = {reclaimed->before, reclaimed->after, true};
    } else if (reclaimed.error().err == ENOTSUP) {
        log::debug(reclaimed.error().message());
    } else {
        return std::unexpected(reclaimed.error());
    }
    mark_hibernated(state);
    WM_CHECK(store.save(state));
    return out;
}

Result<> wake_container(const GlobalOptions& g, const std::string& id) {
    return thaw(g, id, "wake");
}

}  // namespace wmrun::runtime
