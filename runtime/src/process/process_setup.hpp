// Turning the init (or an exec'd process) into the process config.json describes: limits,
// scheduling, identity, capabilities, console. Shared by create and exec.
#pragma once

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// args[0] looked up in the PATH of the process environment, as execvp would, inside the
// current root; errors name the program.
Result<std::string> find_executable(const Process& p);

Result<> apply_rlimits(const Process& p);
// memoryPolicy, personality, scheduler, ioPriority.
Result<> apply_process_attributes(const Process& p, const Linux& l);

// oomScoreAdj, written on the host's side through a verified procfs (procfs.hpp) for `pid`
// ("self" or a number): by `create` for its init (whose fork and exec inherit it), by `exec`'s
// child for itself before it joins the container and turns non-dumpable (after which its proc
// files belong to root and a rootless caller could no longer write them).
Result<> set_oom_score_adj(const Process& p, const std::string& pid);

// sched_setaffinity of the calling thread to a cpuset-style list ("0-3,7"); "" changes nothing.
// For execCPUAffinity, which applies to `exec` only (config.md): `initial` on the runtime's
// side before the process reaches the container's cgroup, `final` after.
Result<> apply_cpu_affinity(const std::string& list);

// Drops the bounding set, switches uid/gid/groups, sets the capability sets (incl. ambient),
// umask and no_new_privs. Runs last before the exec (seccomp aside).
Result<> apply_identity(const Process& p);

// Opens a pty from the container's devpts, makes its slave the controlling terminal and stdio,
// and sends the master over `console_sock` (SCM_RIGHTS), as runc's --console-socket.
Result<> setup_console(const Process& p, int console_sock, bool bind_dev_console);

// Closes every fd from `first` up, but those in `keep`, with one close_range per gap.
void close_fds_except(unsigned first, std::vector<int> keep);

// NULL-terminated argv/envp views for execve.
std::vector<char*> c_strings(const std::vector<std::string>& v);

// The argv of this binary run again as a wmrun command with the same global options (--root,
// --systemd-cgroup, --rootless); the caller appends the command. It is exec'd from
// /proc/self/exe, and re-executes itself sealed where it enters a container.
std::vector<std::string> wmrun_argv(const GlobalOptions& g);

}  // namespace wmrun::runtime
