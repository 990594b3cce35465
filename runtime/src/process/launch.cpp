#include "process/launch.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "lifecycle/cgroup_setup.hpp"
#include "lifecycle/hooks.hpp"
#include "rootfs/idmap_mounts.hpp"
#include "process/init.hpp"
#include "process/net_devices.hpp"
#include "process/notify_socket.hpp"
#include "process/procfs.hpp"
#include "process/process_setup.hpp"
#include "process/security_label.hpp"
#include "process/sync.hpp"
#include "process/sysctl.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::runtime {

namespace {

std::string absolute(const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
    return path.empty() || path == "." ? std::string(cwd) : std::string(cwd) + "/" + path;
}

std::string id_map_text(const std::vector<IdMapping>& maps) {
    std::string out;
    for (const auto& m : maps)
        out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    return out;
}

// An unprivileged caller may write only a map of its own id (one range of size 1) itself; any
// other map needs the setuid newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
bool needs_helper(const std::vector<IdMapping>& maps, unsigned own_id) {
    if (::geteuid() == 0 || maps.empty()) return false;
    return !(maps.size() == 1 && maps[0].size == 1 && maps[0].host_id == own_id);
}

std::string find_in_path(const std::string& tool) {
    const char* env = ::getenv("PATH");
    std::string path = env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin";
    path += ":/usr/sbin:/sbin";
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string candidate = path.substr(start, end - start) + "/" + tool;
        if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return {};
}

// Runs newuidmap/newgidmap PID (container host size)... as runc does; its stderr becomes the
// error's detail.
Result<> run_map_helper(const std::string& tool, pid_t pid, const std::vector<IdMapping>& maps) {
    std::string exe = find_in_path(tool);
    if (exe.empty())
        return fail(tool, std::to_string(pid),
                    "a map beyond the caller's own id needs " + tool + " (package uidmap)", ENOENT);
    std::vector<std::string> args = {exe, std::to_string(pid)};
    for (const auto& m : maps)
        for (auto v : {m.container_id, m.host_id, m.size})
            args.push_back(std::to_string(v));
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) < 0) return sys_error("pipe", tool);
    UniqueFd rd(out[0]), wr(out[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
    pid_t child = 0;
    int rc = ::posix_spawn(&child, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return sys_error("spawn", exe, rc);
    wr.reset();
    std::string text = read_fd(rd.get(), tool).value_or("");
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return fail(tool, std::to_string(pid), text.empty() ? "failed" : text, EPERM);
}

Result<> write_id_maps(pid_t pid, const Linux& l, bool rootless) {
    auto proc = WM_TRY(Procfs::open_host());
    std::string base = std::to_string(pid);
    // The gid map goes first: the init makes itself non-dumpable as soon as it sees itself as
    // root (container_init), and from then on an unprivileged caller can no longer open its
    // setgroups and gid_map (they belong to root); with the uid map first, an init that looked
    // in between made a rootless create fail now and then.
    if (needs_helper(l.gid_mappings, ::getegid())) {
        // newgidmap decides about setgroups itself (shadow refuses a deny written before it).
        WM_CHECK(run_map_helper("newgidmap", pid, l.gid_mappings));
    } else {
        // The kernel lets an unprivileged writer map its own gid only with setgroups denied.
        if (rootless || ::geteuid() != 0) WM_CHECK(proc.write(base + "/setgroups", "deny"));
        if (!l.gid_mappings.empty())
            WM_CHECK(proc.write(base + "/gid_map", id_map_text(l.gid_mappings)));
    }
    if (needs_helper(l.uid_mappings, ::geteuid()))
        WM_CHECK(run_map_helper("newuidmap", pid, l.uid_mappings));
    else if (!l.uid_mappings.empty())
        WM_CHECK(proc.write(base + "/uid_map", id_map_text(l.uid_mappings)));
    return {};
}

Result<> write_time_offsets(const Linux& l) {
    if (l.time_offsets.empty()) return {};
    std::string text;
    for (const auto& [clock, off] : l.time_offsets)
        text += fmt::format("{} {} {}\n", clock, off.secs, off.nanosecs);
    auto proc = WM_TRY(Procfs::open_host());
    return proc.write("self/timens_offsets", text);
}

// The init joins a pid namespace given by path only after it has entered its rootfs, and by
// then a new user namespace has taken its privileges over the namespace to join.
bool joins_pid_namespace_from_new_user_namespace(const Linux& l) {
    bool new_user = false, pid_by_path = false;
    for (const auto& ns : l.namespaces) {
        if (ns.type == NamespaceType::user && ns.path.empty()) new_user = true;
        if (ns.type == NamespaceType::pid && !ns.path.empty()) pid_by_path = true;
    }
    return new_user && pid_by_path;
}

// Without a mount namespace of its own the container shares ours (runtime.md, as runc and crun
// run it): it is only chrooted into its rootfs. Whatever would have to be mounted would be
// mounted on the host and outlive the container, so a config that asks for it is refused,
// naming the field, rather than half applied.
Result<> check_shared_mount_namespace(const Spec& spec, const CreateOptions& o) {
    auto refuse = [&](const std::string& what) {
        return fail("create", o.id,
                    what +
                        " needs a mount namespace of the container's own (linux.namespaces "
                        "has no \"mount\")",
                    EINVAL);
    };
    const Linux& lnx = *spec.linux_;
    if (!spec.mounts.empty()) return refuse("mounts");
    if (!lnx.masked_paths.empty()) return refuse("linux.maskedPaths");
    if (!lnx.readonly_paths.empty()) return refuse("linux.readonlyPaths");
    if (!lnx.devices.empty()) return refuse("linux.devices");
    if (!lnx.rootfs_propagation.empty()) return refuse("linux.rootfsPropagation");
    if (!lnx.mount_label.empty()) return refuse("linux.mountLabel");
    if (spec.root->readonly) return refuse("root.readonly");
    if (o.no_pivot) return refuse("--no-pivot");
    if (!host_notify_socket().empty()) return refuse("NOTIFY_SOCKET (the socket is bound in)");
    return {};
}

// Kills and reaps a child that never became a container.
struct ChildGuard {
    int pidfd = -1;
    pid_t pid = 0;
    bool armed = true;
    ~ChildGuard() {
        if (!armed || pid <= 0) return;
        sys::pidfd_send_signal(pidfd, SIGKILL, nullptr, 0);
        ::waitpid(pid, nullptr, 0);
    }
};

// Removes the state dir (and cgroup) of a create that failed half way.
struct CreateGuard {
    const StateStore* store;
    std::string id;
    CgroupHandle* cgroup = nullptr;
    bool armed = true;
    ~CreateGuard() {
        if (!armed) return;
        if (cgroup != nullptr) cgroup->destroy();
        (void)store->remove(id);
    }
};

}  // namespace

// config-linux.md "The Container Process State": one message per connection to listenerPath,
// the JSON with the listener as SCM_RIGHTS on its first sendmsg, then the connection closes.
Result<> send_seccomp_listener(const Seccomp& s, const OrderedJson& state, pid_t pid,
                               int listener) {
    OrderedJson msg;
    msg["ociVersion"] = state.value("ociVersion", "");
    msg["fds"] = {"seccompFd"};
    msg["pid"] = pid;
    msg["metadata"] = s.listener_metadata;
    msg["state"] = state;
    auto sock = connect_unix(s.listener_path);
    if (!sock) return std::unexpected(with_context(sock.error(), "seccomp listenerPath"));
    return send_fd(sock->get(), listener, "seccomp state", msg.dump());
}

Result<Launched> launch_container(const GlobalOptions& g, const CreateOptions& o,
                                  bool own_console) {
    WM_CHECK(validate_id(o.id));
    if (!o.listen_fds.empty() && o.preserve_fds > 0)
        return fail("create", o.id, "listening sockets and --preserve-fds cannot be combined");
    if (o.listen_fd_names.size() != o.listen_fds.size())
        return fail("create", o.id, "one name per listening socket is needed");
    std::string bundle = absolute(o.bundle.empty() ? "." : o.bundle);
    Spec spec = WM_TRY(load_spec(bundle));
    if (!spec.process) return fail("create", o.id, "config.json has no process to run");
    if (!spec.root) return fail("create", o.id, "config.json has no root");
    if (!spec.linux_) return fail("create", o.id, "config.json has no linux section");
    const Linux& lnx = *spec.linux_;
    if (!lnx.has_namespace(NamespaceType::mount)) WM_CHECK(check_shared_mount_namespace(spec, o));
    if (joins_pid_namespace_from_new_user_namespace(lnx))
        return fail("create", o.id,
                    "joining a pid namespace by path from a new user namespace is not supported: "
                    "join the user namespace that owns it by path too");
    WM_CHECK(check_security_labels(*spec.process, lnx.mount_label));
    if (auto r = check_sysctls(lnx); !r)
        return std::unexpected(with_context(std::move(r).error(), bundle + "/config.json"));
    if (!lnx.net_devices.empty() && !lnx.has_namespace(NamespaceType::network))
        return fail("create", o.id, "linux.netDevices needs a network namespace");
    // Mount mappings the kernel would refuse only after the container exists.
    if (auto r = check_idmapped_mounts(spec); !r)
        return std::unexpected(with_context(std::move(r).error(), bundle + "/config.json"));
    std::string rootfs =
        spec.root->path[0] == '/' ? spec.root->path : bundle + "/" + spec.root->path;
    struct stat st {};
    if (::stat(rootfs.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        return sys_error("rootfs", rootfs, ::stat(rootfs.c_str(), &st) < 0 ? errno : ENOTDIR);

    StateStore store(g.root);
    auto lock = WM_TRY(store.create(o.id));
    CgroupHandle cgroup;  // declared before the guard, which destroys it on failure
    CreateGuard guard{&store, o.id};
    if (!host_notify_socket().empty()) WM_CHECK(prepare_notify_socket(spec, store.dir(o.id)));

    std::string fifo = store.fifo_path(o.id);
    if (::mkfifo(fifo.c_str(), 0622) < 0) return sys_error("mkfifo", fifo);
    // mkfifo is subject to the umask; the init may run as any user and must open it.
    if (::chmod(fifo.c_str(), 0622) < 0) return sys_error("chmod", fifo);
    auto fifo_fd = WM_TRY(open_file(fifo, O_PATH));

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return sys_error("socketpair", "");
    UniqueFd parent_sock(pair[0]), child_sock(pair[1]);

    UniqueFd console, console_peer;
    if (spec.process->terminal) {
        if (!o.console_socket.empty()) {
            console = WM_TRY(connect_unix(o.console_socket));
        } else if (own_console) {
            int cs[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cs) < 0)
                return sys_error("socketpair", "console");
            console_peer.reset(cs[0]);
            console.reset(cs[1]);
        } else {
            return fail("create", o.id, "process.terminal needs --console-socket");
        }
    }

    cgroup = WM_TRY(CgroupHandle::create(g, spec, o.id));
    guard.cgroup = &cgroup;

    InitArgs args;
    args.spec = &spec;
    args.id = o.id;
    args.bundle = bundle;
    args.rootfs =
        RootfsContext{&spec, rootfs, bundle, lnx.has_namespace(NamespaceType::user), o.no_pivot};
    args.rootfs.own_mount_namespace = lnx.has_namespace(NamespaceType::mount);
    args.sync_fd = child_sock.get();
    args.fifo_fd = fifo_fd.get();
    args.console_fd = console ? console.get() : -1;
    args.preserve_fds = o.preserve_fds;
    args.listen_fds = o.listen_fds;
    args.listen_fd_names = o.listen_fd_names;
    args.new_keyring = !o.no_new_keyring;

    std::uint64_t flags = CLONE_PIDFD;
    std::vector<UniqueFd> join_fds;
    UniqueFd own_timens;
    for (const auto& ns : lnx.namespaces) {
        int flag = namespace_clone_flag(ns.type);
        if (ns.path.empty() && ns.type == NamespaceType::time) continue;  // made below
        if (ns.path.empty() && ns.type == NamespaceType::cgroup) {
            // A cgroup namespace is rooted where its maker is at that moment: the clone would
            // root it at our cgroup, not the container's. The init makes it once it is placed.
            args.new_cgroup_namespace = true;
            continue;
        }
        if (ns.path.empty()) {
            flags |= static_cast<std::uint64_t>(flag);
            if (ns.type == NamespaceType::user) args.new_user_namespace = true;
            continue;
        }
        auto fd = WM_TRY(open_file(ns.path, O_RDONLY));
        if (ns.type == NamespaceType::pid) {
            // Joined by the init only once it has pivoted into the rootfs, through a fork: the
            // processes already in that namespace must never see one with the host's root.
            args.pid_ns_fd = fd.get();
            join_fds.push_back(std::move(fd));
            continue;
        }
        if (ns.type == NamespaceType::time) {
            // Applies to children only: join it here, for the clone, and step back after.
            own_timens = WM_TRY(open_file("/proc/self/ns/time", O_RDONLY));
            if (::setns(fd.get(), flag) < 0) return sys_error("setns", ns.path);
            continue;
        }
        if (ns.type == NamespaceType::user)
            args.join.insert(args.join.begin(), {flag, fd.get()});
        else
            args.join.emplace_back(flag, fd.get());
        join_fds.push_back(std::move(fd));
    }

    // Made beside a user namespace joined by path, the others must belong to it: the init
    // makes them once it has joined it (init.cpp, enter_joined_user_namespace).
    if (!args.join.empty() && args.join.front().first == CLONE_NEWUSER) {
        constexpr std::uint64_t by_init =
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID;
        args.unshare_flags = static_cast<int>(flags & by_init);
        flags &= ~by_init;
    }

    if (lnx.has_namespace(NamespaceType::time) && !own_timens) {
        // A child cloned with CLONE_NEWTIME is already in the namespace, which freezes its
        // offsets; so the namespace is made for our children and given its offsets first.
        own_timens = WM_TRY(open_file("/proc/self/ns/time", O_RDONLY));
        if (::unshare(CLONE_NEWTIME) < 0) return sys_error("unshare", "time namespace");
        WM_CHECK(write_time_offsets(lnx));
    }

    clone_args ca{};
    int pidfd = -1;
    ca.flags = flags;
    ca.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    ca.exit_signal = SIGCHLD;
    UniqueFd cgroup_fd = cgroup.clone_into_fd();
    if (cgroup_fd) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = static_cast<std::uint64_t>(cgroup_fd.get());
    }
    long pid = sys::clone3(&ca, sizeof ca);
    if (pid < 0 && cgroup_fd && (errno == EBUSY || errno == EOPNOTSUPP || errno == EINVAL)) {
        // The cgroup refuses direct placement (e.g. it is a threaded or domain-invalid node on a
        // hybrid host): clone normally and move the child in below.
        ca.flags &= ~static_cast<std::uint64_t>(CLONE_INTO_CGROUP);
        cgroup_fd.reset();
        pid = sys::clone3(&ca, sizeof ca);
    }
    if (pid == 0) container_init(args);
    int clone_errno = errno;
    if (own_timens) ::setns(own_timens.get(), CLONE_NEWTIME);
    if (pid < 0) return sys_error("clone3", o.id, clone_errno);
    UniqueFd pidfd_owner(pidfd);
    ChildGuard child{pidfd, static_cast<pid_t>(pid)};
    child_sock.reset();
    join_fds.clear();
    // The init goes on as a fork of itself where it enters a pid namespace (see InitArgs).
    auto adopt_init_fork = [&]() -> Result<> {
        auto forked = WM_TRY(adopt_forked_child(parent_sock.get(), pidfd_owner.get(), "container init"));
        if (!forked.pidfd) return {};
        pidfd_owner = std::move(forked.pidfd);
        child.pidfd = pidfd_owner.get();
        child.pid = forked.pid;
        pid = forked.pid;
        return {};
    };
    if (args.unshare_flags != 0) WM_CHECK(adopt_init_fork());

    if (!cgroup_fd) WM_CHECK(cgroup.enter(static_cast<pid_t>(pid)));
    if (args.new_user_namespace) WM_CHECK(write_id_maps(static_cast<pid_t>(pid), lnx, g.rootless));
    WM_CHECK(set_oom_score_adj(*spec.process, std::to_string(pid)));
    WM_CHECK(move_net_devices(static_cast<pid_t>(pid), lnx.net_devices));
    ContainerState hook_state;
    hook_state.id = o.id;
    hook_state.oci_version = spec.oci_version;
    hook_state.pid = static_cast<pid_t>(pid);
    hook_state.bundle = bundle;
    hook_state.rootfs = rootfs;
    hook_state.annotations = spec.annotations;
    // runtime.md: prestart and createRuntime run after the namespaces exist and before the
    // init builds its root filesystem; createContainer follows inside the container. Their
    // state says "created": the lifecycle's step 2, which "creating" names, is over (as crun
    // and the runtime-tools validation suite's hooks_stdin; runc says "creating").
    auto created = state_json(hook_state, Status::created);
    WM_CHECK(run_hooks(spec.hooks.prestart, created, "prestart"));
    WM_CHECK(run_hooks(spec.hooks.create_runtime, created, "createRuntime"));
    // Made here, with the host's privileges the init lacks inside its user namespace, and
    // after the hooks, which may still be preparing a mount's source (docs/runtime.md).
    auto idmapped = WM_TRY(prepare_idmapped_mounts(spec, bundle, static_cast<pid_t>(pid)));
    WM_CHECK(sync_send(parent_sock.get(), SyncType::go, nullptr, static_cast<int>(pid)));
    WM_CHECK(send_idmapped_mounts(parent_sock.get(), idmapped));
    idmapped.clear();

    if (args.pid_ns_fd >= 0) {
        // The init has pivoted into the rootfs and forked into the joined pid namespace; the
        // fork waits for `go` until it is adopted.
        WM_CHECK(adopt_init_fork());
        WM_CHECK(sync_send(parent_sock.get(), SyncType::go, nullptr, static_cast<int>(pid)));
    }
    for (;;) {
        Error child_error;
        auto reply = WM_TRY(sync_recv(parent_sock.get(), &child_error, "container init"));
        if (reply == SyncType::error) return std::unexpected(child_error);
        if (reply == SyncType::ready) break;
        if (reply != SyncType::seccomp_listener || !lnx.seccomp)
            return fail("create", o.id, "unexpected message from init");
        UniqueFd listener(WM_TRY(recv_fd(parent_sock.get(), "seccomp listener")));
        // The listener's state says "creating", as runc's: the filter is loaded during step 2.
        WM_CHECK(send_seccomp_listener(*lnx.seccomp, state_json(hook_state, Status::creating),
                                       static_cast<pid_t>(pid), listener.get()));
    }

    ContainerState state;
    state.id = o.id;
    state.oci_version = spec.oci_version;
    state.pid = static_cast<pid_t>(pid);
    state.start_time = WM_TRY(process_start_time(state.pid));
    state.bundle = bundle;
    state.rootfs = rootfs;
    state.created = log::rfc3339_now();
    state.owner = "";
    state.annotations = spec.annotations;
    state.cgroup = cgroup.save();
    state.systemd_cgroup = g.systemd_cgroup;
    state.rootless = g.rootless;
    WM_CHECK(store.save_config(o.id, spec.raw.dump()));
    WM_CHECK(store.save(state));
    if (!o.pid_file.empty())
        WM_CHECK(replace_file(absolute(o.pid_file), std::to_string(state.pid), 0644));
    if (!o.pidfd_socket.empty()) {
        auto sock = WM_TRY(connect_unix(o.pidfd_socket));
        WM_CHECK(send_fd(sock.get(), pidfd_owner.get(), "pidfd"));
    }

    Launched out{std::move(state), std::move(pidfd_owner), {}};
    if (console_peer) {
        int master = WM_TRY(recv_fd(console_peer.get(), "console master"));
        out.console_master.reset(master);
    }
    child.armed = false;
    guard.armed = false;
    return out;
}

void destroy_container(const GlobalOptions& g, const ContainerState& state) {
    if (state.pid > 0) {
        if (auto pidfd = open_process(state.pid, state.start_time)) {
            sys::pidfd_send_signal(pidfd->get(), SIGKILL, nullptr, 0);
        }
    }
    // Without a pid namespace of its own a container's processes outlive its init; they go
    // with it, as runc kills them, or its cgroup could not be removed.
    auto cgroup = CgroupHandle::load(state);
    if (cgroup.valid()) {
        if (auto r = cgroup.manager()->kill_all(SIGKILL); !r) log::warn(r.error().message());
    }
    cgroup.destroy();
    (void)StateStore(g.root).remove(state.id);
}

}  // namespace wmrun::runtime

namespace wmrun::runtime {

Result<ContainerState> create_container(const GlobalOptions& g, const CreateOptions& o) {
    auto launched = WM_TRY(launch_container(g, o, false));
    return std::move(launched.state);
}

}  // namespace wmrun::runtime
