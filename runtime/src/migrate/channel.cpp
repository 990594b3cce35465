// A migration's two-way channel (channel.hpp).
#include "migrate/channel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime::migrate {

namespace {

constexpr std::size_t kPiece = 1 << 20;  // DATA frames of a stream or file

Result<> read_exact(int fd, char* buf, std::size_t n, const char* what) {
    while (n > 0) {
        ssize_t r = ::read(fd, buf, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sys_error("read", what);
        if (r == 0) return fail("read", what, "the other side closed the channel", EPIPE);
        buf += r;
        n -= static_cast<std::size_t>(r);
    }
    return {};
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return sys_error("pipe2", "migration");
    return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

Result<> Channel::send(const std::string& type, std::string_view payload) {
    char head[12];
    std::memcpy(head, type.data(), 4);
    std::uint64_t n = payload.size();
    for (int i = 0; i < 8; ++i)
        head[4 + i] = static_cast<char>((n >> (8 * i)) & 0xff);
    WM_CHECK(write_all(out_, std::string_view(head, sizeof head), "migration channel"));
    WM_CHECK(write_all(out_, payload, "migration channel"));
    sent_ += sizeof head + payload.size();
    return {};
}

Result<> Channel::send_json(const std::string& type, const Json& j) {
    return send(type, j.dump());
}

Result<Frame> Channel::receive() {
    char head[12];
    WM_CHECK(read_exact(in_, head, sizeof head, "migration channel"));
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
        n |= std::uint64_t(static_cast<unsigned char>(head[4 + i])) << (8 * i);
    Frame f{std::string(head, 4), {}};
    if (n > kMaxFrame)
        return fail("migration channel", f.type,
                    "frame of " + std::to_string(n) + " bytes, over the limit of 64 MiB");
    f.payload.resize(n);
    WM_CHECK(read_exact(in_, f.payload.data(), n, "migration channel"));
    received_ += sizeof head + n;
    return f;
}

Result<std::string> Channel::expect(const std::string& type) {
    auto f = WM_TRY(receive());
    if (f.type == "ERRO") return fail("the other side", "", f.payload);
    if (f.type != type)
        return fail("migration channel", "", "expected a " + type + " frame, got " + f.type);
    return std::move(f.payload);
}

Result<Json> Channel::expect_json(const std::string& type) {
    auto text = WM_TRY(expect(type));
    return parse_json(text, "migration " + type + " frame", {.max_bytes = kMaxFrame});
}

Result<snapshot::SendResult> Channel::send_snapshot(snapshot::Repository& repo,
                                                    const std::string& id,
                                                    const std::string& since) {
    auto [r, w] = WM_TRY(make_pipe());
    Result<snapshot::SendResult> sent = fail("send", id, "not run");
    std::thread writer([&, wfd = std::move(w)]() mutable {
        sent = snapshot::send_snapshot(repo, id, wfd.get(), {.since = since});
        wfd.reset();  // our reader sees the end
    });
    std::string buf(kPiece, '\0');
    Result<> relayed;
    for (;;) {
        ssize_t n = ::read(r.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            relayed = sys_error("read", "snapshot stream");
            break;
        }
        if (n == 0) break;
        if (relayed = send("DATA", std::string_view(buf.data(), std::size_t(n))); !relayed) break;
    }
    r.reset();  // a writer still writing gets EPIPE
    writer.join();
    if (!relayed) return std::unexpected(relayed.error());
    if (!sent) {
        (void)send("ERRO", sent.error().message());
        return sent;
    }
    WM_CHECK(send("DATA", ""));
    return sent;
}

Result<snapshot::ReceiveResult> Channel::receive_snapshot(snapshot::Repository& repo) {
    auto [r, w] = WM_TRY(make_pipe());
    Result<snapshot::ReceiveResult> got = fail("receive", "snapshot", "not run");
    std::thread reader([&, rfd = std::move(r)]() mutable {
        got = snapshot::receive_snapshot(repo, rfd.get());
        rfd.reset();  // a writer still writing gets EPIPE
    });
    Result<> relayed;
    bool feeding = true;
    for (;;) {
        auto f = receive();
        if (!f) {
            relayed = std::unexpected(f.error());
            break;
        }
        if (f->type == "ERRO") {
            relayed = fail("the other side", "", f->payload);
            break;
        }
        if (f->type != "DATA") {
            relayed = fail("migration channel", "", "expected a DATA frame, got " + f->type);
            break;
        }
        if (f->payload.empty()) break;
        // A receiver that stopped reading has its error; the rest of the stream is drained.
        if (feeding && !write_all(w.get(), f->payload, "snapshot stream")) feeding = false;
    }
    w.reset();
    reader.join();
    if (!relayed) return std::unexpected(relayed.error());
    return got;
}

Result<> Channel::send_file(const std::string& path) {
    auto fd = WM_TRY(open_file(path, O_RDONLY));
    std::string buf(kPiece, '\0');
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("read", path);
        if (n == 0) break;
        WM_CHECK(send("DATA", std::string_view(buf.data(), std::size_t(n))));
    }
    return send("DATA", "");
}

Result<std::uint64_t> Channel::receive_file(const std::string& path, std::uint64_t max_bytes) {
    auto fd = WM_TRY(open_file(path, O_WRONLY | O_CREAT | O_EXCL, 0600));
    std::uint64_t total = 0;
    for (;;) {
        auto piece = WM_TRY(expect("DATA"));
        if (piece.empty()) break;
        total += piece.size();
        if (total > max_bytes)
            return fail("receive", path, "more bytes than the descriptor's size");
        WM_CHECK(write_all(fd.get(), piece, path));
    }
    if (::fsync(fd.get()) < 0) return sys_error("fsync", path);
    return total;
}

}  // namespace wmrun::runtime::migrate
