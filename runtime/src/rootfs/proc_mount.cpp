// /proc for a container that joins a pid namespace by path. The init enters that namespace
// only after pivot_root (init.hpp), but a proc instance shows the pid namespace of whoever
// makes it: so it is made for that namespace from outside it, with proc's `pidns` parameter
// (Linux 6.18), or, on older kernels, by a process made inside the namespace for the purpose and
// made so that nothing there can reach the host through it.
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process/process_setup.hpp"
#include "rootfs/rootfs.hpp"
#include "process/sync.hpp"

namespace wmrun::runtime {

namespace {

// Runs in the first process of ours that the namespace sees: its fds are its socket only, and
// its root and cwd are an empty tmpfs that is attached nowhere, so /proc/<pid>/root/.. has no
// parent to climb to and /proc/<pid>/{cwd,fd} lead nowhere.
[[noreturn]] void make_proc_inside(int sock, const std::string& source, const MountOptions& opts,
                                   const std::string& shown) {
    auto mnt = new_filesystem("proc", source, opts, shown);
    if (!mnt) {
        (void)sync_send(sock, SyncType::error, &mnt.error());
        ::_exit(1);
    }
    if (!sync_send(sock, SyncType::ready) || !send_fd(sock, mnt->get(), "proc mount")) ::_exit(1);
    ::_exit(0);
}

// The process that forks it, still in our own pid namespace (which the container cannot see):
// first it drops every fd but its socket and the namespace's, and moves its root and cwd onto
// the empty tmpfs, so that the fork starts with nothing of the host's.
[[noreturn]] void fork_into_namespace(int sock, int pid_ns_fd, const std::string& source,
                                      const MountOptions& opts, const std::string& shown) {
    close_fds_except(3, {sock, pid_ns_fd});
    auto step = [&]() -> Result<> {
        MountOptions empty;
        empty.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                         MOUNT_ATTR_NOEXEC;
        empty.data.emplace_back("size", "0");
        auto root = WM_TRY(new_filesystem("tmpfs", "tmpfs", empty, "empty root"));
        if (::fchdir(root.get()) < 0) return sys_error("fchdir", "empty root");
        if (::chroot(".") < 0) return sys_error("chroot", "empty root");
        if (::setns(pid_ns_fd, CLONE_NEWPID) < 0) return sys_error("setns", "pid namespace");
        ::close(pid_ns_fd);
        return {};
    };
    if (auto r = step(); !r) {
        (void)sync_send(sock, SyncType::error, &r.error());
        ::_exit(1);
    }
    pid_t inner = ::fork();
    if (inner == 0) make_proc_inside(sock, source, opts, shown);
    if (inner < 0) {
        Error e{"fork", "proc mount", errno, {}};
        (void)sync_send(sock, SyncType::error, &e);
        ::_exit(1);
    }
    int status = 0;
    while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

Result<UniqueFd> proc_from_inside(int pid_ns_fd, const std::string& source,
                                  const MountOptions& opts, const std::string& shown) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return sys_error("socketpair", shown);
    UniqueFd ours(pair[0]), theirs(pair[1]);
    pid_t child = ::fork();
    if (child == 0) fork_into_namespace(theirs.get(), pid_ns_fd, source, opts, shown);
    if (child < 0) return sys_error("fork", shown);
    theirs.reset();
    Error error;
    auto msg = sync_recv(ours.get(), &error, "proc mount helper");
    Result<UniqueFd> out = fail("mount proc", shown, "no mount from the helper");
    if (!msg)
        out = std::unexpected(msg.error());
    else if (*msg == SyncType::error)
        out = std::unexpected(error);
    else if (auto fd = recv_fd(ours.get(), "proc mount"))
        out = UniqueFd(*fd);
    else
        out = std::unexpected(fd.error());
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return out;
}

}  // namespace

Result<UniqueFd> new_proc_for(int pid_ns_fd, const std::string& source, const MountOptions& opts,
                              const std::string& shown) {
    auto made = new_filesystem("proc", source, opts, shown, {{"pidns", pid_ns_fd}});
    // Before 6.18 the kernel does not know the parameter: "Unknown parameter 'pidns'" (EINVAL).
    if (!made && made.error().err == EINVAL &&
        made.error().detail.find("pidns") != std::string::npos)
        return proc_from_inside(pid_ns_fd, source, opts, shown);
    return made;
}

}  // namespace wmrun::runtime
