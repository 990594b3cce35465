// exec: a new process in a running container's namespaces and cgroup.
// The child joins every namespace of the init at once through its pidfd (setns with a pidfd),
// so no path under /proc is resolved on the way in; it is non-dumpable until it execs, so the
// container cannot reach wmrun's own binary through /proc/PID/exe (CVE-2019-5736 class).
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "lifecycle/cgroup_setup.hpp"
#include "process/launch.hpp"
#include "process/process_setup.hpp"
#include "process/procfs.hpp"
#include "process/security_label.hpp"
#include "process/seccomp.hpp"
#include "lifecycle/supervise.hpp"
#include "process/sync.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

Result<std::uint32_t> parse_id(const std::string& text, const char* what) {
    try {
        std::size_t used = 0;
        unsigned long v = std::stoul(text, &used);
        if (used != text.size()) throw std::invalid_argument(what);
        return static_cast<std::uint32_t>(v);
    } catch (...) {
        return fail("exec", text, std::string("bad ") + what, EINVAL);
    }
}

// The process to run: --process as a whole, or the container's own process with the flags
// laid over it, as runc does.
Result<Process> exec_process(const Spec& spec, const ExecOptions& o) {
    Json doc = spec.raw;
    if (o.process) {
        doc["process"] = *o.process;
    } else {
        Json p = doc["process"];
        p["args"] = o.args;
        p["terminal"] = o.tty;
        if (!o.cwd.empty()) p["cwd"] = o.cwd;
        for (const auto& kv : o.env)
            p["env"].push_back(kv);
        if (!o.user.empty()) {
            // uid[:gid]; without a gid the process keeps the config's, as with runc.
            auto colon = o.user.find(':');
            p["user"]["uid"] = WM_TRY(parse_id(o.user.substr(0, colon), "uid"));
            if (colon != std::string::npos)
                p["user"]["gid"] = WM_TRY(parse_id(o.user.substr(colon + 1), "gid"));
        }
        for (const auto& g : o.additional_gids)
            p["user"]["additionalGids"].push_back(WM_TRY(parse_id(g, "gid")));
        if (o.no_new_privs) p["noNewPrivileges"] = true;
        if (!o.apparmor_profile.empty()) p["apparmorProfile"] = o.apparmor_profile;
        if (!o.process_label.empty()) p["selinuxLabel"] = o.process_label;
        // As runc: ambient only where the config has inheritable capabilities, without which
        // an ambient one cannot be raised.
        bool ambient = p.contains("capabilities") && p["capabilities"].contains("inheritable");
        for (const auto& cap : o.caps) {
            for (const char* set : {"bounding", "effective", "permitted"})
                p["capabilities"][set].push_back(cap);
            if (ambient) p["capabilities"]["ambient"].push_back(cap);
        }
        doc["process"] = std::move(p);
    }
    auto parsed = parse_spec(doc);
    if (!parsed) return std::unexpected(with_context(parsed.error(), "exec process"));
    return std::move(*parsed->process);
}

// The root of a container that shares our mount namespace: the init's, through its /proc entry
// (a magic link, followed on purpose), taken while its pidfd shows it alive, so that the pid is
// not a reused one.
Result<UniqueFd> init_root(int init_pidfd, pid_t pid) {
    auto proc = WM_TRY(Procfs::open_host());
    auto dir = WM_TRY(proc.open_file(std::to_string(pid), O_PATH | O_DIRECTORY));
    UniqueFd root(::openat(dir.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return sys_error("open", "/proc/" + std::to_string(pid) + "/root");
    if (sys::pidfd_send_signal(init_pidfd, 0, nullptr, 0) < 0)
        return sys_error("container init", std::to_string(pid));
    return root;
}

std::uint64_t namespace_flags(const Linux& l) {
    std::uint64_t flags = 0;
    for (const auto& ns : l.namespaces)
        flags |= static_cast<std::uint64_t>(namespace_clone_flag(ns.type));
    return flags;
}

// pid and time namespaces take effect for children only: the process that runs is a fork.
bool forks_into_namespaces(std::uint64_t ns_flags) {
    return (ns_flags & (CLONE_NEWPID | CLONE_NEWTIME)) != 0;
}

// The child joins every namespace of the init at once, the mount namespace with the rest, and
// only then forks the process that runs (a sibling, CLONE_PARENT, so that `wmrun exec` still
// waits for it), as runc's nsexec does. So the first process the container can see already has
// the container's root and cwd (setns of a mount namespace moves both there) and no fd but its
// sockets: a container with CAP_SYS_PTRACE that watches /proc/<pid>/{root,cwd,fd} finds
// nothing of the host's (tests/integration/test_proc_escape.py).
//
// `root_fd` (or -1): the container's root when it shares our mount namespace (a chroot), entered
// right after the namespaces, before the fork, for the same reason.
[[noreturn]] void exec_child(int sync_fd, int init_pidfd, int root_fd, std::uint64_t ns_flags,
                             const Spec& spec, const Process& proc, int console_fd,
                             unsigned preserve_fds) {
    // Still on the host's side, and invisible to the container; a failure is reported below.
    auto oom = set_oom_score_adj(proc, "self");
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Before any step inside the container, and above all before chdir: a host directory fd
    // that reached this process must not be there to be resolved (CVE-2024-21626 class).
    close_fds_except(3 + preserve_fds, {sync_fd, init_pidfd, console_fd, root_fd});
    auto step = [&]() -> Result<std::string> {
        WM_CHECK(oom);
        if (ns_flags != 0 && ::setns(init_pidfd, static_cast<int>(ns_flags)) < 0)
            return sys_error("setns", "container namespaces");
        ::close(init_pidfd);
        if (root_fd >= 0) {
            if (::fchdir(root_fd) < 0 || ::chroot(".") < 0) return sys_error("chroot", "rootfs");
            ::close(root_fd);
        }
        if (forks_into_namespaces(ns_flags))
            WM_CHECK(fork_sibling_and_exit(sync_fd, "exec process"));
        // Nothing of the container's runs before the parent has placed us in every cgroup
        // hierarchy: on a hybrid host that is a write of our pid after the clone, and until then
        // device rules and limits would not hold for what we run.
        auto go = WM_TRY(sync_recv(sync_fd, nullptr, "wmrun exec"));
        if (go != SyncType::go) return fail("exec", "", "unexpected message from wmrun exec");
        if (proc.exec_cpu_affinity) WM_CHECK(apply_cpu_affinity(proc.exec_cpu_affinity->final_));
        if (proc.terminal && console_fd >= 0) WM_CHECK(setup_console(proc, console_fd, false));
        WM_CHECK(apply_rlimits(proc));
        WM_CHECK(apply_process_attributes(proc, *spec.linux_));
        std::string exe = WM_TRY(find_executable(proc));
        const auto& sc = spec.linux_->seccomp;
        std::optional<SeccompProgram> filter;
        if (sc) filter = WM_TRY(compile_seccomp(*sc));
        // Before any filter: the label goes through a procfs of its own (fsopen, open_tree),
        // which docker's and our default profiles deny.
        WM_CHECK(apply_exec_label(proc));
        if (filter && !proc.no_new_privileges) WM_CHECK(load_and_pass_listener(sync_fd, *filter));
        WM_CHECK(apply_identity(proc));
        if (::chdir(proc.cwd.c_str()) < 0) return sys_error("chdir", proc.cwd);
        if (filter && proc.no_new_privileges) WM_CHECK(load_and_pass_listener(sync_fd, *filter));
        return exe;
    };
    auto exe = step();
    if (!exe) {
        (void)sync_send(sync_fd, SyncType::error, &exe.error());
        ::_exit(1);
    }
    // Only stdio and the preserved fds go in; the sync socket closes on exec, which tells the
    // parent the exec happened.
    ::fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
    close_fds_except(3 + preserve_fds, {sync_fd});
    auto argv = c_strings(proc.args);
    auto envp = c_strings(proc.env);
    ::execve(exe->c_str(), argv.data(), envp.data());
    Error e{"exec", *exe, errno, {}};
    (void)sync_send(sync_fd, SyncType::error, &e);
    ::_exit(127);
}

}  // namespace

Result<int> exec_in_container(const GlobalOptions& g, const ExecOptions& o) {
    StateStore store(g.root);
    ContainerState state;
    {
        auto lock = WM_TRY(store.lock(o.id));
        state = WM_TRY(store.load(o.id));
    }
    Status status = current_status(store, state);
    if (status == Status::stopped) return fail("exec", o.id, "cannot exec in a stopped container");
    if (status == Status::paused && !o.ignore_paused)
        return fail("exec", o.id,
                    "cannot exec in a paused container (use --ignore-paused to override)");
    Json config = WM_TRY(container_config(store, state));
    auto parsed = parse_spec(config);
    if (!parsed) return std::unexpected(with_context(parsed.error(), "container config"));
    Spec spec = std::move(*parsed);
    Process proc = WM_TRY(exec_process(spec, o));
    WM_CHECK(check_security_labels(proc, ""));
    auto init = WM_TRY(open_process(state.pid, state.start_time));
    UniqueFd container_root;
    if (!spec.linux_->has_namespace(NamespaceType::mount))
        container_root = WM_TRY(init_root(init.get(), state.pid));

    UniqueFd console, console_peer;
    if (proc.terminal) {
        if (!o.console_socket.empty()) {
            console = WM_TRY(connect_unix(o.console_socket));
        } else if (o.detach) {
            return fail("exec", o.id, "a terminal for a detached process needs --console-socket");
        } else {
            int cs[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cs) < 0)
                return sys_error("socketpair", "console");
            console_peer.reset(cs[0]);
            console.reset(cs[1]);
        }
    }

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return sys_error("socketpair", "");
    UniqueFd parent_sock(pair[0]), child_sock(pair[1]);

    std::optional<ForwardedSignals> signals;
    if (!o.detach) signals.emplace();

    // The clone inherits it; this process keeps it while it waits for the one it started.
    if (proc.exec_cpu_affinity) WM_CHECK(apply_cpu_affinity(proc.exec_cpu_affinity->initial));
    std::uint64_t ns_flags = namespace_flags(*spec.linux_);
    auto cgroup = CgroupHandle::load(state);
    UniqueFd cgroup_fd = cgroup.clone_into_fd();
    clone_args ca{};
    int pidfd = -1;
    ca.flags = CLONE_PIDFD | (cgroup_fd ? CLONE_INTO_CGROUP : 0);
    ca.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    ca.cgroup = cgroup_fd ? static_cast<std::uint64_t>(cgroup_fd.get()) : 0;
    ca.exit_signal = SIGCHLD;
    long pid = sys::clone3(&ca, sizeof ca);
    if (pid == 0)
        exec_child(child_sock.get(), init.get(), container_root ? container_root.get() : -1,
                   ns_flags, spec, proc, console ? console.get() : -1, o.preserve_fds);
    if (pid < 0) return sys_error("clone3", o.id);
    UniqueFd child(pidfd);
    child_sock.reset();
    if (forks_into_namespaces(ns_flags)) {
        // The child forks the real process and exits; from here on `pid` is that process.
        auto forked = WM_TRY(adopt_forked_child(parent_sock.get(), child.get(), "exec process"));
        if (!forked.pidfd) return fail("exec", o.id, "the exec process did not fork");
        pid = forked.pid;
        child = std::move(forked.pidfd);
    }
    if (!cgroup_fd) {
        if (auto r = cgroup.enter(static_cast<pid_t>(pid)); !r) {
            sys::pidfd_send_signal(child.get(), SIGKILL, nullptr, 0);
            return std::unexpected(r.error());
        }
    }
    WM_CHECK(sync_send(parent_sock.get(), SyncType::go));
    Error child_error;
    auto reply = sync_recv(parent_sock.get(), &child_error, "exec process");
    while (reply && *reply == SyncType::seccomp_listener) {
        // A notify profile: the agent gets this process's listener, as it got the init's.
        UniqueFd listener(WM_TRY(recv_fd(parent_sock.get(), "seccomp listener")));
        WM_CHECK(send_seccomp_listener(*spec.linux_->seccomp, state_json(state, Status::running),
                                       static_cast<pid_t>(pid), listener.get()));
        reply = sync_recv(parent_sock.get(), &child_error, "exec process");
    }
    if (reply && *reply == SyncType::error) {
        ::waitid(P_PIDFD, static_cast<id_t>(child.get()), nullptr, WEXITED);
        return std::unexpected(child_error);
    }
    // EOF: the socket closed on a successful execve.
    if (!o.pid_file.empty()) WM_CHECK(replace_file(o.pid_file, std::to_string(pid), 0644));
    if (!o.pidfd_socket.empty()) {
        auto sock = WM_TRY(connect_unix(o.pidfd_socket));
        WM_CHECK(send_fd(sock.get(), child.get(), "pidfd"));
    }
    if (o.detach) return 0;
    UniqueFd master;
    if (console_peer) master.reset(WM_TRY(recv_fd(console_peer.get(), "console master")));
    return supervise(*signals, child.get(), master.get(), o.id);
}

}  // namespace wmrun::runtime
