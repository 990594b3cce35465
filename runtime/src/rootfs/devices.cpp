#include "rootfs/devices.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "wmrun/base/path.hpp"

namespace wmrun::runtime {

namespace {

std::pair<std::string, std::string> split_parent(const std::string& path) {
    std::string rel = clean_relative(path);
    auto slash = rel.rfind('/');
    if (slash == std::string::npos) return {".", rel};
    return {rel.substr(0, slash), rel.substr(slash + 1)};
}

mode_t node_type(char type) {
    switch (type) {
        case 'b':
            return S_IFBLK;
        case 'p':
            return S_IFIFO;
        default:
            return S_IFCHR;
    }
}

Result<> make_node(int rootfd, const Device& dev, bool user_namespace) {
    auto [parent_path, name] = split_parent(dev.path);
    if (name.empty() || name == "." || name == "..")
        return fail("create device", dev.path, "not a file path");
    auto parent = WM_TRY(mkdir_all_in_root(rootfd, parent_path));
    // Whatever the image put there (a file, or a symlink pointing anywhere) is replaced, never
    // followed.
    if (::unlinkat(parent.get(), name.c_str(), 0) < 0 && errno != ENOENT)
        return sys_error("unlink", dev.path);
    mode_t mode = dev.file_mode.value_or(0666) & 07777;
    if (user_namespace && dev.type != 'p') {
        int fd = ::openat(parent.get(), name.c_str(),
                          O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0000);
        if (fd < 0) return sys_error("create", dev.path);
        UniqueFd target(fd);
        std::string host = "/dev/" + split_parent(dev.path).second;
        struct stat st {};
        if (::stat(host.c_str(), &st) < 0 ||
            st.st_rdev !=
                makedev(static_cast<unsigned>(dev.major), static_cast<unsigned>(dev.minor)))
            return fail("create device", dev.path,
                        "no matching host device to bind in a user namespace", EPERM);
        UniqueFd tree(::open_tree(AT_FDCWD, host.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!tree) return sys_error("open_tree", host);
        if (::move_mount(tree.get(), "", target.get(), "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return sys_error("move_mount", dev.path);
        return {};
    }
    dev_t rdev = makedev(static_cast<unsigned>(dev.major), static_cast<unsigned>(dev.minor));
    if (::mknodat(parent.get(), name.c_str(), node_type(dev.type) | mode, rdev) < 0)
        return sys_error("mknod", dev.path);
    if (::fchownat(parent.get(), name.c_str(), dev.uid.value_or(0), dev.gid.value_or(0),
                   AT_SYMLINK_NOFOLLOW) < 0)
        return sys_error("chown", dev.path);
    // mknod is subject to the umask; set the exact mode.
    if (::fchmodat(parent.get(), name.c_str(), mode, 0) < 0) return sys_error("chmod", dev.path);
    return {};
}

Result<> make_symlink(int rootfd, const std::string& target, const std::string& path) {
    auto [parent_path, name] = split_parent(path);
    auto parent = WM_TRY(mkdir_all_in_root(rootfd, parent_path));
    if (::symlinkat(target.c_str(), parent.get(), name.c_str()) < 0 && errno != EEXIST)
        return sys_error("symlink", path);
    return {};
}

const Device kDefaultDevices[] = {
    {'c', "/dev/null", 1, 3, 0666, 0, 0},    {'c', "/dev/zero", 1, 5, 0666, 0, 0},
    {'c', "/dev/full", 1, 7, 0666, 0, 0},    {'c', "/dev/random", 1, 8, 0666, 0, 0},
    {'c', "/dev/urandom", 1, 9, 0666, 0, 0}, {'c', "/dev/tty", 5, 0, 0666, 0, 0},
};

}  // namespace

Result<> setup_dev(int rootfd, const Spec& spec, bool dev_mounted, bool user_namespace) {
    bool has_pts = false;
    for (const auto& m : spec.mounts)
        if (clean_relative(m.destination) == "dev/pts") has_pts = true;

    for (const auto& dev : kDefaultDevices) {
        bool overridden = false;
        for (const auto& d : spec.linux_->devices)
            if (clean_relative(d.path) == clean_relative(dev.path)) overridden = true;
        if (!overridden) WM_CHECK(make_node(rootfd, dev, user_namespace));
    }
    for (const auto& dev : spec.linux_->devices)
        WM_CHECK(make_node(rootfd, dev, user_namespace));
    if (!dev_mounted) return {};
    WM_CHECK(make_symlink(rootfd, "/proc/self/fd", "/dev/fd"));
    WM_CHECK(make_symlink(rootfd, "/proc/self/fd/0", "/dev/stdin"));
    WM_CHECK(make_symlink(rootfd, "/proc/self/fd/1", "/dev/stdout"));
    WM_CHECK(make_symlink(rootfd, "/proc/self/fd/2", "/dev/stderr"));
    if (::access("/proc/kcore", F_OK) == 0)
        WM_CHECK(make_symlink(rootfd, "/proc/kcore", "/dev/core"));
    if (has_pts) {
        auto [parent_path, name] = split_parent("/dev/ptmx");
        auto parent = WM_TRY(mkdir_all_in_root(rootfd, parent_path));
        if (::unlinkat(parent.get(), name.c_str(), 0) < 0 && errno != ENOENT)
            return sys_error("unlink", "/dev/ptmx");
        WM_CHECK(make_symlink(rootfd, "pts/ptmx", "/dev/ptmx"));
    }
    return {};
}

}  // namespace wmrun::runtime
