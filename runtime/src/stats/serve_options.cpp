// stats --serve: the listening address and the token, checked before anything binds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/stats_serve.hpp"

namespace wmrun::runtime {

namespace {

constexpr std::size_t kMinTokenLength = 16;

Result<ServeOptions> parse_address(const std::string& listen) {
    auto bad = [&](const std::string& why) {
        return fail("read flags", "--serve " + listen, why, EINVAL);
    };
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad("want ADDR:PORT");
    ServeOptions o;
    o.host = listen.substr(0, colon);
    std::string port = listen.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), o.port);
    if (ec != std::errc() || end != port.data() + port.size() || o.port < 1 || o.port > 65535)
        return bad("port must be a number from 1 to 65535");
    if (o.host.front() == '[') {
        if (o.host.back() != ']') return bad("an IPv6 address goes in brackets: [::1]:PORT");
        o.host = o.host.substr(1, o.host.size() - 2);
    } else if (o.host.find(':') != std::string::npos) {
        return bad("an IPv6 address goes in brackets: [::1]:PORT");
    }
    if (o.host == "localhost") o.host = "127.0.0.1";
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, o.host.c_str(), &v4) == 1) {
        o.loopback = (ntohl(v4.s_addr) >> 24) == 127;
    } else if (::inet_pton(AF_INET6, o.host.c_str(), &v6) == 1) {
        o.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
    } else {
        return bad("not an IP address (or localhost): " + o.host);
    }
    return o;
}

Result<std::string> read_token(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return sys_error("open token file", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return sys_error("stat token file", path);
    if (!S_ISREG(st.st_mode)) return fail("read token file", path, "not a regular file", EINVAL);
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return fail("read token file", path, "readable by others than its owner: chmod 600",
                    EPERM);
    std::string text = WM_TRY(read_fd(fd.get(), path, 4096));
    std::string token = text.substr(0, text.find('\n'));
    if (token.size() < kMinTokenLength)
        return fail("read token file", path, "the token must be 16 characters or more", EINVAL);
    return token;
}

}  // namespace

Result<ServeOptions> serve_options(const std::string& listen, bool allow_remote,
                                   const std::string& token_file) {
    auto o = WM_TRY(parse_address(listen));
    if (!o.loopback && !allow_remote)
        return fail("read flags", "--serve " + listen,
                    "not a loopback address: add --allow-remote (with --token-file) to serve "
                    "other hosts",
                    EPERM);
    if (allow_remote && token_file.empty())
        return fail("read flags", "--allow-remote", "needs --token-file: remote readers must "
                    "present a bearer token", EINVAL);
    if (!token_file.empty()) {
        o.token = WM_TRY(read_token(token_file));
        o.token_file = token_file;
    }
    return o;
}

bool bearer_matches(const std::string& authorization, const std::string& token) {
    constexpr std::string_view prefix = "Bearer ";
    if (token.empty() || !authorization.starts_with(prefix)) return false;
    std::string_view given = std::string_view(authorization).substr(prefix.size());
    // Every byte of the longer one is looked at, so the time says nothing of where they differ.
    unsigned char diff = given.size() == token.size() ? 0 : 1;
    std::size_t n = std::max(given.size(), token.size());
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char a = i < given.size() ? given[i] : 0, b = i < token.size() ? token[i] : 0;
        diff |= a ^ b;
    }
    return diff == 0;
}

}  // namespace wmrun::runtime
