#include "rootfs/idmap_mounts.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#include "rootfs/mount_options.hpp"
#include "process/procfs.hpp"
#include "rootfs/rootfs.hpp"
#include "process/sync.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json_fields.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::runtime {

namespace {

using json_fields::field_error;
using json_fields::index_path;

// The kernel's limit on the lines of uid_map and gid_map (UID_GID_MAP_MAX_EXTENTS).
constexpr std::size_t kMaxRanges = 340;

bool has_option(const Mount& m, std::string_view opt) {
    return std::find(m.options.begin(), m.options.end(), opt) != m.options.end();
}

bool overlap(std::uint64_t a, std::uint64_t a_size, std::uint64_t b, std::uint64_t b_size) {
    return a < b + b_size && b < a + a_size;
}

// user_namespaces(7): ranges may not overlap on the namespace side nor on the host side.
Result<> check_ranges(const std::vector<IdMapping>& maps, const std::string& field) {
    if (maps.size() > kMaxRanges)
        return field_error(field, fmt::format("at most {} ranges are allowed", kMaxRanges));
    constexpr std::uint64_t kIds = std::uint64_t{1} << 32;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        const IdMapping& m = maps[i];
        std::string at = index_path(field, i);
        if (m.size == 0) return field_error(at + ".size", "must not be zero");
        if (std::uint64_t{m.container_id} + m.size > kIds ||
            std::uint64_t{m.host_id} + m.size > kIds)
            return field_error(at + ".size", "the range goes past the last 32-bit id");
        for (std::size_t j = 0; j < i; ++j) {
            const IdMapping& o = maps[j];
            if (overlap(m.container_id, m.size, o.container_id, o.size))
                return field_error(at + ".containerID",
                                   "overlaps the range of " + index_path(field, j));
            if (overlap(m.host_id, m.size, o.host_id, o.size))
                return field_error(at + ".hostID", "overlaps the range of " + index_path(field, j));
        }
    }
    return {};
}

// Filesystems tied to the namespaces of whoever makes them: made by `wmrun create` they would
// show the host's processes, devices, queues or cgroups. None supports idmapping anyway.
bool namespace_bound(const Mount& m) {
    if (has_option(m, "bind") || has_option(m, "rbind") || m.type == "bind") return false;
    for (const char* type : {"proc", "sysfs", "mqueue", "cgroup", "cgroup2"})
        if (m.type == type) return true;
    return false;
}

std::string map_text(const std::vector<IdMapping>& maps) {
    std::string out;
    for (const auto& m : maps)
        out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    return out;
}

// A child parked in a new user namespace until its maps are written and the namespace is
// opened; it is killed and reaped on every path out.
class ParkedChild {
  public:
    ParkedChild() = default;
    ParkedChild(const ParkedChild&) = delete;
    ParkedChild& operator=(const ParkedChild&) = delete;
    ~ParkedChild() {
        release_.reset();
        if (pid_ <= 0) return;
        sys::pidfd_send_signal(pidfd_.get(), SIGKILL, nullptr, 0);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }

    Result<> start() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) return sys_error("pipe", "user namespace helper");
        UniqueFd hold(p[0]);
        release_.reset(p[1]);
        int pidfd = -1;
        clone_args ca{};
        ca.flags = CLONE_NEWUSER | CLONE_PIDFD;
        ca.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
        ca.exit_signal = SIGCHLD;
        long pid = sys::clone3(&ca, sizeof ca);
        if (pid < 0) return sys_error("clone3", "user namespace helper");
        if (pid == 0) {
            // Only async-signal-safe calls here: wait for the parent to let go, or to die.
            ::close(release_.get());
            char c;
            (void)!::read(hold.get(), &c, 1);
            ::_exit(0);
        }
        pid_ = static_cast<pid_t>(pid);
        pidfd_.reset(pidfd);
        return {};
    }

    std::string pid_dir() const { return std::to_string(pid_); }
    std::string proc_path(const char* file) const { return "/proc/" + pid_dir() + "/" + file; }

  private:
    UniqueFd release_;  // its close wakes the child
    UniqueFd pidfd_;
    pid_t pid_ = 0;
};

// A user namespace fd carrying the mapping. The caller is privileged in the parent
// namespace, so the gid map needs no "setgroups deny" first (user_namespaces(7)).
Result<UniqueFd> user_namespace_for(const std::vector<IdMapping>& uids,
                                    const std::vector<IdMapping>& gids) {
    ParkedChild child;
    WM_CHECK(child.start());
    auto proc = WM_TRY(Procfs::open_host());
    WM_CHECK(proc.write(child.pid_dir() + "/uid_map", map_text(uids)));
    WM_CHECK(proc.write(child.pid_dir() + "/gid_map", map_text(gids)));
    return open_file(child.proc_path("ns/user"), O_RDONLY | O_CLOEXEC);
}

// The container's own user namespace, for mounts that borrow its mapping.
Result<UniqueFd> container_user_namespace(const Spec& spec, pid_t init_pid) {
    for (const auto& ns : spec.linux_->namespaces)
        if (ns.type == NamespaceType::user && !ns.path.empty())
            return open_file(ns.path, O_RDONLY | O_CLOEXEC);
    if (!spec.linux_->has_namespace(NamespaceType::user))
        return fail("idmap", "",
                    "the mount has no uidMappings and the container no user namespace");
    return open_file("/proc/" + std::to_string(init_pid) + "/ns/user", O_RDONLY | O_CLOEXEC);
}

// One user namespace per distinct mapping, and the container's at most once.
class UserNamespaces {
  public:
    UserNamespaces(const Spec& spec, pid_t init_pid) : spec_(spec), init_pid_(init_pid) {}

    Result<int> for_mount(const Mount& m) {
        if (m.uid_mappings.empty()) {
            if (!container_) container_ = WM_TRY(container_user_namespace(spec_, init_pid_));
            return container_.get();
        }
        std::string key = map_text(m.uid_mappings) + "/" + map_text(m.gid_mappings);
        auto it = cache_.find(key);
        if (it == cache_.end())
            it = cache_.emplace(key, WM_TRY(user_namespace_for(m.uid_mappings, m.gid_mappings)))
                     .first;
        return it->second.get();
    }

  private:
    const Spec& spec_;
    pid_t init_pid_;
    UniqueFd container_;
    std::map<std::string, UniqueFd> cache_;
};

// EINVAL from MOUNT_ATTR_IDMAP means the filesystem (or, for ridmap, one of the submounts)
// cannot be idmapped: tmpfs before Linux 6.3, many network and FUSE filesystems, overlay
// upper layers on older kernels.
Result<> set_idmap(int mnt, int userns, bool recursive, const std::string& shown) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<std::uint64_t>(userns);
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if (::mount_setattr(mnt, "", flags, &attr, sizeof attr) == 0) return {};
    if (errno == EINVAL)
        return fail("mount_setattr MOUNT_ATTR_IDMAP", shown,
                    recursive ? "this kernel cannot idmap the filesystem or one of its submounts"
                              : "this kernel cannot idmap the filesystem",
                    EINVAL);
    return sys_error("mount_setattr MOUNT_ATTR_IDMAP", shown);
}

// The mount itself, detached: a clone of the bind source, or a new filesystem instance.
Result<UniqueFd> make_tree(const Mount& m, const MountOptions& opts, const std::string& bundle) {
    if (opts.bind || m.type == "bind") {
        std::string src = bind_source(bundle, m.source);
        auto tree = WM_TRY(clone_tree(AT_FDCWD, src, opts.recursive, src));
        bool rec = opts.recursive || opts.recursive_attrs;
        WM_CHECK(set_mount_attrs(tree.get(), src, opts.attr_set, opts.attr_clr, 0, rec));
        return tree;
    }
    std::string type = m.type == "cgroup" ? "cgroup2" : m.type;
    return new_filesystem(type, m.source, opts, type);
}

Result<UniqueFd> prepare_one(const Mount& m, const std::string& bundle, UserNamespaces& users) {
    MountOptions opts = parse_mount_options(m.options);
    auto tree = WM_TRY(make_tree(m, opts, bundle));
    int userns = WM_TRY(users.for_mount(m));
    WM_CHECK(
        set_idmap(tree.get(), userns, opts.recursive_idmap, m.source.empty() ? m.type : m.source));
    return tree;
}

}  // namespace

bool is_idmapped(const Mount& m) {
    return has_option(m, "idmap") || has_option(m, "ridmap") || !m.uid_mappings.empty() ||
           !m.gid_mappings.empty();
}

Result<> check_idmapped_mounts(const Spec& spec) {
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
        const Mount& m = spec.mounts[i];
        std::string at = index_path("mounts", i);
        if (is_idmapped(m) && namespace_bound(m))
            return field_error(at + ".options", "a " + m.type + " mount cannot be idmapped");
        WM_CHECK(check_ranges(m.uid_mappings, at + ".uidMappings"));
        WM_CHECK(check_ranges(m.gid_mappings, at + ".gidMappings"));
    }
    return {};
}

Result<std::vector<UniqueFd>> prepare_idmapped_mounts(const Spec& spec, const std::string& bundle,
                                                      pid_t init_pid) {
    std::vector<UniqueFd> out;
    UserNamespaces users(spec, init_pid);
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
        if (!is_idmapped(spec.mounts[i])) continue;
        auto tree = prepare_one(spec.mounts[i], bundle, users);
        if (!tree)
            return std::unexpected(
                with_context(std::move(tree).error(), index_path("mounts", i) + ": idmap"));
        out.push_back(std::move(*tree));
    }
    return out;
}

Result<> send_idmapped_mounts(int sock, const std::vector<UniqueFd>& mounts) {
    for (const auto& fd : mounts)
        WM_CHECK(send_fd(sock, fd.get(), "idmapped mount"));
    return {};
}

Result<std::vector<int>> receive_idmapped_mounts(int sock, const Spec& spec) {
    std::vector<int> out(spec.mounts.size(), -1);
    for (std::size_t i = 0; i < spec.mounts.size(); ++i)
        if (is_idmapped(spec.mounts[i])) out[i] = WM_TRY(recv_fd(sock, "idmapped mount"));
    return out;
}

}  // namespace wmrun::runtime
