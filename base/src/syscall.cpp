#include "wmrun/base/syscall.hpp"

#include <linux/mount.h>
#include <linux/sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace wmrun::sys {

int openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
            std::uint64_t resolve) {
    open_how how{};
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

long clone3(struct clone_args* args, std::size_t size) {
    return ::syscall(SYS_clone3, args, size);
}

int pidfd_open(pid_t pid, unsigned flags) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}

int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags));
}

int open_tree(int dirfd, const char* path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_open_tree, dirfd, path, flags));
}

int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path,
               unsigned flags) {
    return static_cast<int>(
        ::syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags));
}

int fsopen(const char* fsname, unsigned flags) {
    return static_cast<int>(::syscall(SYS_fsopen, fsname, flags));
}

int fsconfig(int fsfd, unsigned cmd, const char* key, const void* value, int aux) {
    return static_cast<int>(::syscall(SYS_fsconfig, fsfd, cmd, key, value, aux));
}

int fsmount(int fsfd, unsigned flags, unsigned attr_flags) {
    return static_cast<int>(::syscall(SYS_fsmount, fsfd, flags, attr_flags));
}

int mount_setattr(int dirfd, const char* path, unsigned flags, struct mount_attr* attr,
                  std::size_t size) {
    return static_cast<int>(::syscall(SYS_mount_setattr, dirfd, path, flags, attr, size));
}

int close_range(unsigned first, unsigned last, unsigned flags) {
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

int pivot_root(const char* new_root, const char* put_old) {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

}  // namespace wmrun::sys
