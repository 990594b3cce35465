// run in the foreground: create + start, then stay the container's parent until it exits,
// forwarding signals and, when wmrun made the terminal itself, the console's bytes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <optional>

#include "volumes/image_bundle.hpp"
#include "process/launch.hpp"
#include "lifecycle/supervise.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// Puts the caller's terminal in raw mode while a container owns the console; restores it.
class RawTerminal {
  public:
    explicit RawTerminal(int fd) : fd_(fd) {
        if (!::isatty(fd) || ::tcgetattr(fd, &saved_) < 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
    }

  private:
    int fd_;
    termios saved_{};
    bool active_ = false;
};

void copy_winsize(int from, int to) {
    winsize ws{};
    if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

// Moves what is readable on `from` to `to`; false at EOF or error.
bool pump(int from, int to) {
    char buf[16384];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) return false;
    return write_all(to, std::string_view(buf, static_cast<std::size_t>(n)), "console").has_value();
}

int exit_status(const siginfo_t& info) {
    if (info.si_code == CLD_EXITED) return info.si_status;
    return 128 + info.si_status;
}

}  // namespace

// Blocks the signals a foreground process forwards; the mask in force before is restored when
// the object goes away.
ForwardedSignals::ForwardedSignals() {
    sigemptyset(&mask_);
    for (int s : kForwarded)
        sigaddset(&mask_, s);
    ::sigprocmask(SIG_BLOCK, &mask_, &old_);
}
ForwardedSignals::~ForwardedSignals() {
    ::sigprocmask(SIG_SETMASK, &old_, nullptr);
}

Result<int> supervise(const ForwardedSignals& signals, int pidfd, int master,
                      const std::string& name) {
    UniqueFd sigfd(::signalfd(-1, &signals.mask(), SFD_CLOEXEC));
    if (!sigfd) return sys_error("signalfd", name);
    RawTerminal raw(master >= 0 ? STDIN_FILENO : -1);
    if (master >= 0) copy_winsize(STDIN_FILENO, master);

    bool stdin_open = master >= 0;
    siginfo_t info{};
    for (;;) {
        pollfd fds[4] = {{pidfd, POLLIN, 0},
                         {sigfd.get(), POLLIN, 0},
                         {master, POLLIN, 0},
                         {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
        int n = ::poll(fds, 4, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("poll", name);
        if (fds[2].revents & (POLLIN | POLLHUP)) pump(master, STDOUT_FILENO);
        if (fds[3].revents & (POLLIN | POLLHUP)) stdin_open = pump(STDIN_FILENO, master);
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(sigfd.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGWINCH && master >= 0)
                    copy_winsize(STDIN_FILENO, master);
                else
                    sys::pidfd_send_signal(pidfd, static_cast<int>(si.ssi_signo), nullptr, 0);
            }
        }
        if (fds[0].revents & POLLIN) {
            if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) < 0)
                return sys_error("waitid", name);
            break;
        }
    }
    // What the process wrote last is still in the pty.
    if (master >= 0) {
        ::fcntl(master, F_SETFL, O_NONBLOCK);
        while (pump(master, STDOUT_FILENO)) {
        }
    }
    return exit_status(info);
}

Result<int> run_container(const GlobalOptions& g, const CreateOptions& o, const RunOptions& r) {
    // Orphans of the container's init land with us, not with the host's init (a container
    // without a pid namespace of its own has them).
    if (r.subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    bool detach = r.detach;
    std::optional<ForwardedSignals> signals;
    if (!detach) signals.emplace();

    auto launched = WM_TRY(launch_container(g, o, !detach));
    if (!o.image_store.empty()) {
        if (auto r = record_image_store(g, launched.state, o.image_store, o.image); !r) {
            destroy_container(g, launched.state);
            return std::unexpected(r.error());
        }
    }
    if (auto r = start_container(g, o.id); !r) {
        destroy_container(g, launched.state);
        return std::unexpected(r.error());
    }
    if (detach) return 0;
    auto status = supervise(*signals, launched.pidfd.get(), launched.console_master.get(), o.id);
    signals.reset();
    if (r.keep) return status;  // stopped; `delete` removes it
    WM_CHECK(delete_container(g, o.id, true));
    return status;
}

}  // namespace wmrun::runtime
