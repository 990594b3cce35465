// A tiny socket-activated server for the activation tests and benchmark: it takes its listening
// sockets from LISTEN_FDS (systemd's convention: fds 3.., LISTEN_PID must be our pid), greets
// every connection with "hello <fd name>\n" as soon as it accepts it, then echoes what it
// reads until the client closes. One thread, epoll; built static so that a busybox rootfs can
// run it. SIGTERM ends it (as pid 1 of a pid namespace it has no default action).
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kFirstFd = 3;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "listen-server: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

std::vector<std::string> split_names(const char* text, int count) {
    std::vector<std::string> names;
    std::string all = text ? text : "";
    std::size_t pos = 0;
    while (static_cast<int>(names.size()) < count) {
        auto colon = all.find(':', pos);
        names.push_back(
            all.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
        if (colon == std::string::npos)
            pos = all.size();
        else
            pos = colon + 1;
    }
    return names;
}

void on_term(int) {
    _exit(0);
}

}  // namespace

int main() {
    const char* fds_text = std::getenv("LISTEN_FDS");
    const char* pid_text = std::getenv("LISTEN_PID");
    if (fds_text == nullptr || pid_text == nullptr) {
        std::fprintf(stderr, "listen-server: LISTEN_FDS and LISTEN_PID are not set\n");
        return 2;
    }
    if (std::atol(pid_text) != static_cast<long>(::getpid())) {
        std::fprintf(stderr, "listen-server: LISTEN_PID=%s is not our pid %d\n", pid_text,
                     static_cast<int>(::getpid()));
        return 2;
    }
    int count = std::atoi(fds_text);
    if (count <= 0) {
        std::fprintf(stderr, "listen-server: LISTEN_FDS=%s\n", fds_text);
        return 2;
    }
    auto names = split_names(std::getenv("LISTEN_FDNAMES"), count);
    ::signal(SIGTERM, on_term);
    ::signal(SIGPIPE, SIG_IGN);

    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < count; ++i) {
        int fd = kFirstFd + i;
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = static_cast<std::uint64_t>(fd) | (1ULL << 32);  // a listener
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl listener");
    }
    epoll_event events[64];
    char buf[4096];
    for (;;) {
        int n = ::epoll_wait(ep, events, 64, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int i = 0; i < n; ++i) {
            int fd = static_cast<int>(events[i].data.u64 & 0xffffffff);
            if (events[i].data.u64 >> 32) {
                // Non-blocking accept: the activator's idle check may race us to nothing.
                int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c < 0) continue;
                std::string hello =
                    "hello " + names[static_cast<std::size_t>(fd - kFirstFd)] + "\n";
                (void)::send(c, hello.data(), hello.size(), MSG_NOSIGNAL);
                epoll_event ev{};
                ev.events = EPOLLIN | EPOLLRDHUP;
                ev.data.u64 = static_cast<std::uint64_t>(c);
                if (::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) ::close(c);
                continue;
            }
            ssize_t got = ::read(fd, buf, sizeof buf);
            if (got > 0) {
                (void)::send(fd, buf, static_cast<std::size_t>(got), MSG_NOSIGNAL);
                continue;
            }
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            ::close(fd);  // closing removes it from the epoll set
        }
    }
}
