#include "process/notify_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace wmrun::runtime {

namespace {

constexpr const char* kSocketName = "notify.sock";

Result<sockaddr_un> address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("notify socket", path, "path is empty or too long", ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.data(), path.size());
    // sd_notify's abstract form: "@name" means a leading NUL.
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    return addr;
}

socklen_t address_length(const std::string& path) {
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                  (path[0] == '@' ? 0 : 1));
}

}  // namespace

std::string host_notify_socket() {
    const char* value = std::getenv("NOTIFY_SOCKET");
    return value == nullptr ? std::string() : std::string(value);
}

Result<> prepare_notify_socket(Spec& spec, const std::string& state_dir) {
    std::string dir = state_dir + "/notify";
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("mkdir", dir);
    spec.mounts.push_back(
        Mount{kNotifyDirInContainer, "bind", dir, {"bind", "nosuid", "noexec", "nodev"}, {}, {}});
    auto& env = spec.process->env;
    std::erase_if(env, [](const std::string& e) { return e.rfind("NOTIFY_SOCKET=", 0) == 0; });
    env.push_back(std::string("NOTIFY_SOCKET=") + kNotifyDirInContainer + "/" + kSocketName);
    return {};
}

Result<UniqueFd> bind_notify_socket(const std::string& state_dir) {
    std::string dir = state_dir + "/notify", path = dir + "/" + kSocketName;
    // Bound through the directory's fd: a state root deep enough would not fit sun_path.
    UniqueFd dirfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd) return sys_error("open", dir);
    std::string short_path = "/proc/self/fd/" + std::to_string(dirfd.get()) + "/" + kSocketName;
    auto addr = WM_TRY(address(short_path));
    UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return sys_error("socket", path);
    ::unlinkat(dirfd.get(), kSocketName, 0);
    // The container's process may run as any user: the socket is made 0777 by the umask of
    // the bind, not by a chmod after it. The directory is the container's (bound into it), so a
    // chmod by path would follow whatever it had put there meanwhile, /etc/shadow say.
    mode_t old_umask = ::umask(0);
    int rc = ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), address_length(short_path));
    int bind_errno = errno;
    ::umask(old_umask);
    if (rc < 0) return sys_error("bind", path, bind_errno);
    return sock;
}

Result<> forward_until_ready(int sock, int pidfd, pid_t pid, const std::string& host_socket) {
    auto addr = WM_TRY(address(host_socket));
    UniqueFd out(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!out) return sys_error("socket", host_socket);
    char buf[4096];
    for (;;) {
        pollfd fds[2] = {{sock, POLLIN, 0}, {pidfd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return sys_error("poll", "notify socket");
        }
        if (fds[1].revents & POLLIN)
            return fail("start", host_socket, "the container exited before it was ready", ESRCH);
        ssize_t n = ::recv(sock, buf, sizeof buf - 1, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("recv", "notify socket");
        }
        std::string message(buf, static_cast<std::size_t>(n));
        bool ready = ("\n" + message + "\n").find("\nREADY=1\n") != std::string::npos;
        if (ready)
            message += (message.ends_with('\n') ? "" : "\n") + std::string("MAINPID=") +
                       std::to_string(pid) + "\n";
        if (::sendto(out.get(), message.data(), message.size(), 0,
                     reinterpret_cast<sockaddr*>(&addr), address_length(host_socket)) < 0)
            return sys_error("sendto", host_socket);
        if (ready) return {};
    }
}

}  // namespace wmrun::runtime
