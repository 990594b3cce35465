// stats --serve's checks before anything listens: addresses, loopback, the token.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "wmrun/runtime/stats_serve.hpp"

using namespace wmrun;

namespace {

std::string token_file(const std::string& text, mode_t mode) {
    char path[] = "/tmp/stats-token-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path) << text;
    ::chmod(path, mode);
    return path;
}

}  // namespace

TEST_CASE("serve addresses: loopback by default") {
    auto v4 = runtime::serve_options("127.0.0.1:9323", false, "");
    REQUIRE(v4);
    CHECK(v4->host == "127.0.0.1");
    CHECK(v4->port == 9323);
    CHECK(v4->loopback);
    auto v6 = runtime::serve_options("[::1]:80", false, "");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(runtime::serve_options("localhost:1", false, "")->host == "127.0.0.1");
    CHECK(runtime::serve_options("127.9.9.9:1", false, "")->loopback);

    for (const char* bad : {"9323", ":9323", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:12ab", "[::1:80", "example.org:80", "::1:80"}) {
        INFO(bad);
        CHECK_FALSE(runtime::serve_options(bad, false, ""));
    }
    auto remote = runtime::serve_options("0.0.0.0:9323", false, "");
    REQUIRE_FALSE(remote);
    CHECK(remote.error().message().find("--allow-remote") != std::string::npos);
    auto no_token = runtime::serve_options("0.0.0.0:9323", true, "");
    REQUIRE_FALSE(no_token);
    CHECK(no_token.error().message().find("--token-file") != std::string::npos);
}

TEST_CASE("the token file: private, long enough, first line") {
    std::string good = token_file("0123456789abcdef-token\nignored\n", 0600);
    auto o = runtime::serve_options("0.0.0.0:9323", true, good);
    REQUIRE(o);
    CHECK(o->token == "0123456789abcdef-token");
    CHECK_FALSE(o->loopback);
    std::string open = token_file("0123456789abcdef-token\n", 0644);
    CHECK_FALSE(runtime::serve_options("127.0.0.1:9323", false, open));
    std::string shorter = token_file("short\n", 0600);
    CHECK_FALSE(runtime::serve_options("127.0.0.1:9323", false, shorter));
    CHECK_FALSE(runtime::serve_options("127.0.0.1:9323", false, "/nonexistent/stats-token"));
    for (const auto& p : {good, open, shorter})
        std::remove(p.c_str());
}

TEST_CASE("bearer tokens match exactly") {
    std::string t = "0123456789abcdef";
    CHECK(runtime::bearer_matches("Bearer 0123456789abcdef", t));
    CHECK_FALSE(runtime::bearer_matches("Bearer 0123456789abcde", t));
    CHECK_FALSE(runtime::bearer_matches("Bearer 0123456789abcdefg", t));
    CHECK_FALSE(runtime::bearer_matches("Basic 0123456789abcdef", t));
    CHECK_FALSE(runtime::bearer_matches("", t));
    CHECK_FALSE(runtime::bearer_matches("Bearer ", ""));
}
