#include "process/procfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::runtime {

namespace {

constexpr ino_t kProcRootIno = 1;

Result<UniqueFd> private_instance(Procfs::View view = Procfs::View::all) {
    UniqueFd fs(::fsopen("proc", FSOPEN_CLOEXEC));
    if (!fs) return sys_error("fsopen proc", "private procfs");
    if (view == Procfs::View::pids_only &&
        ::fsconfig(fs.get(), FSCONFIG_SET_STRING, "subset", "pid", 0) < 0)
        return sys_error("mount proc subset=pid", "private procfs");
    if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        return sys_error("mount proc", "private procfs");
    UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                          MOUNT_ATTR_NOEXEC));
    if (!mnt) return sys_error("fsmount proc", "private procfs");
    return mnt;
}

// A clone of the proc mount at /proc, without anything mounted on or below it.
Result<UniqueFd> clone_of_proc_mount() {
    UniqueFd tree(::open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return sys_error("open_tree", "/proc");
    return tree;
}

Result<> check_proc_root(int fd) {
    struct statfs fs {};
    struct stat st {};
    if (::fstatfs(fd, &fs) < 0) return sys_error("statfs", "/proc");
    if (::fstat(fd, &st) < 0) return sys_error("stat", "/proc");
    if (fs.f_type != PROC_SUPER_MAGIC || st.st_ino != kProcRootIno)
        return fail("procfs", "/proc", "is not the root of a procfs");
    return {};
}

}  // namespace

Result<Procfs> Procfs::open(View view) {
    auto root = private_instance(view);
    if (!root && (root.error().err == EPERM || root.error().err == EACCES))
        root = clone_of_proc_mount();
    if (!root) return std::unexpected(root.error());
    return from_root(std::move(*root));
}

Result<Procfs> Procfs::open_host() {
    auto root = private_instance();
    if (!root && (root.error().err == EPERM || root.error().err == EACCES))
        root = wmrun::open_file("/proc", O_PATH | O_DIRECTORY);
    if (!root) return std::unexpected(root.error());
    return from_root(std::move(*root));
}

Result<Procfs> Procfs::from_root(UniqueFd root) {
    WM_CHECK(check_proc_root(root.get()));
    char buf[32];
    ssize_t n = ::readlinkat(root.get(), "self", buf, sizeof buf - 1);
    if (n <= 0) return sys_error("readlink", "/proc/self");
    std::string self(buf, static_cast<std::size_t>(n));
    if (self.find_first_not_of("0123456789") != std::string::npos)
        return fail("procfs", "/proc/self", "is not a pid: " + self);
    return Procfs(std::move(root), std::move(self));
}

std::string Procfs::resolve_self(std::string_view rel) const {
    std::string out(rel);
    if (out == "self" || out.starts_with("self/")) out.replace(0, 4, self_);
    return out;
}

Result<UniqueFd> Procfs::open_file(std::string_view rel, int flags) const {
    std::string path = resolve_self(rel);
    int fd = sys::openat2(root_.get(), path.c_str(), static_cast<std::uint64_t>(flags) | O_CLOEXEC,
                          0,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                              RESOLVE_NO_XDEV);
    if (fd < 0) return sys_error("open", "/proc/" + std::string(rel));
    UniqueFd file(fd);
    struct statfs fs {};
    if (::fstatfs(file.get(), &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC)
        return fail("open", "/proc/" + std::string(rel), "is not on procfs");
    return file;
}

Result<> Procfs::write(std::string_view rel, std::string_view value) const {
    auto file = WM_TRY(open_file(rel, O_WRONLY));
    std::string shown = "/proc/" + std::string(rel);
    ssize_t n = ::write(file.get(), value.data(), value.size());
    if (n < 0) return sys_error("write", shown);
    if (static_cast<std::size_t>(n) != value.size()) return fail("write", shown, "short write");
    return {};
}

Result<UniqueFd> Procfs::reopen(int fd, int flags) const {
    // The fd link is a magic link: followed by a plain openat, on an instance nothing is
    // mounted on.
    std::string path = self_ + "/fd/" + std::to_string(fd);
    UniqueFd out(::openat(root_.get(), path.c_str(), flags | O_CLOEXEC));
    if (!out) return sys_error("reopen", "/proc/self/fd/" + std::to_string(fd));
    return out;
}

}  // namespace wmrun::runtime
