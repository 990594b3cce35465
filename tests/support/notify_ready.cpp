// sd_notify for the NOTIFY_SOCKET tests, in a busybox rootfs that has no systemd-notify:
// notify-ready [DELAY_MS] sends "STATUS=starting", waits DELAY_MS, sends "READY=1" to
// $NOTIFY_SOCKET, then sleeps until killed.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

static int send_line(const char* path, const char* text) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    ssize_t n =
        ::sendto(fd, text, std::strlen(text), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::close(fd);
    return n < 0 ? -1 : 0;
}

int main(int argc, char** argv) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr) {
        std::fprintf(stderr, "notify-ready: NOTIFY_SOCKET is not set\n");
        return 2;
    }
    if (send_line(path, "STATUS=starting") < 0) std::perror("notify-ready: sendto");
    ::usleep(static_cast<useconds_t>(argc > 1 ? std::atoi(argv[1]) : 0) * 1000);
    if (send_line(path, "READY=1") < 0) {
        std::perror("notify-ready: sendto");
        return 1;
    }
    for (;;)
        ::pause();
}
