// start, state, kill, delete, list, ps, pause, resume: the commands on an existing container.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstring>

#include "lifecycle/cgroup_setup.hpp"
#include "lifecycle/hooks.hpp"
#include "volumes/image_bundle.hpp"
#include "process/launch.hpp"
#include "process/notify_socket.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

// Waits up to timeout_ms for the process behind pidfd to exit.
bool wait_exit(int pidfd, int timeout_ms) {
    pollfd p{pidfd, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

// Processes that share the init's pid namespace: the container's processes when it has no
// cgroup of its own to ask.
std::vector<pid_t> pids_in_namespace(pid_t init) {
    std::vector<pid_t> out;
    struct stat ns {};
    if (::stat(fmt::format("/proc/{}/ns/pid", init).c_str(), &ns) < 0) return out;
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) continue;
        struct stat st {};
        if (::stat(fmt::format("/proc/{}/ns/pid", pid).c_str(), &st) == 0 &&
            st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
            out.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

Result<Spec> bundle_spec(const StateStore& store, const ContainerState& s) {
    auto doc = WM_TRY(container_config(store, s));
    return parse_spec(doc);
}

// The container's processes: its cgroup's, or without one, those of its own pid namespace;
// a container that shares the host's pid namespace and has no cgroup has only its init.
std::vector<pid_t> container_processes(const ContainerState& s) {
    auto cgroup = CgroupHandle::load(s);
    if (cgroup.valid()) {
        if (auto pids = cgroup.manager()->pids()) return *pids;
    }
    struct stat own {
    }, theirs{};
    if (::stat("/proc/self/ns/pid", &own) == 0 &&
        ::stat(fmt::format("/proc/{}/ns/pid", s.pid).c_str(), &theirs) == 0 &&
        own.st_ino == theirs.st_ino && own.st_dev == theirs.st_dev)
        return {s.pid};
    return pids_in_namespace(s.pid);
}

// A process frozen by the v1 freezer takes SIGKILL only once thawed; runc thaws a paused
// container after a SIGKILL too. Best effort: the caller's wait reports a process that stays.
void thaw_after_sigkill(const ContainerState& state) {
    auto cgroup = CgroupHandle::load(state);
    if (!cgroup.valid()) return;
    auto frozen = cgroup.manager()->frozen();
    if (!frozen || !*frozen) return;
    if (auto r = cgroup.manager()->thaw(); !r) log::warn(r.error().message());
}

}  // namespace

Result<> start_container(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    Status status = current_status(store, state);
    if (status == Status::stopped) return fail("", id, "cannot start a container that has stopped");
    if (status != Status::created) return fail("", id, "cannot start an already running container");

    std::string fifo = store.fifo_path(id);
    auto pidfd = WM_TRY(open_process(state.pid, state.start_time));
    // Bound before the process runs, so that its first READY=1 finds the socket.
    std::string host_notify = host_notify_socket();
    UniqueFd notify;
    if (!host_notify.empty() && path_exists(store.dir(id) + "/notify"))
        notify = WM_TRY(bind_notify_socket(store.dir(id)));
    auto reader = WM_TRY(open_file(fifo, O_RDONLY | O_NONBLOCK));
    pollfd fds[2] = {{reader.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    for (;;) {
        int n = ::poll(fds, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("poll", fifo);
        if (fds[0].revents & POLLIN) break;
        if (fds[1].revents) return fail("start", id, "container init exited before start");
    }
    char byte;
    if (::read(reader.get(), &byte, 1) != 1)
        return fail("start", id, "container init did not signal");
    ::unlink(fifo.c_str());
    state.started = true;
    WM_CHECK(store.save(state));
    auto spec = bundle_spec(store, state);
    if (spec)
        run_hooks_logging_failures(spec->hooks.poststart, state_json(state, Status::running),
                                   "poststart");
    // As runc: start returns once the service says it is ready.
    if (notify) WM_CHECK(forward_until_ready(notify.get(), pidfd.get(), state.pid, host_notify));
    return {};
}

Result<OrderedJson> container_state(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    WM_CHECK(validate_id(id));
    auto state = WM_TRY(store.load(id));
    return state_json(state, current_status(store, state));
}

Result<int> parse_signal(const std::string& name) {
    if (name.empty()) return fail("parse signal", name, "empty");
    if (std::all_of(name.begin(), name.end(), ::isdigit)) {
        int n = std::stoi(name);
        if (n <= 0 || n >= NSIG) return fail("parse signal", name, "out of range", EINVAL);
        return n;
    }
    std::string upper;
    for (char c : name)
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper.rfind("SIG", 0) == 0) upper = upper.substr(3);
    for (int n = 1; n < NSIG; ++n) {
        const char* abbrev = ::sigabbrev_np(n);
        if (abbrev != nullptr && upper == abbrev) return n;
    }
    if (upper.rfind("RTMIN+", 0) == 0) return SIGRTMIN + std::stoi(upper.substr(6));
    if (upper.rfind("RTMAX-", 0) == 0) return SIGRTMAX - std::stoi(upper.substr(6));
    return fail("parse signal", name, "unknown signal", EINVAL);
}

Result<> kill_container(const GlobalOptions& g, const std::string& id, int signal, bool all) {
    StateStore store(g.root);
    auto lock = WM_TRY(store.lock(id));
    auto state = WM_TRY(store.load(id));
    if (current_status(store, state) == Status::stopped)
        return fail("", id, "container not running", ESRCH);
    // As runc 1.2: SIGKILL reaches every process of a container without a pid namespace of its
    // own, where they would outlive the init; `--all` is needed no more.
    if (signal == SIGKILL && !all) {
        auto spec = bundle_spec(store, state);
        all = spec && !std::any_of(spec->linux_->namespaces.begin(), spec->linux_->namespaces.end(),
                                   [](const Namespace& ns) {
                                       return ns.type == NamespaceType::pid && ns.path.empty();
                                   });
    }
    if (all) {
        // The cgroup reaches everything it holds, forks racing the signal included (cgroup.kill,
        // or freeze, signal, thaw).
        auto cgroup = CgroupHandle::load(state);
        if (cgroup.valid()) return cgroup.manager()->kill_all(signal);
        for (pid_t pid : container_processes(state))
            ::kill(pid, signal);
        return {};
    }
    auto pidfd = WM_TRY(open_process(state.pid, state.start_time));
    if (sys::pidfd_send_signal(pidfd.get(), signal, nullptr, 0) < 0) return sys_error("kill", id);
    if (signal == SIGKILL) thaw_after_sigkill(state);
    return {};
}

Result<> delete_container(const GlobalOptions& g, const std::string& id, bool force) {
    StateStore store(g.root);
    auto lock = store.lock(id);
    if (!lock) return std::unexpected(lock.error());
    auto state = store.load(id);
    if (!state) {
        // A directory without state.json is what a create killed half way leaves.
        if (force || state.error().err == ENOENT) return store.remove(id);
        return std::unexpected(state.error());
    }
    Status status = current_status(store, *state);
    if ((status == Status::running || status == Status::paused) && !force)
        return fail(
            "", id,
            fmt::format("cannot delete container that is not stopped: {}", status_name(status)));
    if (status != Status::stopped) {
        auto pidfd = open_process(state->pid, state->start_time);
        if (pidfd) {
            sys::pidfd_send_signal(pidfd->get(), SIGKILL, nullptr, 0);
            if (status == Status::paused) thaw_after_sigkill(*state);
            if (!wait_exit(pidfd->get(), 10000))
                return fail("delete", id, "init did not die", ETIMEDOUT);
        }
    }
    auto spec = bundle_spec(store, *state);
    destroy_container(g, *state);
    if (spec)
        run_hooks_logging_failures(spec->hooks.poststop, state_json(*state, Status::stopped),
                                   "poststop");
    // An image's overlay goes with the container; its volume layer stays (delete --volumes).
    if (!state->image_store.empty())
        WM_CHECK(release_image_rootfs(state->image_store, id, state->rootless, false));
    return {};
}

Result<std::vector<ListEntry>> list_containers(const GlobalOptions& g) {
    StateStore store(g.root);
    std::vector<ListEntry> out;
    for (const auto& id : WM_TRY(store.list())) {
        auto state = store.load(id);
        if (!state) continue;  // deleted meanwhile
        Status status = current_status(store, *state);
        out.push_back({std::move(*state), status});
    }
    return out;
}

Result<std::vector<pid_t>> container_pids(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto state = WM_TRY(store.load(id));
    if (current_status(store, state) == Status::stopped) return std::vector<pid_t>{};
    return container_processes(state);
}

}  // namespace wmrun::runtime
