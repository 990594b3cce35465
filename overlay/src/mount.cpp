#include "wmrun/overlay/mount.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/path.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::overlay {

namespace {

// fsconfig copies string values with strndup_user(value, 256): longer ones are EINVAL.
constexpr std::size_t kMaxValue = 255;

// The kernel explains a failed fsconfig in the context's log ("e overlay: ..."), which is
// far more useful than a bare EINVAL.
std::string kernel_log(int fsfd) {
    std::string out;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
        if (n <= 0) break;
        std::string line(buf, static_cast<std::size_t>(n));
        if (line.size() > 2 && line[1] == ' ') line = line.substr(2);
        out += (out.empty() ? "" : "; ") + line;
    }
    return out;
}

struct Config {
    int fsfd;
    const std::string& target;

    Result<> set(const char* key, const std::string& value) {
        if (sys::fsconfig(fsfd, FSCONFIG_SET_STRING, key, value.c_str(), 0) < 0)
            return error(std::string("fsconfig ") + key + "=" + value);
        return {};
    }
    Result<> flag(const char* key) {
        if (sys::fsconfig(fsfd, FSCONFIG_SET_FLAG, key, nullptr, 0) < 0)
            return error(std::string("fsconfig ") + key);
        return {};
    }
    Result<> create() {
        if (sys::fsconfig(fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
            return error("create overlay");
        return {};
    }
    std::unexpected<Error> error(const std::string& op) {
        int e = errno;
        return std::unexpected(Error{op, target, e, kernel_log(fsfd)});
    }
};

// A path short enough for one fsconfig value: as given, or through the fd we hold.
std::string short_path(const std::string& path, const UniqueFd& fd) {
    return path.size() <= kMaxValue ? path : fd_path(fd.get());
}

// Before 6.8 all layers go in one "lowerdir=a:b:c" value of at most 255 bytes. Relative paths
// resolve against the caller's cwd, so from /proc/self/fd each layer is just the number of
// the fd we hold on it ("7:8:9"), ~4 bytes a layer: about 60 layers instead of 14 with
// "/proc/self/fd/N". The kernel resolves them at fsconfig (6.5+) or at create (legacy mount
// data, 6.1), so both happen in a thread with its own cwd: the process's cwd never moves.
Result<UniqueFd> configured(const OverlaySpec& spec, const std::vector<UniqueFd>& lower_fds,
                            const UniqueFd& upper_fd, const UniqueFd& work_fd, bool plus) {
    UniqueFd fsfd(sys::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fsfd) return sys_error("fsopen overlay", spec.target);
    Config c{fsfd.get(), spec.target};
    WM_CHECK(c.set("source", "wmrun"));
    // A copied-up file keeps its data in the upper dir, whatever the kernel's default: a volume
    // layer outlives its image (upgrade stacks it on another), and a metacopy-only upper file
    // would show the new image's data under the user's metadata. (userxattr excludes metacopy.)
    if (spec.mode == WhiteoutMode::rootless)
        WM_CHECK(c.flag("userxattr"));
    else
        WM_CHECK(c.set("metacopy", "off"));
    if (plus) {
        // Linux 6.8+: one layer per call, so the layer count is not bounded by a value's size.
        for (std::size_t i = 0; i < spec.lower.size(); ++i)
            WM_CHECK(c.set("lowerdir+", short_path(spec.lower[i], lower_fds[i])));
    } else {
        std::string value;
        for (std::size_t i = 0; i < spec.lower.size(); ++i)
            value += (i ? ":" : "") + std::to_string(lower_fds[i].get());
        if (value.size() > kMaxValue)
            return fail("mount overlay", spec.target,
                        std::to_string(spec.lower.size()) +
                            " layers do not fit one lowerdir value on this kernel (needs "
                            "Linux 6.8 for lowerdir+)");
        WM_CHECK(c.set("lowerdir", value));
    }
    if (!spec.options.read_only) {
        WM_CHECK(c.set("upperdir", short_path(spec.upper, upper_fd)));
        WM_CHECK(c.set("workdir", short_path(spec.work, work_fd)));
    }
    WM_CHECK(c.create());
    return fsfd;
}

// Runs the single-value configuration in a thread that unshares its fs attributes (cwd) from
// the process and changes directory to /proc/self/fd (the fd table stays shared).
Result<UniqueFd> configured_from_fd_dir(const OverlaySpec& spec,
                                        const std::vector<UniqueFd>& lower_fds,
                                        const UniqueFd& upper_fd, const UniqueFd& work_fd) {
    Result<UniqueFd> out = std::unexpected(Error{});
    std::thread t([&] {
        if (::unshare(CLONE_FS) < 0) {
            out = sys_error("unshare CLONE_FS", spec.target);
            return;
        }
        if (::chdir("/proc/self/fd") < 0) {
            out = sys_error("chdir", "/proc/self/fd");
            return;
        }
        out = configured(spec, lower_fds, upper_fd, work_fd, false);
    });
    t.join();
    return out;
}

}  // namespace

Result<> unmount_overlay(const std::string& target) {
    return unmount_path(target);
}

Result<OverlayMount> mount_overlay(const OverlaySpec& spec) {
    if (spec.lower.empty()) return fail("mount overlay", spec.target, "no lower layers");
    if (spec.options.read_only && spec.lower.size() < 2)
        return fail("mount overlay", spec.target, "a read-only overlay needs two or more layers");
    if (!spec.options.read_only && (spec.upper.empty() || spec.work.empty()))
        return fail("mount overlay", spec.target, "needs an upper and a work directory");

    std::vector<UniqueFd> lower_fds;
    for (const auto& l : spec.lower)
        lower_fds.push_back(WM_TRY(open_file(l, O_PATH | O_DIRECTORY)));
    UniqueFd upper_fd, work_fd;
    if (!spec.options.read_only) {
        upper_fd = WM_TRY(open_file(spec.upper, O_PATH | O_DIRECTORY));
        work_fd = WM_TRY(open_file(spec.work, O_PATH | O_DIRECTORY));
    }

    Result<UniqueFd> fsfd = std::unexpected(Error{});
    if (!spec.options.single_lowerdir) {
        fsfd = configured(spec, lower_fds, upper_fd, work_fd, true);
        // Before 6.8, "lowerdir+" is unknown: EINVAL at fsconfig or at create.
        if (!fsfd && fsfd.error().err != EINVAL) return std::unexpected(fsfd.error());
    }
    if (!fsfd) fsfd = configured_from_fd_dir(spec, lower_fds, upper_fd, work_fd);
    if (!fsfd) return std::unexpected(with_context(fsfd.error(), "mount overlay"));

    UniqueFd mnt(
        sys::fsmount(fsfd->get(), FSMOUNT_CLOEXEC, spec.options.read_only ? MOUNT_ATTR_RDONLY : 0));
    if (!mnt) return sys_error("fsmount overlay", spec.target);
    auto target = WM_TRY(open_file(spec.target, O_PATH | O_DIRECTORY | O_NOFOLLOW));
    if (sys::move_mount(mnt.get(), "", target.get(), "",
                        MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sys_error("move_mount overlay", spec.target);
    return OverlayMount(spec.target);
}

}  // namespace wmrun::overlay
