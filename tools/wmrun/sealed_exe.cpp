// CVE-2019-5736: a process in the container opens /proc/<pid>/exe of the runtime that joins it
// and, once the runtime has exec'd the container's program, writes through that fd into the
// host's runtime binary, which root runs next. So no process that enters a container may run
// from a writable host file. The cheap way, as runc 1.2 does (libcontainer/exeseal): exec the
// binary through a read-only overlayfs that is never attached to any mount tree, so
// /proc/<pid>/exe names a file that cannot be opened for writing (EROFS) and nothing is
// copied. Without CAP_SYS_ADMIN (rootless), or where overlayfs refuses the layers, a sealed
// memfd copy (F_SEAL_WRITE) serves instead; it costs a copy of the whole binary per command.
#include "sealed_exe.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string_view>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/base/unique_fd.hpp"

extern char** environ;

namespace wmrun::cli {

namespace {

constexpr unsigned all_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

bool enters_a_container(const std::string& command) {
    constexpr std::array<std::string_view, 3> commands = {"create", "run", "exec"};
    for (auto c : commands)
        if (command == c) return true;
    return false;
}

// True when /proc/self/exe is already protected: a sealed memfd, or a file on a read-only
// overlayfs. The file, not an environment variable, decides, so a caller cannot talk wmrun
// out of it.
bool running_protected() {
    UniqueFd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!exe) return false;
    int seals = ::fcntl(exe.get(), F_GET_SEALS);
    if (seals >= 0 && (static_cast<unsigned>(seals) & all_seals) == all_seals) return true;
    struct statfs fs {};
    return ::fstatfs(exe.get(), &fs) == 0 && fs.f_type == OVERLAYFS_SUPER_MAGIC &&
           (fs.f_flags & ST_RDONLY) != 0;
}

// ':' separates overlayfs layers and '\' escapes; both may appear in a directory name.
std::string escape_layer(const std::string& dir) {
    std::string out;
    for (char c : dir) {
        if (c == ':' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

// The binary opened through a detached read-only overlayfs of its own directory. overlayfs
// wants two layers when there is no upper one; the second is an empty directory of ours
// under the state root, below the binary's so it can never shadow it.
Result<UniqueFd> readonly_overlay_exe(const std::string& state_root) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return sys_error("readlink", "/proc/self/exe");
    std::string path(buf, static_cast<size_t>(n));
    size_t slash = path.rfind('/');
    if (path.front() != '/' || slash == std::string::npos || path.ends_with(" (deleted)"))
        return fail("open", path, "not a path on a mounted file system", EINVAL);
    std::string dir = slash == 0 ? "/" : path.substr(0, slash), name = path.substr(slash + 1);
    if (state_root.empty()) return fail("open", path, "no state root for the overlay's layer");
    std::string empty = state_root + "/.exe-lower";
    WM_CHECK(mkdir_all(empty, 0700));

    UniqueFd fs(sys::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fs) return sys_error("fsopen", "overlay");
    std::string layers = escape_layer(dir) + ":" + escape_layer(empty);
    if (sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir", layers.c_str(), 0) < 0)
        return sys_error("fsconfig lowerdir", layers);
    if (sys::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        return sys_error("fsconfig create", layers);
    UniqueFd mnt(sys::fsmount(fs.get(), FSMOUNT_CLOEXEC,
                              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID));
    if (!mnt) return sys_error("fsmount", layers);
    UniqueFd exe(::openat(mnt.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!exe) return sys_error("open", path + " through a read-only overlay");
    return exe;
}

Result<UniqueFd> sealed_copy() {
    UniqueFd src(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!src) return sys_error("open", "/proc/self/exe");
    struct stat st {};
    if (::fstat(src.get(), &st) < 0) return sys_error("fstat", "/proc/self/exe");
    // CLOEXEC: the copy must not stay open in the container's program after the next exec.
    UniqueFd mem(::memfd_create("wmrun", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!mem) return sys_error("memfd_create", "wmrun");
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = ::sendfile(mem.get(), src.get(), nullptr, static_cast<std::size_t>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("sendfile", "/proc/self/exe");
        if (n == 0) return fail("copy", "/proc/self/exe", "binary shrank while copied", EIO);
        left -= n;
    }
    if (::fcntl(mem.get(), F_ADD_SEALS, all_seals) < 0) return sys_error("F_ADD_SEALS", "memfd");
    return mem;
}

}  // namespace

Result<> reexec_sealed_for(const std::string& command, const std::string& state_root, char** argv) {
    if (!enters_a_container(command) || running_protected()) return {};
    auto exe = readonly_overlay_exe(state_root);
    if (exe) {
        ::execveat(exe->get(), "", argv, environ, AT_EMPTY_PATH);
        return sys_error("execveat", "/proc/self/exe through a read-only overlay");
    }
    UniqueFd mem = WM_TRY(sealed_copy());
    ::fexecve(mem.get(), argv, environ);
    return sys_error("fexecve", "sealed copy of /proc/self/exe");
}

Result<> reexec_sealed_early(int argc, char** argv, const std::string& default_root) {
    // The global options that take a value (main.cpp), in either "--opt value" or "--opt=value".
    constexpr std::array<std::string_view, 5> with_value = {"--root", "--log", "--log-format",
                                                            "--rootless", "--criu"};
    std::string root = default_root;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (!arg.starts_with('-')) return reexec_sealed_for(std::string(arg), root, argv);
        if (arg == "--") return {};
        if (arg.starts_with("--root=")) root = arg.substr(7);
        if (std::find(with_value.begin(), with_value.end(), arg) == with_value.end()) continue;
        if (++i == argc) return {};
        if (arg == "--root") root = argv[i];
    }
    return {};
}

}  // namespace wmrun::cli
