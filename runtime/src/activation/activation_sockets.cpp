#include "activation/activation_sockets.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace wmrun::runtime {

namespace {

std::string sanitized_name(std::string name) {
    // LISTEN_FDNAMES is colon-separated; systemd allows printable ASCII without ':'.
    for (char& c : name)
        if (c == ':' || c < 0x21 || c > 0x7e) c = '_';
    return name;
}

Result<Listener> open_tcp(const std::string& spec, const std::string& rest) {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return fail("listen", spec, "expected tcp:HOST:PORT", EINVAL);
    std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) return fail("listen", spec, ::gai_strerror(rc), EINVAL);
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);

    Listener l;
    l.spec = spec;
    l.family = found->ai_family;
    l.fd.reset(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!l.fd) return sys_error("socket", spec);
    int one = 1;
    ::setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(l.fd.get(), found->ai_addr, found->ai_addrlen) < 0) return sys_error("bind", spec);
    if (::listen(l.fd.get(), SOMAXCONN) < 0) return sys_error("listen", spec);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) < 0)
        return sys_error("getsockname", spec);
    l.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    l.name = "tcp-" + std::to_string(l.port);
    return l;
}

Result<Listener> open_unix(const std::string& spec, const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("listen", spec, "unix socket path is empty or too long", EINVAL);
    std::memcpy(addr.sun_path, path.data(), path.size());
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail("listen", path, "exists and is not a socket", EEXIST);
        if (::unlink(path.c_str()) < 0) return sys_error("unlink", path);
    }
    Listener l;
    l.spec = spec;
    l.family = AF_UNIX;
    l.path = path;
    l.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!l.fd) return sys_error("socket", spec);
    if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return sys_error("bind", path);
    if (::listen(l.fd.get(), SOMAXCONN) < 0) return sys_error("listen", path);
    auto slash = path.rfind('/');
    l.name = sanitized_name(slash == std::string::npos ? path : path.substr(slash + 1));
    return l;
}

// One sock_diag dump; `each` sees every message of the answer.
template <typename Request, typename Each>
Result<> diag_dump(const Request& request, Each&& each) {
    UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl) return sys_error("socket", "NETLINK_SOCK_DIAG");
    struct {
        nlmsghdr header;
        Request body;
    } msg{};
    msg.header.nlmsg_len = sizeof msg;
    msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.body = request;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(nl.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
        return sys_error("sendto", "sock_diag");
    alignas(nlmsghdr) char buf[32768];
    for (;;) {
        ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("recv", "sock_diag");
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE) return {};
            if (h->nlmsg_type == NLMSG_ERROR) {
                auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
                return sys_error("sock_diag", "", -e->error);
            }
            each(h);
        }
    }
}

Result<std::size_t> tcp_connections(int family, const std::vector<std::uint16_t>& ports) {
    inet_diag_req_v2 req{};
    req.sdiag_family = static_cast<__u8>(family);
    req.sdiag_protocol = IPPROTO_TCP;
    req.idiag_states = (1U << TCP_ESTABLISHED) | (1U << TCP_SYN_RECV) | (1U << TCP_CLOSE_WAIT);
    std::size_t count = 0;
    WM_CHECK(diag_dump(req, [&](nlmsghdr* h) {
        auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
        if (std::find(ports.begin(), ports.end(), ntohs(m->id.idiag_sport)) != ports.end()) ++count;
    }));
    return count;
}

Result<std::size_t> unix_connections(const std::string& path) {
    unix_diag_req req{};
    req.sdiag_family = AF_UNIX;
    req.udiag_states = 1U << TCP_ESTABLISHED;
    req.udiag_show = UDIAG_SHOW_NAME;
    std::size_t count = 0;
    WM_CHECK(diag_dump(req, [&](nlmsghdr* h) {
        auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
        int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
        for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type != UNIX_DIAG_NAME) continue;
            // An accepted socket carries its listener's address.
            std::string_view name(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a));
            while (!name.empty() && name.back() == '\0')
                name.remove_suffix(1);
            if (name == path) ++count;
        }
    }));
    return count;
}

}  // namespace

Result<Listener> open_listener(const std::string& spec) {
    if (spec.rfind("tcp:", 0) == 0) return open_tcp(spec, spec.substr(4));
    if (spec.rfind("unix:", 0) == 0) return open_unix(spec, spec.substr(5));
    return fail("listen", spec, "expected tcp:HOST:PORT or unix:PATH", EINVAL);
}

bool connection_pending(const std::vector<Listener>& listeners) {
    std::vector<pollfd> fds;
    for (const auto& l : listeners)
        fds.push_back({l.fd.get(), POLLIN, 0});
    return ::poll(fds.data(), fds.size(), 0) > 0;
}

Result<std::size_t> open_connections(const std::vector<Listener>& listeners) {
    std::size_t count = 0;
    std::vector<std::uint16_t> ports[2];  // one dump per family serves every tcp listener
    for (const auto& l : listeners) {
        if (l.family == AF_UNIX)
            count += WM_TRY(unix_connections(l.path));
        else
            ports[l.family == AF_INET6].push_back(l.port);
    }
    if (!ports[0].empty()) count += WM_TRY(tcp_connections(AF_INET, ports[0]));
    if (!ports[1].empty()) count += WM_TRY(tcp_connections(AF_INET6, ports[1]));
    return count;
}

}  // namespace wmrun::runtime
