// wake-on-connection (docs/hibernation.md): the activator owns the listening sockets and moves
// the container between three phases. prepared: created with the sockets as its fds 3.., the
// first connection starts it. running: the app accepts its connections; idle (nothing queued,
// no connection open) for idle_timeout it is hibernated. hibernated: frozen, the activator
// watches the sockets and the next connection thaws it. The kernel holds connections that
// arrive in the meantime in the listen backlog, so none is refused or lost.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "activation/activation_sockets.hpp"
#include "lifecycle/cgroup_setup.hpp"
#include "process/process_setup.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/snapshot_policy.hpp"

namespace wmrun::runtime {

namespace {

using Clock = std::chrono::steady_clock;

enum class Phase { prepared, running, hibernated };

constexpr std::uint64_t kSignalTag = 0, kExitTag = 1, kListenerTag = 2;
constexpr unsigned kMaxQuickExits = 5;
constexpr auto kQuickExit = std::chrono::seconds(1);

long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

class Activator {
  public:
    Activator(const GlobalOptions& g, const ActivateOptions& o) : g_(g), o_(o), store_(g.root) {}

    Result<> run() {
        auto r = loop();
        if (pidfd_) {
            if (auto s = stop(); !s && r) r = s;
        }
        return r;
    }

  private:
    const GlobalOptions& g_;
    const ActivateOptions& o_;
    StateStore store_;
    std::vector<Listener> listeners_;
    UniqueFd epoll_, signals_, pidfd_;
    CgroupHandle cgroup_;
    std::string bundle_;
    Phase phase_ = Phase::prepared;
    bool watching_ = false;
    // The container's snapshot policy, carried over each delete and create of ours, since it
    // is kept in the container's state, which a delete removes.
    std::optional<SnapshotPolicy> policy_;
    Clock::time_point idle_since_, started_at_;
    unsigned quick_exits_ = 0;

    void emit(OrderedJson event) {
        if (!o_.on_event) return;
        event["id"] = o_.id;
        event["time"] = log::rfc3339_now();
        o_.on_event(event);
    }

    Result<> epoll_ctl(int op, int fd, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = tag;
        if (::epoll_ctl(epoll_.get(), op, fd, &ev) < 0) return sys_error("epoll_ctl", o_.id);
        return {};
    }

    // The listeners are watched only while the app is not there to accept: level-triggered,
    // they would otherwise wake the activator for every connection the app is about to take.
    Result<> watch_listeners(bool on) {
        if (on == watching_) return {};
        for (std::size_t i = 0; i < listeners_.size(); ++i)
            WM_CHECK(epoll_ctl(on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listeners_[i].fd.get(),
                               kListenerTag + i));
        watching_ = on;
        return {};
    }

    Result<> setup() {
        // The container's init is re-parented to us when `create` exits, to be reaped here.
        ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // Nothing in a container may open this long-lived host process's /proc entries (its
        // exe above all): it runs from the host's binary, unlike create (docs/security.md).
        ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        // The apps announce themselves by their first connection, not by sd_notify: a create
        // and start of ours must not wait for a READY=1 that will not come.
        ::unsetenv("NOTIFY_SOCKET");
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) return sys_error("epoll_create1", o_.id);
        sigset_t mask;
        sigemptyset(&mask);
        for (int s : {SIGTERM, SIGINT, SIGHUP})
            sigaddset(&mask, s);
        ::sigprocmask(SIG_BLOCK, &mask, nullptr);
        signals_.reset(::signalfd(-1, &mask, SFD_CLOEXEC));
        if (!signals_) return sys_error("signalfd", o_.id);
        WM_CHECK(epoll_ctl(EPOLL_CTL_ADD, signals_.get(), kSignalTag));
        if (o_.listen.empty()) return fail("activate", o_.id, "no --listen address given", EINVAL);
        OrderedJson names = OrderedJson::array();
        for (const auto& spec : o_.listen) {
            listeners_.push_back(WM_TRY(open_listener(spec)));
            const auto& l = listeners_.back();
            names.push_back({{"name", l.name}, {"listen", l.spec}, {"port", l.port}});
        }
        emit({{"type", "listen"}, {"sockets", names}});
        return {};
    }

    // Creates the container with the sockets, replacing one that exists created (without them)
    // or stopped. A running container cannot be given the sockets.
    Result<> prepare() {
        if (auto existing = store_.load(o_.id)) {
            Status status = current_status(store_, *existing);
            if (status == Status::running || status == Status::paused)
                return fail("activate", o_.id,
                            "container is running; activate needs it created or stopped", EBUSY);
            if (bundle_.empty()) bundle_ = existing->bundle;
            WM_CHECK(carry_policy());
            WM_CHECK(delete_container(g_, o_.id, true));
        }
        WM_CHECK(spawn_create());
        if (policy_) WM_CHECK(save_snapshot_policy(g_, o_.id, *policy_));
        auto state = WM_TRY(store_.load(o_.id));
        pidfd_ = WM_TRY(open_process(state.pid, state.start_time));
        cgroup_ = CgroupHandle::load(state);
        if (!cgroup_.valid()) return fail("activate", o_.id, "container has no cgroup to freeze");
        WM_CHECK(epoll_ctl(EPOLL_CTL_ADD, pidfd_.get(), kExitTag));
        phase_ = Phase::prepared;
        WM_CHECK(watch_listeners(true));
        emit({{"type", "created"}, {"pid", state.pid}});
        return {};
    }

    // `wmrun create` in a child process, with the listening sockets as its fds 3..: it runs
    // from a sealed copy of the binary (docs/security.md) and exits once the init waits for
    // start. The init is then ours to reap: the activator is a child subreaper.
    Result<> spawn_create() {
        std::vector<std::string> args = wmrun_argv(g_);
        args.push_back("create");
        if (!o_.image.empty()) {
            args.insert(args.end(), {"--image", o_.image});
            if (!o_.store.empty()) args.insert(args.end(), {"--store", o_.store});
        } else {
            args.insert(args.end(), {"--bundle", bundle_.empty() ? "." : bundle_});
        }
        std::string names;
        for (const auto& l : listeners_)
            names += (names.empty() ? "" : ":") + l.name;
        args.insert(args.end(), {"--socket-activation", names, o_.id});
        auto argv = c_strings(args);

        pid_t child = ::fork();
        if (child < 0) return sys_error("fork", o_.id);
        if (child == 0) {
            // Above every target first, so that no dup2 overwrites a socket not yet copied.
            int n = static_cast<int>(listeners_.size());
            std::vector<int> high;
            for (const auto& l : listeners_)
                high.push_back(::fcntl(l.fd.get(), F_DUPFD_CLOEXEC, 3 + n));
            for (int i = 0; i < n; ++i)
                ::dup2(high[static_cast<std::size_t>(i)], 3 + i);
            sys::close_range(static_cast<unsigned>(3 + n), ~0U, 0);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv("/proc/self/exe", argv.data());
            ::_exit(127);
        }
        int status = 0;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return fail("activate", o_.id, "wmrun create failed (its error is above)");
        return {};
    }

    Result<> start() {
        WM_CHECK(start_container(g_, o_.id));
        phase_ = Phase::running;
        started_at_ = idle_since_ = Clock::now();
        WM_CHECK(watch_listeners(false));
        emit({{"type", "start"}});
        return {};
    }

    // Clears the hibernated mark, recording how long the wake took from `seen`, when the
    // connection that woke it was seen, to the cgroup thawed.
    Result<> record_woken(Clock::time_point seen, Clock::time_point thawed) {
        auto lock = WM_TRY(store_.lock(o_.id));
        auto state = WM_TRY(store_.load(o_.id));
        record_wake(state, std::chrono::duration<double>(thawed - seen).count());
        return store_.save(state);
    }

    Result<bool> busy() {
        if (connection_pending(listeners_)) return true;
        return WM_TRY(open_connections(listeners_)) > 0;
    }

    Result<> hibernate() {
        WM_CHECK(cgroup_.manager()->freeze());
        // The app may have accepted a connection between the idle check and the freeze; frozen,
        // it cannot take another, so this second look is final.
        if (WM_TRY(busy())) {
            WM_CHECK(cgroup_.manager()->thaw());
            idle_since_ = Clock::now();
            return {};
        }
        auto h = WM_TRY(hibernate_container(g_, o_.id));
        phase_ = Phase::hibernated;
        WM_CHECK(watch_listeners(true));
        OrderedJson ev{{"type", "hibernate"}};
        if (h.reclaimed) {
            ev["memoryBefore"] = h.memory_before;
            ev["memoryAfter"] = h.memory_after;
        }
        emit(ev);
        snapshot("hibernate");
        return {};
    }

    Result<> wake(Clock::time_point seen) {
        // Thawed first: the state file can follow once the app runs again.
        WM_CHECK(cgroup_.manager()->thaw());
        auto thawed = Clock::now();
        phase_ = Phase::running;
        idle_since_ = thawed;
        WM_CHECK(watch_listeners(false));
        WM_CHECK(record_woken(seen, thawed));
        emit({{"type", "wake"}});
        return {};
    }

    // Reaps the init (our child) once it has exited; returns its wait status as `run` reports.
    int reap() {
        siginfo_t info{};
        if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) < 0) return -1;
        return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }

    Result<> forget_init() {
        WM_CHECK(epoll_ctl(EPOLL_CTL_DEL, pidfd_.get(), kExitTag));
        pidfd_.reset();
        cgroup_ = CgroupHandle();
        WM_CHECK(watch_listeners(false));
        WM_CHECK(carry_policy());
        return delete_container(g_, o_.id, true);
    }

    // The policy as it is now: one may have been set, changed or removed since we made the
    // container.
    Result<> carry_policy() {
        policy_ = WM_TRY(load_snapshot_policy(g_, o_.id));
        return {};
    }

    // A snapshot by the container's policy, if it has one, while it is frozen (hibernate) or
    // after its processes have exited (stop); a connection arriving meanwhile waits in the
    // backlog until it is done. A failure is reported as an event and does not stop us.
    void snapshot(const char* reason) {
        auto out = snapshot_by_policy(g_, o_.id, reason);
        if (!out) return;
        if (out->action == AutoOutcome::Action::failed) {
            log::warn("activate: snapshot of " + o_.id + " failed: " + out->error);
            emit({{"type", "snapshot-failed"}, {"reason", reason}, {"error", out->error}});
            return;
        }
        emit({{"type", "snapshot"},
              {"reason", reason},
              {"snapshot", out->snapshot},
              {"parent", out->parent},
              {"forgotten", out->forgotten}});
    }

    // SIGTERM, then SIGKILL to the whole cgroup after stop_timeout; the container is deleted.
    Result<> stop() {
        if (phase_ == Phase::hibernated) WM_CHECK(cgroup_.manager()->thaw());
        if (phase_ != Phase::prepared) {
            sys::pidfd_send_signal(pidfd_.get(), SIGTERM, nullptr, 0);
            if (!wait_readable(pidfd_.get(), static_cast<int>(o_.stop_timeout_ms))) {
                if (cgroup_.valid()) (void)cgroup_.manager()->kill_all(SIGKILL);
                sys::pidfd_send_signal(pidfd_.get(), SIGKILL, nullptr, 0);
                wait_readable(pidfd_.get(), -1);
            }
        } else {
            sys::pidfd_send_signal(pidfd_.get(), SIGKILL, nullptr, 0);
            wait_readable(pidfd_.get(), -1);
        }
        int status = reap();
        snapshot("stop");
        WM_CHECK(forget_init());
        emit({{"type", "stop"}, {"status", status}});
        return {};
    }

    Result<> on_exit() {
        int status = reap();
        bool quick = phase_ == Phase::running && Clock::now() - started_at_ < kQuickExit;
        WM_CHECK(forget_init());
        emit({{"type", "exit"}, {"status", status}});
        quick_exits_ = quick ? quick_exits_ + 1 : 0;
        if (quick_exits_ >= kMaxQuickExits)
            return fail("activate", o_.id, "the container keeps exiting right after it starts");
        return prepare();
    }

    int tick_ms() const {
        unsigned base = o_.idle_timeout_ms ? o_.idle_timeout_ms : o_.stop_after_ms;
        return static_cast<int>(std::clamp(base / 4, 1U, 250U));
    }

    Result<> on_tick() {
        if (phase_ == Phase::running && (o_.idle_timeout_ms || o_.stop_after_ms)) {
            if (WM_TRY(busy())) {
                idle_since_ = Clock::now();
                return {};
            }
            long idle = ms_since(idle_since_);
            if (o_.idle_timeout_ms && idle >= static_cast<long>(o_.idle_timeout_ms))
                return hibernate();
            if (!o_.idle_timeout_ms && idle >= static_cast<long>(o_.stop_after_ms)) {
                WM_CHECK(stop());
                return prepare();
            }
        }
        if (phase_ == Phase::hibernated && o_.stop_after_ms &&
            ms_since(idle_since_) >= static_cast<long>(o_.stop_after_ms)) {
            WM_CHECK(stop());
            return prepare();
        }
        return {};
    }

    int timeout_ms() const {
        if (phase_ == Phase::running && (o_.idle_timeout_ms || o_.stop_after_ms)) return tick_ms();
        if (phase_ == Phase::hibernated && o_.stop_after_ms) {
            long left = static_cast<long>(o_.stop_after_ms) - ms_since(idle_since_);
            return static_cast<int>(std::max(left, 0L));
        }
        return -1;
    }

    Result<> loop() {
        WM_CHECK(setup());
        bundle_ = o_.bundle;
        WM_CHECK(prepare());
        epoll_event events[8];
        for (;;) {
            int n = ::epoll_wait(epoll_.get(), events, 8, timeout_ms());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return sys_error("epoll_wait", o_.id);
            auto seen = Clock::now();
            bool connection = false;
            for (int i = 0; i < n; ++i) {
                std::uint64_t tag = events[i].data.u64;
                if (tag == kSignalTag) {
                    signalfd_siginfo si{};
                    (void)::read(signals_.get(), &si, sizeof si);
                    log::debug("activate: signal " + std::to_string(si.ssi_signo) + ": stopping");
                    return {};
                }
                if (tag == kExitTag && pidfd_) {
                    WM_CHECK(on_exit());
                    connection = false;
                    break;
                }
                if (tag >= kListenerTag) connection = true;
            }
            if (connection && phase_ == Phase::prepared) {
                WM_CHECK(start());
            } else if (connection && phase_ == Phase::hibernated) {
                WM_CHECK(wake(seen));
            }
            WM_CHECK(on_tick());
        }
    }
};

}  // namespace

Result<> activate_container(const GlobalOptions& g, const ActivateOptions& o) {
    WM_CHECK(validate_id(o.id));
    Activator activator(g, o);
    return activator.run();
}

}  // namespace wmrun::runtime
