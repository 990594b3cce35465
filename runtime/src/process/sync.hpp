// The messages between `wmrun create` and the container init, over a SOCK_SEQPACKET pair.
// The init reports each step's failure as an Error, so create prints the real cause.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

// seccomp_listener: the next message carries the init's seccomp notify fd (SCM_RIGHTS).
// child_pid: the host pid of a process forked on the sender's behalf rides in `value`.
enum class SyncType : int { go = 1, ready = 2, error = 3, seccomp_listener = 4, child_pid = 5 };

// `value` rides along with `go` (the init's pid as the host sees it).
Result<> sync_send(int fd, SyncType type, const Error* error = nullptr, int value = 0);
// Waits for one message; EOF (the init died without a word) is an error naming `peer`.
Result<SyncType> sync_recv(int fd, Error* error_out, const char* peer, int* value_out = nullptr);

// Forks the process that goes on, as a sibling (CLONE_PARENT) so that the peer still reaps it:
// into the pid (and time) namespaces this one entered or made for its children. Returns in the
// fork only; this process sends the fork's host pid as child_pid and exits.
// This is how a runtime process enters a pid namespace a container can see: only once it holds
// nothing of the host's (root, cwd, fds), since the container may be able to reach any process
// it sees through /proc/<pid>/{root,cwd,fd} (docs/security.md).
Result<> fork_sibling_and_exit(int sync_fd, const char* what);

// The other side: `reporter` (a pidfd of the process that called fork_sibling_and_exit) is
// reaped, and the pid it sent is returned as a pidfd. That pid must be a child of ours, which
// CLONE_PARENT made it: a forged message naming any other process is refused. `pid` is 0 and
// `pidfd` empty when the reporter sent 0 (it went on itself, without a fork).
struct ForkedChild {
    pid_t pid = 0;
    UniqueFd pidfd;
};
Result<ForkedChild> adopt_forked_child(int sync_fd, int reporter, const char* what);

// A connected stream socket to a unix socket path (--console-socket, --pidfd-socket).
Result<UniqueFd> connect_unix(const std::string& path);

// Passing an fd over a unix socket with SCM_RIGHTS (console master, pidfd). `payload` goes with
// it (one byte if empty); the fd rides on the first sendmsg, as the runtime spec asks of the
// seccomp container process state.
Result<> send_fd(int sock, int fd, const char* what, std::string_view payload = {});
Result<int> recv_fd(int sock, const char* what);

}  // namespace wmrun::runtime
