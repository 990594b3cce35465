// The migration channel: frames both ways over a socket pair, what a hostile other side may
// claim (a frame length over the limit, more file bytes than announced), and its errors.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "migrate/channel.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/overlay/temp_dir.hpp"

using namespace wmrun;
using Catch::Matchers::Contains;
using runtime::migrate::Channel;

namespace {

struct Pair {
    UniqueFd a, b;
    Pair() {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
};

// A frame header as the other side could write it: type and a little-endian length.
std::string raw_header(const char* type, std::uint64_t n) {
    std::string h(type, 4);
    for (int i = 0; i < 8; ++i)
        h.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return h;
}

}  // namespace

TEST_CASE("frames and JSON cross the channel in order, counted both ways") {
    Pair p;
    Channel left(p.a.get(), p.a.get()), right(p.b.get(), p.b.get());
    REQUIRE(left.send_json("HELO", {{"id", "c1"}}));
    REQUIRE(left.send("DATA", std::string(100000, 'x')));
    REQUIRE(left.send("DATA", ""));
    CHECK(right.expect_json("HELO").value()["id"] == "c1");
    auto data = right.receive().value();
    CHECK(data.type == "DATA");
    CHECK(data.payload.size() == 100000);
    CHECK(right.expect("DATA").value().empty());
    CHECK(left.bytes_sent() == right.bytes_received());
}

TEST_CASE("the other side's error frame is its error, and a wrong frame is refused") {
    Pair p;
    Channel left(p.a.get(), p.a.get()), right(p.b.get(), p.b.get());
    REQUIRE(left.send("ERRO", "create: c1: container with given ID already exists"));
    auto e = right.expect_json("HAVE");
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message(), Contains("already exists"));
    REQUIRE(left.send_json("RCVD", Json::object()));
    auto wrong = right.expect_json("HAVE");
    REQUIRE_FALSE(wrong);
    CHECK_THAT(wrong.error().message(), Contains("expected a HAVE frame, got RCVD"));
}

TEST_CASE("a claimed frame length over the limit is refused before it is allocated") {
    Pair p;
    Channel right(p.b.get(), p.b.get());
    REQUIRE(write_all(p.a.get(), raw_header("DATA", std::uint64_t(1) << 62), "test"));
    auto f = right.receive();
    REQUIRE_FALSE(f);
    CHECK_THAT(f.error().message(), Contains("over the limit of 64 MiB"));
}

TEST_CASE("a channel closed mid-frame is an error naming the closed channel") {
    Pair p;
    Channel right(p.b.get(), p.b.get());
    REQUIRE(write_all(p.a.get(), raw_header("DATA", 10) + "abc", "test"));
    p.a.reset();
    auto f = right.receive();
    REQUIRE_FALSE(f);
    CHECK_THAT(f.error().message(), Contains("closed the channel"));
}

TEST_CASE("a file crosses whole, and more bytes than announced are refused") {
    auto dir = overlay::TempDir::create("/tmp", "wmrun-channel-test-").value();
    std::string src = dir.path() + "/src", dst = dir.path() + "/dst", big = dir.path() + "/big";
    REQUIRE(write_file_atomic(src, std::string(3 << 20, 'y')));
    Pair p;
    Channel left(p.a.get(), p.a.get()), right(p.b.get(), p.b.get());
    std::thread sender([&] { REQUIRE(left.send_file(src)); });
    CHECK(right.receive_file(dst, 3 << 20).value() == std::uint64_t(3 << 20));
    sender.join();
    CHECK(read_file(dst).value() == read_file(src).value());

    ::signal(SIGPIPE, SIG_IGN);  // as migrate does: the liar's writes fail with EPIPE
    std::thread liar([&] { CHECK_FALSE(left.send_file(src)); });
    auto over = right.receive_file(big, 1 << 20);
    REQUIRE_FALSE(over);
    CHECK_THAT(over.error().message(), Contains("more bytes than the descriptor's size"));
    // The rest of what the liar sends is left unread: closing our end lets it finish.
    p.b.reset();
    liar.join();
}
