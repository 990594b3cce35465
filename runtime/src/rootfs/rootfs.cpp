#include "rootfs/rootfs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#include "rootfs/cgroup_mount.hpp"
#include "rootfs/devices.hpp"
#include "rootfs/mount_options.hpp"
#include "process/process_setup.hpp"
#include "process/security_label.hpp"
#include "process/sysctl.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/path.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::runtime {

namespace {

// The kernel explains fsconfig failures in messages read from the fs context fd.
std::string fs_context_messages(int fsfd) {
    std::string out;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
        if (n <= 0) break;
        buf[n] = '\0';
        std::string line(buf);
        if (line.size() > 2 && line[1] == ' ') line = line.substr(2);
        if (!out.empty()) out += "; ";
        out += line;
    }
    return out;
}

}  // namespace

Result<> set_mount_attrs(int fd, const std::string& shown, unsigned long long set,
                         unsigned long long clr, unsigned long long propagation, bool recursive) {
    if (set == 0 && clr == 0 && propagation == 0) return {};
    mount_attr attr{};
    attr.attr_set = set;
    attr.attr_clr = clr;
    attr.propagation = propagation;
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if (::mount_setattr(fd, "", flags, &attr, sizeof attr) < 0)
        return sys_error("mount_setattr", shown);
    return {};
}

Result<UniqueFd> new_filesystem(const std::string& type, const std::string& source,
                                const MountOptions& opts, const std::string& shown,
                                const std::vector<std::pair<std::string, int>>& fd_params) {
    UniqueFd fs(::fsopen(type.c_str(), FSOPEN_CLOEXEC));
    if (!fs) return sys_error("fsopen " + type, shown);
    auto config = [&](unsigned cmd, const char* key, const char* value, int aux = 0) -> Result<> {
        if (::fsconfig(fs.get(), cmd, key, value, aux) < 0) {
            int e = errno;
            std::string why = fs_context_messages(fs.get());
            why = why.empty() ? errno_text(e) : why + " (" + errno_text(e) + ")";
            std::string what = std::string("mount ") + type + (key ? std::string(" ") + key : "");
            return fail(what, shown, why, e);
        }
        return {};
    };
    if (!source.empty()) WM_CHECK(config(FSCONFIG_SET_STRING, "source", source.c_str()));
    for (const auto& [key, value] : opts.data) {
        if (value.empty())
            WM_CHECK(config(FSCONFIG_SET_FLAG, key.c_str(), nullptr));
        else
            WM_CHECK(config(FSCONFIG_SET_STRING, key.c_str(), value.c_str()));
    }
    for (const auto& flag : opts.sb_flags)
        WM_CHECK(config(FSCONFIG_SET_FLAG, flag.c_str(), nullptr));
    for (const auto& [key, fd] : fd_params)
        WM_CHECK(config(FSCONFIG_SET_FD, key.c_str(), nullptr, fd));
    WM_CHECK(config(FSCONFIG_CMD_CREATE, nullptr, nullptr));
    UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, static_cast<unsigned>(opts.attr_set)));
    if (!mnt) return sys_error("fsmount " + type, shown);
    return mnt;
}

Result<UniqueFd> clone_tree(int dirfd, const std::string& path, bool recursive,
                            const std::string& shown) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    if (path.empty()) flags |= AT_EMPTY_PATH;
    UniqueFd tree(::open_tree(dirfd, path.c_str(), flags));
    if (!tree) return sys_error("open_tree", shown);
    return tree;
}

std::string bind_source(const std::string& bundle, const std::string& source) {
    if (!source.empty() && source[0] == '/') return source;
    return bundle + "/" + source;
}

namespace {

Result<UniqueFd> attach(UniqueFd mnt, int target_fd, const std::string& shown) {
    if (::move_mount(mnt.get(), "", target_fd, "",
                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sys_error("move_mount", shown);
    return mnt;
}

// /proc and /sys must be real directories: a symlink in the image there would move the mount
// somewhere the hardening of masked paths does not reach (CVE-2019-19921 class).
Result<> refuse_symlink(int rootfd, const std::string& dest) {
    std::string rel = clean_relative(dest);
    int fd = sys::openat2(rootfd, rel.c_str(), O_PATH | O_CLOEXEC, 0,
                          RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
    if (fd < 0 && errno == ELOOP)
        return fail("mount", dest, "destination is a symlink in the rootfs", ELOOP);
    if (fd >= 0) ::close(fd);
    return {};
}

// A mount `wmrun create` made already (idmapped): only its place in the rootfs is left.
Result<UniqueFd> attach_prepared(int rootfd, UniqueFd mnt, const std::string& dest) {
    struct stat st {};
    if (::fstat(mnt.get(), &st) < 0) return sys_error("stat prepared mount", dest);
    auto target = WM_TRY(ensure_in_root(rootfd, dest, S_ISDIR(st.st_mode)));
    return attach(std::move(mnt), target.get(), dest);
}

Result<> mount_one(const RootfsContext& ctx, int rootfd, std::size_t index) {
    const Mount& m = ctx.spec->mounts[index];
    const std::string& dest = m.destination;
    MountOptions opts = parse_mount_options(m.options);
    bool bind = opts.bind || m.type == "bind";
    std::string type = m.type;

    if (type == "proc" || type == "sysfs") WM_CHECK(refuse_symlink(rootfd, dest));

    UniqueFd mnt;
    if (index < ctx.prepared.size() && ctx.prepared[index] >= 0) {
        mnt = WM_TRY(attach_prepared(rootfd, UniqueFd(ctx.prepared[index]), dest));
    } else if (bind) {
        std::string src = bind_source(ctx.bundle, m.source);
        struct stat st {};
        if (::stat(src.c_str(), &st) < 0) return sys_error("stat bind source", src);
        auto target = WM_TRY(ensure_in_root(rootfd, dest, S_ISDIR(st.st_mode)));
        mnt = WM_TRY(clone_tree(AT_FDCWD, src, opts.recursive, dest));
        bool rec = opts.recursive || opts.recursive_attrs;
        WM_CHECK(set_mount_attrs(mnt.get(), dest, opts.attr_set, opts.attr_clr, 0, rec));
        mnt = WM_TRY(attach(std::move(mnt), target.get(), dest));
    } else if (type == "cgroup" || type == "cgroup2") {
        auto target = WM_TRY(ensure_in_root(rootfd, dest, true));
        WM_CHECK(mount_cgroups(target.get(), dest, opts,
                               ctx.spec->linux_->has_namespace(NamespaceType::cgroup),
                               type == "cgroup2"));
        return {};
    } else {
        auto target = WM_TRY(ensure_in_root(rootfd, dest, true));
        if (auto label = mount_label_option(type, ctx.spec->linux_->mount_label); !label.empty())
            opts.data.emplace_back("context", label);
        auto made = type == "proc" && ctx.pid_ns_fd >= 0
                        ? new_proc_for(ctx.pid_ns_fd, m.source, opts, dest)
                        : new_filesystem(type, m.source, opts, dest);
        bool refused = !made && (made.error().err == EPERM || made.error().err == EACCES);
        if (refused && ctx.user_namespace) {
            // A user namespace may not mount sysfs without owning the network namespace, nor
            // mqueue without owning the IPC namespace; runc binds the host's instead
            // (read-only for sysfs).
            const char* host = type == "sysfs"    ? "/sys"
                               : type == "mqueue" ? "/dev/mqueue"
                                                  : nullptr;
            if (host != nullptr) {
                log::debug(fmt::format("{} mount refused; binding the host's {}", type, host));
                made = clone_tree(AT_FDCWD, host, true, dest);
                unsigned long long ro = type == "mqueue" ? 0 : MOUNT_ATTR_RDONLY;
                if (made)
                    WM_CHECK(set_mount_attrs(
                        made->get(), dest,
                        ro | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0, true));
            }
        }
        if (!made && type == "devpts" && made.error().err == EINVAL) {
            // gid=5 is not mapped in every user namespace; runc retries without it.
            MountOptions retry = opts;
            std::erase_if(retry.data, [](const auto& kv) { return kv.first == "gid"; });
            made = new_filesystem(type, m.source, retry, dest);
        }
        if (!made) return std::unexpected(made.error());
        mnt = WM_TRY(attach(std::move(*made), target.get(), dest));
    }
    if (opts.propagation != 0)
        WM_CHECK(
            set_mount_attrs(mnt.get(), dest, 0, 0, opts.propagation, opts.propagation_recursive));
    return {};
}

Result<> mask_path(int rootfd, const std::string& path) {
    auto target = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW);
    if (!target) {
        if (target.error().err == ENOENT) return {};
        return std::unexpected(target.error());
    }
    struct stat st {};
    if (::fstat(target->get(), &st) < 0) return sys_error("stat", path);
    UniqueFd mnt;
    if (S_ISDIR(st.st_mode)) {
        MountOptions opts;
        opts.attr_set =
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        opts.data.emplace_back("size", "0");
        mnt = WM_TRY(new_filesystem("tmpfs", "tmpfs", opts, path));
    } else {
        // The host's /dev/null: a symlink planted at the container's /dev/null cannot divert
        // it (CVE-2025-31133 class).
        mnt = WM_TRY(clone_tree(AT_FDCWD, "/dev/null", false, path));
    }
    WM_CHECK(attach(std::move(mnt), target->get(), path));
    return {};
}

Result<> readonly_path(int rootfd, const std::string& path) {
    auto target = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW);
    if (!target) {
        if (target.error().err == ENOENT) return {};
        return std::unexpected(target.error());
    }
    auto mnt = WM_TRY(clone_tree(target->get(), "", true, path));
    WM_CHECK(set_mount_attrs(
        mnt.get(), path,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0, true));
    WM_CHECK(attach(std::move(mnt), target->get(), path));
    return {};
}

unsigned long propagation_flag(const std::string& name) {
    if (name == "shared") return MS_SHARED | MS_REC;
    if (name == "slave") return MS_SLAVE | MS_REC;
    if (name == "private") return MS_PRIVATE | MS_REC;
    if (name == "unbindable") return MS_UNBINDABLE | MS_REC;
    return 0;
}

}  // namespace

Result<> enter_rootfs(const RootfsContext& ctx) {
    if (::chdir(ctx.rootfs.c_str()) < 0) return sys_error("chdir", ctx.rootfs);
    if (!ctx.own_mount_namespace) {
        // runc and crun chroot here too: pivot_root would move the host's root.
        if (::chroot(".") < 0) return sys_error("chroot", ctx.rootfs);
    } else if (ctx.no_pivot) {
        if (::mount(ctx.rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
            return sys_error("mount --move", ctx.rootfs);
        if (::chroot(".") < 0) return sys_error("chroot", ctx.rootfs);
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one; it is then detached
        // without ever needing a directory for it inside the container. The cwd stays on the
        // new root below it, so we step onto the old root by fd: otherwise the rslave below
        // would turn the container's shared mounts into slaves.
        auto old_root = WM_TRY(open_file("/", O_PATH | O_DIRECTORY));
        if (sys::pivot_root(".", ".") < 0) return sys_error("pivot_root", ctx.rootfs);
        if (::fchdir(old_root.get()) < 0) return sys_error("fchdir", "old root");
        if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
            return sys_error("make old root rslave", ctx.rootfs);
        if (::umount2(".", MNT_DETACH) < 0) return sys_error("umount old root", ctx.rootfs);
    }
    if (::chdir("/") < 0) return sys_error("chdir", "/");
    return {};
}

Result<> prepare_rootfs(const RootfsContext& ctx) {
    const Spec& spec = *ctx.spec;
    // In the runtime's mount namespace nothing is mounted; sysctls are the namespaces' own.
    if (!ctx.own_mount_namespace) return apply_sysctls(spec.linux_->sysctl);
    // Nothing done below may propagate back to the host's mount namespace.
    if (::mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
        return sys_error("make / rslave", "/");
    if (::mount(ctx.rootfs.c_str(), ctx.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        return sys_error("bind rootfs", ctx.rootfs);
    if (::mount(nullptr, ctx.rootfs.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
        return sys_error("make rootfs private", ctx.rootfs);
    auto root = WM_TRY(open_file(ctx.rootfs, O_PATH | O_DIRECTORY));

    bool dev_mounted = false;
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
        if (auto r = mount_one(ctx, root.get(), i); !r) return std::unexpected(r.error());
        if (clean_relative(spec.mounts[i].destination) == "dev") dev_mounted = true;
    }
    WM_CHECK(setup_dev(root.get(), spec, dev_mounted, ctx.user_namespace));
    WM_CHECK(apply_sysctls(spec.linux_->sysctl));
    for (const auto& path : spec.linux_->readonly_paths)
        WM_CHECK(readonly_path(root.get(), path));
    for (const auto& path : spec.linux_->masked_paths)
        WM_CHECK(mask_path(root.get(), path));
    return {};
}

Result<> finish_rootfs(const RootfsContext& ctx) {
    const Spec& spec = *ctx.spec;
    if (!ctx.own_mount_namespace) return {};  // rootfsPropagation and readonly were refused
    if (unsigned long flag = propagation_flag(spec.linux_->rootfs_propagation)) {
        if (::mount(nullptr, "/", nullptr, flag, nullptr) < 0)
            return sys_error("set rootfsPropagation", "/");
    }
    if (spec.root && spec.root->readonly) {
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (::mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
            return sys_error("make root read-only", "/");
    }
    return {};
}

}  // namespace wmrun::runtime
