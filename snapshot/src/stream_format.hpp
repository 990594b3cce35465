// Framing of snapshot streams (docs/snapshot-format.md, "Streams"): the header, checksummed
// records, and the end record that proves the stream is whole.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/chunk_id.hpp"
#include "wmrun/snapshot/limits.hpp"

namespace wmrun::snapshot {

inline constexpr std::string_view kStreamMagic = "WMSTRM01";
inline constexpr uint32_t kStreamVersion = 1;
inline constexpr size_t kRecordHead = 16;  // tag 4, reserved u32, length u64
inline constexpr size_t kChunkHead = 40;   // sender id 16, raw checksum 16, raw_len, flags

namespace tag {
inline constexpr std::string_view head = "HEAD", manifest = "MANI", base = "BASE", chunk = "CHNK",
                                  end = "END!";
}

// Buffers writes to an fd and keeps the running checksum of everything written.
class StreamWriter {
  public:
    explicit StreamWriter(int fd);
    StreamWriter(const StreamWriter&) = delete;
    StreamWriter& operator=(const StreamWriter&) = delete;
    ~StreamWriter();

    Result<> header();
    // One record whose payload is `a` followed by `b`.
    Result<> record(std::string_view tag, std::string_view a, std::string_view b = {});
    // The END! record (record count and the checksum of all bytes before it), then a flush.
    Result<> finish();
    uint64_t bytes() const { return bytes_; }

  private:
    Result<> put(std::string_view data);
    Result<> flush();

    int fd_;
    std::string buf_;
    XXH3_state_t* total_;
    uint64_t bytes_ = 0, records_ = 0;
};

struct Record {
    std::string tag;
    std::string payload;
    uint64_t offset = 0;  // of the record's first byte in the stream
    uint64_t number = 0;  // HEAD is record 1
};

// "byte 40: record 2 (MANI)", where errors name a record; a tag that is not printable ASCII
// is escaped.
std::string record_name(const Record& r);

// Reads records from an fd, checking each one's checksum; errors name the record and its byte
// offset. A record's length is checked against `max_record` (Limits::max_stream_record) and
// its payload grows as its bytes arrive, so a stream pays in bytes sent for the memory used.
class StreamReader {
  public:
    explicit StreamReader(int fd, uint64_t max_record = Limits{}.max_stream_record);
    StreamReader(const StreamReader&) = delete;
    StreamReader& operator=(const StreamReader&) = delete;
    ~StreamReader();

    Result<> header();
    Result<Record> next();
    // Checks an END! record against what was read before it, and that nothing follows it.
    Result<> check_end(const Record& end);
    uint64_t bytes() const { return offset_; }

  private:
    Result<> read_exact(char* out, size_t len, const char* what);
    std::unexpected<Error> bad(uint64_t at, const std::string& what) const;

    int fd_;
    std::string buf_;
    size_t pos_ = 0;  // next unread byte in buf_
    XXH3_state_t* total_;
    XXH128_hash_t before_end_{};
    uint64_t max_record_;
    uint64_t offset_ = 0, records_ = 0;
};

}  // namespace wmrun::snapshot
