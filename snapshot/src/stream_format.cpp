#include "stream_format.hpp"

#include <unistd.h>

#include <cstring>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr size_t kBufferSize = 1 << 20;

void put_hash(std::string& out, XXH128_hash_t h) {
    put_u64(out, h.low64);
    put_u64(out, h.high64);
}

bool same_hash(const uint8_t* p, XXH128_hash_t h) {
    return get_u64(p) == h.low64 && get_u64(p + 8) == h.high64;
}

std::string record_head(std::string_view tag, uint64_t len) {
    std::string head(tag);
    put_u32(head, 0);
    put_u64(head, len);
    return head;
}

}  // namespace

StreamWriter::StreamWriter(int fd) : fd_(fd), total_(XXH3_createState()) {
    XXH3_128bits_reset(total_);
    buf_.reserve(kBufferSize);
}

StreamWriter::~StreamWriter() {
    XXH3_freeState(total_);
}

Result<> StreamWriter::put(std::string_view data) {
    XXH3_128bits_update(total_, data.data(), data.size());
    bytes_ += data.size();
    if (buf_.size() + data.size() > kBufferSize) WM_CHECK(flush());
    if (data.size() >= kBufferSize) return write_all(fd_, data, "stream");
    buf_.append(data);
    return {};
}

Result<> StreamWriter::flush() {
    WM_CHECK(write_all(fd_, buf_, "stream"));
    buf_.clear();
    return {};
}

Result<> StreamWriter::header() {
    std::string h(kStreamMagic);
    put_u32(h, kStreamVersion);
    put_u32(h, 0);
    return put(h);
}

Result<> StreamWriter::record(std::string_view tag, std::string_view a, std::string_view b) {
    std::string head = record_head(tag, a.size() + b.size());
    XXH3_state_t* st = XXH3_createState();
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, head.data(), head.size());
    XXH3_128bits_update(st, a.data(), a.size());
    XXH3_128bits_update(st, b.data(), b.size());
    std::string sum;
    put_hash(sum, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    WM_CHECK(put(head));
    WM_CHECK(put(a));
    WM_CHECK(put(b));
    WM_CHECK(put(sum));
    ++records_;
    return {};
}

Result<> StreamWriter::finish() {
    std::string payload;
    put_u64(payload, records_);
    put_hash(payload, XXH3_128bits_digest(total_));
    WM_CHECK(record(tag::end, payload));
    return flush();
}

std::string record_name(const Record& r) {
    return "byte " + std::to_string(r.offset) + ": record " + std::to_string(r.number) + " (" +
           printable(r.tag) + ")";
}

StreamReader::StreamReader(int fd, uint64_t max_record)
    : fd_(fd), total_(XXH3_createState()), max_record_(max_record) {
    XXH3_128bits_reset(total_);
}

StreamReader::~StreamReader() {
    XXH3_freeState(total_);
}

std::unexpected<Error> StreamReader::bad(uint64_t at, const std::string& what) const {
    return fail("read stream", "byte " + std::to_string(at), what);
}

Result<> StreamReader::read_exact(char* out, size_t len, const char* what) {
    uint64_t start = offset_;
    while (len > 0) {
        if (pos_ == buf_.size()) {
            buf_.resize(kBufferSize);
            pos_ = 0;
            ssize_t n;
            do {
                n = ::read(fd_, buf_.data(), buf_.size());
            } while (n < 0 && errno == EINTR);
            if (n < 0) return sys_error("read", "stream");
            buf_.resize(size_t(n));
            if (n == 0) return bad(start, std::string("truncated stream: it ends inside ") + what);
        }
        size_t n = std::min(len, buf_.size() - pos_);
        std::memcpy(out, buf_.data() + pos_, n);
        XXH3_128bits_update(total_, buf_.data() + pos_, n);
        pos_ += n;
        out += n;
        len -= n;
        offset_ += n;
    }
    return {};
}

Result<> StreamReader::header() {
    char h[16];
    auto r = read_exact(h, sizeof h, "the header");
    // A short input that is not even a prefix of the magic is named as not a stream.
    size_t got = size_t(std::min<uint64_t>(offset_, kStreamMagic.size()));
    if (std::string_view(h, got) != kStreamMagic.substr(0, got))
        return bad(0, "not a wmrun snapshot stream (bad magic)");
    if (!r) return offset_ == 0 ? bad(0, "empty stream") : r;
    uint32_t version = get_u32(reinterpret_cast<const uint8_t*>(h + 8));
    if (version != kStreamVersion)
        return bad(8, "unsupported stream version " + std::to_string(version));
    return {};
}

Result<Record> StreamReader::next() {
    before_end_ = XXH3_128bits_digest(total_);
    Record r;
    r.offset = offset_;
    r.number = records_ + 1;
    char head[kRecordHead];
    WM_CHECK(read_exact(head, sizeof head, "a record header"));
    const auto* h = reinterpret_cast<const uint8_t*>(head);
    r.tag.assign(head, 4);
    uint64_t len = get_u64(h + 8);
    if (len > max_record_)
        return fail("read stream", record_name(r),
                    over_limit("a payload of " + std::to_string(len) + " bytes", max_record_,
                               "--max-stream-record"),
                    EFBIG);
    // Grown a piece at a time as the bytes arrive: a record that claims more than the
    // stream holds costs what was sent, not what was claimed.
    while (r.payload.size() < len) {
        size_t have = r.payload.size();
        size_t piece = size_t(std::min<uint64_t>(len - have, kBufferSize));
        resize_uninitialized(r.payload, have + piece);
        WM_CHECK(read_exact(r.payload.data() + have, piece, "a record"));
    }
    uint8_t sum[16];
    WM_CHECK(read_exact(reinterpret_cast<char*>(sum), sizeof sum, "a record checksum"));
    XXH3_state_t* st = XXH3_createState();
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, head, sizeof head);
    XXH3_128bits_update(st, r.payload.data(), r.payload.size());
    XXH128_hash_t want = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    if (!same_hash(sum, want))
        return fail("read stream", record_name(r),
                    "record checksum mismatch: the stream is corrupted");
    ++records_;
    return r;
}

Result<> StreamReader::check_end(const Record& end) {
    const auto* p = reinterpret_cast<const uint8_t*>(end.payload.data());
    auto bad_end = [&](const std::string& what) {
        return fail("read stream", record_name(end), what);
    };
    if (end.payload.size() != 24) return bad_end("bad end record");
    if (get_u64(p) != records_ - 1)
        return bad_end("end record counts " + std::to_string(get_u64(p)) +
                       " records, the stream held " + std::to_string(records_ - 1));
    if (!same_hash(p + 8, before_end_)) return bad_end("stream checksum mismatch");
    char extra;
    if (pos_ < buf_.size()) return bad(offset_, "data after the end record");
    ssize_t n;
    do {
        n = ::read(fd_, &extra, 1);
    } while (n < 0 && errno == EINTR);
    if (n > 0) return bad(offset_, "data after the end record");
    return {};
}

}  // namespace wmrun::snapshot
