#include "rootfs/cgroup_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "process/procfs.hpp"
#include "rootfs/rootfs.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::runtime {

namespace {

struct CgroupView {
    std::vector<cgroups::Hierarchy> hierarchies;
    std::map<std::string, std::string> own;  // parse_proc_cgroup of the init
    bool read_only = true;
    bool own_namespace = false;
};

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<> attach_at(int mnt, int target, const std::string& shown) {
    if (::move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sys_error("move_mount", shown);
    return {};
}

// The container's own cgroup in one hierarchy, bound from the host's mount of it. Its path
// comes from the init's /proc/self/cgroup, which names it from the hierarchy's root.
Result<UniqueFd> bind_own(const CgroupView& v, const cgroups::Hierarchy& h,
                          const std::string& shown) {
    std::string key = h.v2 ? "" : h.controllers.front();
    auto it = v.own.find(key);
    if (it == v.own.end() || it->second.find("/..") != std::string::npos)
        return fail("mount cgroup", shown, "no cgroup of the container's own in " + h.mount_point);
    return clone_tree(AT_FDCWD, h.mount_point + it->second, false, shown);
}

// A fresh instance of one hierarchy: its root is the cgroup namespace's, the container's own.
Result<UniqueFd> fresh(const cgroups::Hierarchy& h, const std::string& shown) {
    MountOptions o;
    if (h.v2) return new_filesystem("cgroup2", "cgroup", o, shown);
    bool named_only = true;
    for (const auto& c : h.controllers) {
        if (c.starts_with("name=")) {
            o.data.emplace_back("name", c.substr(5));
        } else {
            o.data.emplace_back(c, "");
            named_only = false;
        }
    }
    if (named_only) o.data.emplace_back("none", "");
    return new_filesystem("cgroup", "cgroup", o, shown);
}

Result<UniqueFd> one_hierarchy(const CgroupView& v, const cgroups::Hierarchy& h,
                               const std::string& shown) {
    if (v.own_namespace) {
        auto made = fresh(h, shown);
        // A user namespace may mount a v1 hierarchy only never, and cgroup2 only with a cgroup
        // namespace of its own: the container's own directory is bound instead.
        if (made || (made.error().err != EPERM && made.error().err != EACCES)) return made;
    }
    return bind_own(v, h, shown);
}

Result<> seal(int mnt, const std::string& shown, bool read_only) {
    unsigned long long attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (read_only) attrs |= MOUNT_ATTR_RDONLY;
    return set_mount_attrs(mnt, shown, attrs, 0, 0, false);
}

// hybrid and v1: a tmpfs with a directory per hierarchy, named as the host names it, and a
// symlink per controller of a co-mounted one (cpu -> cpu,cpuacct). The tmpfs is attached at
// its place before the hierarchies go into it: kernels before 6.15 (Debian 12's 6.1) refuse
// move_mount onto a mount that is not yet attached (EINVAL). It is sealed read-only last.
Result<> mount_tree(const CgroupView& v, int target, const std::string& dest) {
    MountOptions t;
    t.data.emplace_back("mode", "755");
    t.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    auto tmpfs = WM_TRY(new_filesystem("tmpfs", "tmpfs", t, dest));
    for (const auto& h : v.hierarchies) {
        std::string name = base_name(h.mount_point);
        if (::mkdirat(tmpfs.get(), name.c_str(), 0755) < 0)
            return sys_error("mkdir", dest + "/" + name);
        if (h.controllers.size() < 2) continue;
        for (const auto& c : h.controllers) {
            if (c == name || c.starts_with("name=")) continue;
            if (::symlinkat(name.c_str(), tmpfs.get(), c.c_str()) < 0 && errno != EEXIST)
                return sys_error("symlink", dest + "/" + c);
        }
    }
    WM_CHECK(attach_at(tmpfs.get(), target, dest));
    for (const auto& h : v.hierarchies) {
        std::string name = base_name(h.mount_point);
        std::string shown = dest + "/" + name;
        UniqueFd dir(::openat(tmpfs.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW |
                                                             O_CLOEXEC));
        if (!dir) return sys_error("open", shown);
        auto mnt = WM_TRY(one_hierarchy(v, h, shown));
        WM_CHECK(seal(mnt.get(), shown, v.read_only));
        WM_CHECK(attach_at(mnt.get(), dir.get(), shown));
    }
    return seal(tmpfs.get(), dest, v.read_only);
}

}  // namespace

Result<> mount_cgroups(int target, const std::string& dest, const MountOptions& opts,
                       bool own_namespace, bool v2_only) {
    CgroupView v;
    v.own_namespace = own_namespace;
    v.read_only = !(opts.attr_clr & MOUNT_ATTR_RDONLY);
    v.hierarchies = WM_TRY(cgroups::host_hierarchies());
    auto proc = WM_TRY(Procfs::open());
    auto file = WM_TRY(proc.open_file("self/cgroup", O_RDONLY));
    v.own = cgroups::parse_proc_cgroup(WM_TRY(read_fd(file.get(), "/proc/self/cgroup")));
    if (v2_only) std::erase_if(v.hierarchies, [](const auto& h) { return !h.v2; });
    if (v.hierarchies.empty())
        return fail("mount cgroup2", dest, "this host has no cgroup v2 hierarchy", ENODEV);
    if (v.hierarchies.size() == 1 && v.hierarchies.front().v2) {
        auto mnt = WM_TRY(one_hierarchy(v, v.hierarchies.front(), dest));
        WM_CHECK(seal(mnt.get(), dest, v.read_only));
        return attach_at(mnt.get(), target, dest);
    }
    return mount_tree(v, target, dest);
}

}  // namespace wmrun::runtime
