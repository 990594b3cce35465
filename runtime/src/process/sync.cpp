#include "process/sync.hpp"
#include "wmrun/base/syscall.hpp"

#include <linux/sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace wmrun::runtime {

namespace {

struct Message {
    SyncType type;
    int err;
    char op[256];
    char path[1024];
    char detail[1024];
};

void copy_field(char* dst, std::size_t size, const std::string& src) {
    std::size_t n = std::min(size - 1, src.size());
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

}  // namespace

Result<> sync_send(int fd, SyncType type, const Error* error, int value) {
    Message msg{};
    msg.type = type;
    msg.err = value;
    if (error != nullptr) {
        msg.err = error->err;
        copy_field(msg.op, sizeof msg.op, error->op);
        copy_field(msg.path, sizeof msg.path, error->path);
        copy_field(msg.detail, sizeof msg.detail, error->detail);
    }
    ssize_t n;
    do {
        n = ::send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof msg)) return sys_error("send", "sync socket");
    return {};
}

Result<SyncType> sync_recv(int fd, Error* error_out, const char* peer, int* value_out) {
    Message msg{};
    ssize_t n;
    do {
        n = ::recv(fd, &msg, sizeof msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return sys_error("recv", "sync socket");
    if (n == 0) return fail("wait for " + std::string(peer), "", "exited before it was ready");
    if (n != static_cast<ssize_t>(sizeof msg)) return fail("recv", "sync socket", "short message");
    if (value_out != nullptr) *value_out = msg.err;
    if (msg.type == SyncType::error && error_out != nullptr) {
        msg.op[sizeof msg.op - 1] = msg.path[sizeof msg.path - 1] = '\0';
        msg.detail[sizeof msg.detail - 1] = '\0';
        *error_out = Error{msg.op, msg.path, msg.err, msg.detail};
    }
    return msg.type;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) return sys_error("socket", path);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("connect", path, "path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return sys_error("connect", path);
    return sock;
}

Result<> send_fd(int sock, int fd, const char* what, std::string_view payload) {
    char one = 'F';
    if (payload.empty()) payload = std::string_view(&one, 1);
    iovec iov{const_cast<char*>(payload.data()), payload.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do {
        n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return sys_error("send " + std::string(what), "");
    // A stream socket may take the payload in parts; the rest goes without the fd.
    for (auto rest = payload.substr(static_cast<std::size_t>(n)); !rest.empty();) {
        n = ::send(sock, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("send " + std::string(what), "");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

Result<int> recv_fd(int sock, const char* what) {
    char data;
    iovec iov{&data, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
        return sys_error("receive " + std::string(what), "");
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == nullptr || c->cmsg_type != SCM_RIGHTS)
        return fail("receive " + std::string(what), "", "no file descriptor in message");
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

Result<> fork_sibling_and_exit(int sync_fd, const char* what) {
    clone_args ca{};
    ca.flags = CLONE_PARENT;
    long pid = sys::clone3(&ca, sizeof ca);
    if (pid < 0) return sys_error("clone3", what);
    if (pid == 0) return {};
    (void)sync_send(sync_fd, SyncType::child_pid, nullptr, static_cast<int>(pid));
    ::_exit(0);
}

}  // namespace wmrun::runtime

namespace wmrun::runtime {

Result<ForkedChild> adopt_forked_child(int sync_fd, int reporter, const char* what) {
    Error error;
    int forked = 0;
    auto msg = sync_recv(sync_fd, &error, what, &forked);
    // The reporter exits right after its message (or after an error): reap it either way.
    ::waitid(P_PIDFD, static_cast<id_t>(reporter), nullptr, WEXITED);
    if (!msg) return std::unexpected(msg.error());
    if (*msg == SyncType::error) return std::unexpected(error);
    if (*msg != SyncType::child_pid) return fail(what, "", "unexpected message");
    ForkedChild child;
    if (forked == 0) return child;
    // WNOWAIT|WNOHANG: fails with ECHILD unless `forked` is our child, and leaves it be. Being
    // our child, it cannot be reaped (and its pid reused) by anyone else before pidfd_open.
    siginfo_t info{};
    if (forked < 0 ||
        ::waitid(P_PID, static_cast<id_t>(forked), &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return fail(what, std::to_string(forked), "reported a process that is not its fork");
    child.pidfd.reset(static_cast<int>(sys::pidfd_open(forked, 0)));
    if (!child.pidfd) return sys_error("pidfd_open", std::to_string(forked));
    child.pid = forked;
    return child;
}

}  // namespace wmrun::runtime
