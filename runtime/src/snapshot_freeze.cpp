// What `snapshot create <container>` reads, and the freeze it holds while reading changed files.
#include <sys/stat.h>

#include "cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

class CgroupFreeze final : public FreezeGuard {
  public:
    CgroupFreeze(ContainerLock lock, CgroupHandle cgroup)
        : lock_(std::move(lock)), cgroup_(std::move(cgroup)), froze_(cgroup_.valid()) {}
    ~CgroupFreeze() override { (void)thaw(); }
    bool frozen_by_us() const override { return froze_; }
    Result<> thaw() override {
        if (!cgroup_.valid()) return {};
        auto done = cgroup_.manager()->thaw();
        cgroup_ = CgroupHandle();  // once: a failed thaw is reported, not retried in the dtor
        return done;
    }

  private:
    ContainerLock lock_;
    CgroupHandle cgroup_;  // empty once thawed
    bool froze_;
};

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
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
    CgroupHandle cgroup;
    if (current_status(store, state) == Status::running) {
        cgroup = CgroupHandle::load(state);
        if (!cgroup.valid())
            return fail("freeze for snapshot", id, "container has no cgroup", ENOTSUP);
        WM_CHECK(cgroup.manager()->freeze());
    }
    return std::make_unique<CgroupFreeze>(std::move(lock), std::move(cgroup));
}

}  // namespace wmrun::runtime
