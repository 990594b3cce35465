#include "process/init.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

#include "lifecycle/hooks.hpp"
#include "rootfs/idmap_mounts.hpp"
#include "process/process_setup.hpp"
#include "process/procfs.hpp"
#include "process/security_label.hpp"
#include "process/seccomp.hpp"
#include "process/sync.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

namespace {

// A session keyring of its own, as runc makes, so the container cannot read or use the keys
// of the session wmrun was called from. Kernels without keyrings (or seccomp'd hosts) lack
// it; that is not an error.
Result<> join_session_keyring(const std::string& id) {
    long serial = ::syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, id.c_str());
    if (serial < 0) {
        if (errno == ENOSYS || errno == EPERM || errno == EACCES) return {};
        return sys_error("join session keyring", id);
    }
    // Possessor: everything but setattr; user: view and read only (runc's mask).
    constexpr unsigned long kPerm = 0x3f1b0000;
    if (::syscall(SYS_keyctl, 5 /* KEYCTL_SETPERM */, serial, kPerm) < 0)
        return sys_error("set session keyring permissions", id);
    return {};
}

// Returns the init's pid as the host sees it, for the hooks' state.
Result<int> wait_for_go(int sync_fd) {
    int host_pid = 0;
    auto type = WM_TRY(sync_recv(sync_fd, nullptr, "wmrun create", &host_pid));
    if (type != SyncType::go) return fail("init", "", "unexpected message from wmrun create");
    return host_pid;
}

OrderedJson hook_state(const InitArgs& a, int host_pid) {
    ContainerState s;
    s.id = a.id;
    s.oci_version = a.spec->oci_version;
    s.pid = host_pid;
    s.bundle = a.bundle;
    s.rootfs = a.rootfs.rootfs;
    s.annotations = a.spec->annotations;
    return state_json(s, Status::created);
}

Result<> join_namespaces(const InitArgs& a) {
    for (auto [flag, fd] : a.join) {
        if (::setns(fd, flag) < 0) return sys_error("setns", std::to_string(flag));
        ::close(fd);
    }
    return {};
}

Result<> become_namespace_root() {
    if (::setresgid(0, 0, 0) < 0) return sys_error("setresgid", "0");
    if (::setresuid(0, 0, 0) < 0) return sys_error("setresuid", "0");
    return {};
}

// A namespace belongs to the user namespace its maker is in, so the ones made beside a user
// namespace joined by path are made here, after joining it, as runc's nsexec does: unshare,
// and for a new pid namespace a fork, the process that goes on as its pid 1 (a sibling, so
// that `create` still reaps it). `create` learns that process's host pid, or 0 for this one;
// it waits for the message before touching the namespaces. A new cgroup namespace waits until
// after `go` (InitArgs::new_cgroup_namespace).
Result<> enter_joined_user_namespace(InitArgs& a) {
    WM_CHECK(join_namespaces(a));
    a.join.clear();
    // The host's root is no one in there: nothing made below (a directory, a device node)
    // could be owned by a mapped id.
    WM_CHECK(become_namespace_root());
    int now = a.unshare_flags & ~CLONE_NEWPID;
    if (now != 0 && ::unshare(now) < 0) return sys_error("unshare", "container namespaces");
    if (!(a.unshare_flags & CLONE_NEWPID))
        return sync_send(a.sync_fd, SyncType::child_pid, nullptr, 0);
    if (::unshare(CLONE_NEWPID) < 0) return sys_error("unshare", "pid namespace");
    WM_CHECK(fork_sibling_and_exit(a.sync_fd, "container init"));
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // a fork does not inherit it
    return {};
}

// Called with the container's root and cwd, and no fd of the host's open but the exec fifo's
// O_PATH (a file of the container's own state dir): the fork is the first process of ours the
// joined namespace sees. Returns once `create` has adopted the fork and sent `go` again.
Result<> enter_joined_pid_namespace(InitArgs& a) {
    if (::setns(a.pid_ns_fd, CLONE_NEWPID) < 0) return sys_error("setns", "pid namespace");
    ::close(a.pid_ns_fd);
    a.pid_ns_fd = -1;
    WM_CHECK(fork_sibling_and_exit(a.sync_fd, "container init"));
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // a fork does not inherit it
    WM_CHECK(wait_for_go(a.sync_fd));
    return {};
}

// `late_filter`: the seccomp program to load right before execve (with noNewPrivileges),
// compiled here so that `start` does not wait for libseccomp.
Result<std::string> setup(InitArgs& a, OrderedJson& state,
                          std::optional<SeccompProgram>& late_filter,
                          std::optional<Procfs>& fifo_proc) {
    const Spec& spec = *a.spec;
    const Process& proc = *spec.process;
    const Linux& lnx = *spec.linux_;
    int host_pid = WM_TRY(wait_for_go(a.sync_fd));
    // From here on nothing of the host's may be read through our /proc entries; an unprivileged
    // `create` needed them until now to write our id maps and oomScoreAdj.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // Idmapped mounts follow `go`, made by the parent after the createRuntime hooks.
    a.rootfs.prepared = WM_TRY(receive_idmapped_mounts(a.sync_fd, spec));
    state = hook_state(a, host_pid);
    WM_CHECK(join_namespaces(a));
    if (a.new_cgroup_namespace && ::unshare(CLONE_NEWCGROUP) < 0)
        return sys_error("unshare", "cgroup namespace");
    if (a.new_keyring) WM_CHECK(join_session_keyring(a.id));
    // Root of a new user namespace, so that the setup below has its full capabilities.
    if (a.new_user_namespace) WM_CHECK(become_namespace_root());
    if (lnx.has_namespace(NamespaceType::uts)) {
        if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
            return sys_error("sethostname", spec.hostname);
        if (!spec.domainname.empty() &&
            ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
            return sys_error("setdomainname", spec.domainname);
    }
    a.rootfs.pid_ns_fd = a.pid_ns_fd;  // where it is now, after place_listen_fds
    WM_CHECK(prepare_rootfs(a.rootfs));
    // config.md: createContainer hooks run in the container's namespaces before pivot_root.
    // Hooks run in the container's namespaces read its pid as the container sees it
    // (runtime.md "State", as runc); prestart and createRuntime, in ours, read the host's.
    if (a.pid_ns_fd < 0) state["pid"] = ::getpid();
    WM_CHECK(run_hooks(spec.hooks.create_container, state, "createContainer"));
    WM_CHECK(enter_rootfs(a.rootfs));
    if (a.pid_ns_fd >= 0) {
        WM_CHECK(enter_joined_pid_namespace(a));
        state["pid"] = ::getpid();
    }
    if (proc.terminal && a.console_fd >= 0) {
        WM_CHECK(setup_console(proc, a.console_fd, a.rootfs.own_mount_namespace));
        ::close(a.console_fd);
    }
    WM_CHECK(finish_rootfs(a.rootfs));
    WM_CHECK(apply_rlimits(proc));
    WM_CHECK(apply_process_attributes(proc, lnx));
    std::string exe = WM_TRY(find_executable(proc));
    std::optional<SeccompProgram> filter;
    if (lnx.seccomp) filter = WM_TRY(compile_seccomp(*lnx.seccomp));
    // For the exec fifo, which is opened after the capabilities to make one are gone; and
    // before any filter, which may deny fsopen and open_tree (docker's and our default
    // profiles do, and without noNewPrivileges the filter is loaded right below).
    fifo_proc = WM_TRY(Procfs::open(Procfs::View::pids_only));
    // The label is written through a procfs of its own, which such a filter would deny too.
    WM_CHECK(apply_exec_label(proc));
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while still root.
    if (filter && !proc.no_new_privileges) WM_CHECK(load_and_pass_listener(a.sync_fd, *filter));
    WM_CHECK(apply_identity(proc));
    if (filter && proc.no_new_privileges) {
        // A notify listener must reach `wmrun create` over the sync socket, which is gone
        // after `ready`: such a filter is loaded now, as runc loads every filter.
        if (filter->notify)
            WM_CHECK(load_and_pass_listener(a.sync_fd, *filter));
        else
            late_filter = std::move(filter);
    }
    if (::chdir(proc.cwd.c_str()) < 0) return sys_error("chdir", proc.cwd);
    return exe;
}

// Moves fd out of [3, limit) unless it is -1.
Result<> move_above(int& fd, int limit) {
    if (fd < 3 || fd >= limit) return {};
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, limit);
    if (moved < 0) return sys_error("fcntl F_DUPFD", std::to_string(fd));
    ::close(fd);
    fd = moved;
    return {};
}

// Socket activation: the listening sockets become fds 3.. in order. Whatever the setup still
// needs and already sits in that range moves out of the way first, and so do the sockets
// themselves, so that no dup2 overwrites a source it has not copied yet.
Result<> place_listen_fds(InitArgs& a) {
    if (a.listen_fds.empty()) return {};
    int limit = 3 + static_cast<int>(a.listen_fds.size());
    WM_CHECK(move_above(a.sync_fd, limit));
    WM_CHECK(move_above(a.fifo_fd, limit));
    WM_CHECK(move_above(a.console_fd, limit));
    WM_CHECK(move_above(a.pid_ns_fd, limit));
    for (auto& [flag, fd] : a.join)
        WM_CHECK(move_above(fd, limit));
    std::vector<int> sources;
    for (int fd : a.listen_fds) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, limit);
        if (copy < 0) return sys_error("fcntl F_DUPFD", std::to_string(fd));
        sources.push_back(copy);
    }
    for (std::size_t i = 0; i < sources.size(); ++i) {
        // dup2 clears FD_CLOEXEC on the target: these are meant to survive execve.
        if (::dup2(sources[i], 3 + static_cast<int>(i)) < 0)
            return sys_error("dup2", std::to_string(3 + i));
        ::close(sources[i]);
    }
    a.preserve_fds = static_cast<unsigned>(a.listen_fds.size());
    return {};
}

// LISTEN_PID is the pid the process sees itself as, known only here.
std::vector<std::string> process_env(const InitArgs& a) {
    std::vector<std::string> env = a.spec->process->env;
    if (a.listen_fds.empty()) return env;
    std::string names;
    for (const auto& n : a.listen_fd_names)
        names += (names.empty() ? "" : ":") + n;
    env.push_back("LISTEN_FDS=" + std::to_string(a.listen_fds.size()));
    env.push_back("LISTEN_PID=" + std::to_string(::getpid()));
    env.push_back("LISTEN_FDNAMES=" + names);
    return env;
}

// Closes every fd but stdio, the preserved ones and those the setup still needs: above all the
// state dir's lock, whose flock would otherwise outlive `create` in this process.
void close_other_fds(const InitArgs& a) {
    std::vector<int> keep = {a.sync_fd, a.fifo_fd, a.console_fd, a.pid_ns_fd};
    for (auto [flag, fd] : a.join)
        keep.push_back(fd);
    close_fds_except(3 + a.preserve_fds, std::move(keep));
}

Result<UniqueFd> reopen_exec_fifo(const Procfs& proc, int fifo_fd) {
    auto fd = proc.reopen(fifo_fd, O_WRONLY);
    if (!fd) return std::unexpected(with_context(fd.error(), "open exec fifo"));
    return fd;
}

[[noreturn]] void die(int sync_fd, const Error& e) {
    (void)sync_send(sync_fd, SyncType::error, &e);
    ::_exit(1);
}

}  // namespace

void container_init(const InitArgs& args) {
    InitArgs a = args;
    // wmrun run blocks the signals it forwards; the container starts with none blocked or
    // ignored.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
        ::signal(sig, SIG_DFL);
    // Die with wmrun create until setup is done; the orphaned init is of no use to anyone.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // Non-dumpable until it execs the container's program, so that no process can read its
    // memory or its /proc entries without CAP_SYS_PTRACE over the host (rootless: after `go`).
    if (::geteuid() == 0) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (auto r = place_listen_fds(a); !r) die(a.sync_fd, r.error());
    close_other_fds(a);
    if (a.unshare_flags != 0) {
        if (auto r = enter_joined_user_namespace(a); !r) die(a.sync_fd, r.error());
    }
    OrderedJson state;
    std::optional<SeccompProgram> late_filter;
    std::optional<Procfs> fifo_proc;
    auto exe = setup(a, state, late_filter, fifo_proc);
    if (!exe) die(a.sync_fd, exe.error());

    // The pdeath signal would follow a parent that exits right after `create`.
    ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (auto r = sync_send(a.sync_fd, SyncType::ready); !r) ::_exit(1);
    ::close(a.sync_fd);

    // Blocks until `start` opens the fifo for reading (runtime.md: start runs the program).
    // Reopened through a private procfs: the container's /proc, where an exec'd process may
    // mount things by now, is not used for it.
    auto fifo = reopen_exec_fifo(*fifo_proc, a.fifo_fd);
    if (!fifo) {
        std::fprintf(stderr, "wmrun: init: %s\n", fifo.error().message().c_str());
        ::_exit(1);
    }
    int fd = fifo->release();
    const Process& proc = *a.spec->process;
    // startContainer hooks run in the container, after start and before the program; `start`
    // waits for the byte below, so its poststart hooks come after these.
    if (auto r = run_hooks(a.spec->hooks.start_container, state, "startContainer"); !r) {
        std::fprintf(stderr, "wmrun: init: %s\n", r.error().message().c_str());
        ::_exit(1);
    }
    if (::write(fd, "0", 1) != 1) {
        std::fprintf(stderr, "wmrun: init: write exec fifo: %s\n", errno_text(errno).c_str());
        ::_exit(1);
    }
    ::close(fd);
    ::close(a.fifo_fd);
    fifo_proc.reset();

    if (late_filter) {
        if (auto r = late_filter->load(); !r) {
            std::fprintf(stderr, "wmrun: init: %s\n", r.error().message().c_str());
            ::_exit(1);
        }
    }
    // No fd but stdio and the preserved ones may reach the container (CVE-2024-21626 class).
    sys::close_range(3 + a.preserve_fds, ~0U, 0);
    auto argv = c_strings(proc.args);
    auto env = process_env(a);
    auto envp = c_strings(env);
    ::execve(exe->c_str(), argv.data(), envp.data());
    std::fprintf(stderr, "wmrun: exec \"%s\": %s\n", exe->c_str(), errno_text(errno).c_str());
    ::_exit(127);
}

}  // namespace wmrun::runtime
