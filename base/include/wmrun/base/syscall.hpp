// Thin wrappers for the syscalls glibc 2.36 lacks or declares in conflicting headers.
// Each returns what the kernel returns (-1 and errno on failure).
#pragma once

#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

struct clone_args;
struct mount_attr;

namespace wmrun::sys {

int openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
            std::uint64_t resolve);
long clone3(struct clone_args* args, std::size_t size);
int pidfd_open(pid_t pid, unsigned flags);
int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags);
int open_tree(int dirfd, const char* path, unsigned flags);
int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path,
               unsigned flags);
int fsopen(const char* fsname, unsigned flags);
int fsconfig(int fsfd, unsigned cmd, const char* key, const void* value, int aux);
int fsmount(int fsfd, unsigned flags, unsigned attr_flags);
int mount_setattr(int dirfd, const char* path, unsigned flags, struct mount_attr* attr,
                  std::size_t size);
int close_range(unsigned first, unsigned last, unsigned flags);
int pivot_root(const char* new_root, const char* put_old);

}  // namespace wmrun::sys
