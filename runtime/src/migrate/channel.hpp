#pragma once
// The two-way channel of a migration (docs/operations.md, "Migration"): frames of a 4-byte type,
// an 8-byte little-endian length and a payload, over a pipe pair or a socket (ssh, a command's
// stdin and stdout). Control frames carry JSON; a snapshot stream travels as DATA frames ended
// by an empty one, so that it needs no length up front and the channel goes on after it.
#include <cstdint>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/snapshot/repository.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::runtime::migrate {

// The largest control frame or blob piece either side accepts: the other side is another
// host, and what it claims is bounded before memory is spent on it.
inline constexpr std::uint64_t kMaxFrame = std::uint64_t(64) << 20;

struct Frame {
    std::string type;  // 4 characters
    std::string payload;
};

class Channel {
  public:
    Channel(int in, int out) : in_(in), out_(out) {}

    Result<> send(const std::string& type, std::string_view payload);
    Result<> send_json(const std::string& type, const Json& j);
    Result<Frame> receive();
    // The next frame, which must be `type`; an ERRO frame from the other side is its error.
    Result<Json> expect_json(const std::string& type);
    Result<std::string> expect(const std::string& type);

    // A snapshot stream (send_snapshot) as DATA frames and an empty DATA frame.
    Result<snapshot::SendResult> send_snapshot(snapshot::Repository& repo, const std::string& id,
                                               const std::string& since);
    // The other side's send_snapshot, into `repo` (receive_snapshot: verified, then visible).
    Result<snapshot::ReceiveResult> receive_snapshot(snapshot::Repository& repo);
    // A file's bytes as DATA frames and an empty one; receive_file writes them to `path`.
    Result<> send_file(const std::string& path);
    Result<std::uint64_t> receive_file(const std::string& path, std::uint64_t max_bytes);

    std::uint64_t bytes_sent() const { return sent_; }
    std::uint64_t bytes_received() const { return received_; }

  private:
    int in_, out_;
    std::uint64_t sent_ = 0, received_ = 0;
};

}  // namespace wmrun::runtime::migrate
