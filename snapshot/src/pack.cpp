#include "pack.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <zstd.h>

#include <cstring>

#include "fs_meta.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMPACK01";
constexpr std::string_view kEndMagic = "WMPKEND1";
constexpr size_t kEntrySize = 40;
constexpr size_t kTrailerSize = 4 + 4 + 8 + 16;
constexpr uint64_t kIndexPiece = 4096;  // entries of a trailing index read at a time

}  // namespace

std::string pack_rel_path(const ChunkId& pack) {
    std::string hex = pack.hex();
    return "packs/" + hex.substr(0, 2) + "/" + hex + ".pack";
}

void remove_packs(const std::string& repo, const std::vector<PackRecord>& packs) {
    for (const auto& p : packs)
        ::unlink((repo + "/" + pack_rel_path(p.pack)).c_str());
}

Result<std::vector<ChunkId>> list_packs(const std::string& repo) {
    std::vector<ChunkId> out;
    std::string packs = repo + "/packs";
    UniqueFd dir = WM_TRY(open_file(packs, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const auto& sub : WM_TRY(read_dir_names(dir.get(), packs))) {
        int fd = ::openat(dir.get(), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return sys_error("open", packs + "/" + sub);
        UniqueFd subdir(fd);
        for (const auto& name : WM_TRY(read_dir_names(fd, packs + "/" + sub)))
            if (name.ends_with(".pack"))
                if (auto id = ChunkId::from_hex(std::string_view(name).substr(0, name.size() - 5)))
                    out.push_back(*id);
    }
    return out;
}

Result<PackWriter> PackWriter::start(const std::string& repo) {
    PackWriter w;
    w.repo_ = repo;
    w.tmp_path_ = repo + "/tmp/" + WM_TRY(random_hex(16)) + ".pack";
    w.fd_ = WM_TRY(open_file(w.tmp_path_, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    w.state_ = XXH3_createState();
    XXH3_128bits_reset(w.state_);
    WM_CHECK(w.append(kMagic.data(), kMagic.size()));
    return w;
}

PackWriter::PackWriter(PackWriter&& o) noexcept
    : repo_(std::move(o.repo_)),
      tmp_path_(std::move(o.tmp_path_)),
      fd_(std::move(o.fd_)),
      state_(std::exchange(o.state_, nullptr)),
      offset_(o.offset_),
      entries_(std::move(o.entries_)) {
    o.tmp_path_.clear();
}

PackWriter::~PackWriter() {
    if (state_) XXH3_freeState(state_);
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());  // an unfinished pack is garbage
}

Result<> PackWriter::append(const void* data, size_t len) {
    WM_CHECK(write_all(fd_.get(), {static_cast<const char*>(data), len}, tmp_path_));
    XXH3_128bits_update(state_, data, len);
    offset_ += len;
    return {};
}

Result<> PackWriter::add(const ChunkId& id, std::span<const uint8_t> stored, uint32_t raw_len,
                         uint32_t flags) {
    entries_.push_back({id, offset_, uint32_t(stored.size()), raw_len, flags});
    return append(stored.data(), stored.size());
}

Result<PackRecord> PackWriter::finish() {
    std::string tail;
    tail.reserve(entries_.size() * kEntrySize + kTrailerSize);
    for (const auto& e : entries_) {
        put_id(tail, e.id);
        put_u64(tail, e.offset);
        put_u32(tail, e.stored_len);
        put_u32(tail, e.raw_len);
        put_u32(tail, e.flags);
        put_u32(tail, 0);
    }
    put_u32(tail, uint32_t(entries_.size()));
    put_u32(tail, 0);
    tail.append(kEndMagic);
    WM_CHECK(append(tail.data(), tail.size()));
    XXH128_hash_t h = XXH3_128bits_digest(state_);
    ChunkId sum;
    for (int i = 0; i < 8; ++i) {
        sum.bytes[i] = uint8_t(h.low64 >> (8 * i));
        sum.bytes[8 + i] = uint8_t(h.high64 >> (8 * i));
    }
    std::string s;
    put_id(s, sum);
    WM_CHECK(write_all(fd_.get(), s, tmp_path_));
    if (::fsync(fd_.get()) < 0) return sys_error("fsync", tmp_path_);
    fd_.reset();

    std::string rel = pack_rel_path(sum);
    std::string subdir = repo_ + "/" + rel.substr(0, rel.rfind('/'));
    if (::mkdir(subdir.c_str(), 0755) == 0)
        WM_CHECK(fsync_dir(repo_ + "/packs"));
    else if (errno != EEXIST)
        return sys_error("mkdir", subdir);
    std::string final_path = repo_ + "/" + rel;
    crash_point();
    if (::rename(tmp_path_.c_str(), final_path.c_str()) < 0) return sys_error("rename", tmp_path_);
    tmp_path_.clear();
    crash_point();
    WM_CHECK(fsync_dir(subdir));
    return PackRecord{sum, std::move(entries_)};
}

Result<PackFile> open_pack(const std::string& path) {
    PackFile pack{WM_TRY(open_file(path, O_RDONLY | O_CLOEXEC)), 0, path};
    struct stat st;
    if (::fstat(pack.fd.get(), &st) < 0) return sys_error("fstat", path);
    pack.size = uint64_t(st.st_size);
    return pack;
}

Result<PackContents> read_pack(const std::string& path, bool check_checksum) {
    return read_pack(WM_TRY(open_pack(path)), check_checksum);
}

Result<PackContents> read_pack(const PackFile& pack, bool check_checksum) {
    const std::string& path = pack.name;
    const int fd = pack.fd.get();
    const uint64_t size = pack.size;
    if (size < kMagic.size() + kTrailerSize) return fail("read pack", path, "file too short");
    uint8_t trailer[kTrailerSize];
    WM_CHECK(pread_all(fd, trailer, sizeof trailer, size - kTrailerSize, path));
    if (std::string_view(reinterpret_cast<char*>(trailer + 8), 8) != kEndMagic)
        return fail("read pack", path, "bad trailer magic");
    uint64_t n = get_u32(trailer);
    uint64_t index_len = n * kEntrySize;  // n < 2^32: no wrap
    if (index_len > size - kMagic.size() - kTrailerSize)
        return fail("read pack", path, "index larger than the file");
    uint64_t index_off = size - kTrailerSize - index_len;
    PackContents out;
    out.entries.reserve(size_t(std::min(n, kIndexPiece)));
    std::vector<uint8_t> piece;
    for (uint64_t first = 0; first < n; first += kIndexPiece) {
        uint64_t count = std::min(n - first, kIndexPiece);
        piece.resize(size_t(count * kEntrySize));
        WM_CHECK(pread_all(fd, piece.data(), piece.size(), index_off + first * kEntrySize, path));
        for (uint64_t i = 0; i < count; ++i) {
            const uint8_t* p = piece.data() + i * kEntrySize;
            PackEntry e{get_id(p), get_u64(p + 16), get_u32(p + 24), get_u32(p + 28),
                        get_u32(p + 32)};
            // Between the magic and the index, compared so that offset + stored_len is never
            // computed: it could wrap.
            const char* bad = bad_location(e.offset, e.stored_len, e.raw_len, e.flags);
            if (!bad && (e.offset > index_off || e.stored_len > index_off - e.offset))
                bad = "blob past the pack's data";
            if (bad)
                return fail("read pack", path,
                            "index entry " + std::to_string(first + i) + " out of bounds: " + bad);
            out.entries.push_back(e);
        }
    }
    if (check_checksum) {
        XXH3_state_t* state = XXH3_createState();
        XXH3_128bits_reset(state);
        std::vector<uint8_t> buf(4 << 20);
        uint64_t off = 0, end = size - 16;
        Result<> r;
        while (off < end && r) {
            size_t len = size_t(std::min<uint64_t>(buf.size(), end - off));
            r = pread_all(fd, buf.data(), len, off, path);
            XXH3_128bits_update(state, buf.data(), len);
            off += len;
        }
        XXH128_hash_t h = XXH3_128bits_digest(state);
        XXH3_freeState(state);
        if (!r) return std::unexpected(r.error());
        const uint8_t* sum = trailer + kTrailerSize - 16;
        out.checksum_ok = get_u64(sum) == h.low64 && get_u64(sum + 8) == h.high64;
    }
    return out;
}

namespace {

// One zstd context per thread: ZSTD_decompress would make and free one (over 100 KiB) for
// every chunk.
ZSTD_DCtx* thread_dctx() {
    struct Ctx {
        ZSTD_DCtx* d = ZSTD_createDCtx();
        ~Ctx() { ZSTD_freeDCtx(d); }
    };
    thread_local Ctx ctx;
    return ctx.d;
}

}  // namespace

Result<> decode_into(std::span<const uint8_t> stored, uint32_t raw_len, uint32_t flags,
                     const std::string& name, uint8_t* out) {
    if (!(flags & kFlagZstd)) {
        if (stored.size() != raw_len) return fail("read chunk", name, "length mismatch");
        std::memcpy(out, stored.data(), raw_len);
        return {};
    }
    // Decompressing into `out` needs no window of its own.
    size_t n = ZSTD_decompressDCtx(thread_dctx(), out, raw_len, stored.data(), stored.size());
    if (ZSTD_isError(n)) return fail("decompress chunk", name, ZSTD_getErrorName(n));
    if (n != raw_len) return fail("decompress chunk", name, "length mismatch");
    return {};
}

Result<> decode_growing(std::span<const uint8_t> stored, uint32_t raw_len, uint32_t flags,
                        const std::string& name, std::vector<uint8_t>& out) {
    if (raw_len > kMaxChunkSize) return fail("read chunk", name, "longer than the largest chunk");
    if (!(flags & kFlagZstd) || out.size() >= raw_len) {
        // Raw: raw_len is the stored length, which is there. Or the buffer holds it already.
        if (!(flags & kFlagZstd) && stored.size() != raw_len)
            return fail("read chunk", name, "length mismatch");
        if (out.size() < raw_len) out.resize(raw_len);
        return decode_into(stored, raw_len, flags, name, out.data());
    }
    // The claimed length is only a ceiling: the buffer doubles as real output fills it, from
    // about what 4:1 compression of the stored bytes gives.
    ZSTD_DCtx* d = thread_dctx();
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    size_t cap = std::max(out.size(), std::min<size_t>(raw_len, stored.size() * 4 + (64 << 10)));
    out.resize(cap);
    ZSTD_inBuffer in{stored.data(), stored.size(), 0};
    ZSTD_outBuffer ob{out.data(), cap, 0};
    for (;;) {
        size_t left = ZSTD_decompressStream(d, &ob, &in);
        if (ZSTD_isError(left)) return fail("decompress chunk", name, ZSTD_getErrorName(left));
        if (left == 0) break;  // the frame is complete
        if (ob.pos < ob.size) {
            if (in.pos == in.size) return fail("decompress chunk", name, "truncated frame");
            continue;
        }
        if (ob.size >= raw_len) return fail("decompress chunk", name, "length mismatch");
        out.resize(std::min<size_t>(raw_len, ob.size * 2));
        ob.dst = out.data();
        ob.size = out.size();
    }
    if (ob.pos != raw_len || in.pos != in.size)
        return fail("decompress chunk", name, "length mismatch");
    return {};
}

Result<std::vector<uint8_t>> decode_blob(std::span<const uint8_t> stored, uint32_t raw_len,
                                         uint32_t flags, const std::string& name) {
    std::vector<uint8_t> raw;
    WM_CHECK(decode_growing(stored, raw_len, flags, name, raw));
    raw.resize(raw_len);
    return raw;
}

namespace {

// The blob inside the file, compared so that offset + stored_len is never computed.
Result<> check_in_pack(const PackFile& pack, const Location& loc) {
    if (loc.offset > pack.size || loc.stored_len > pack.size - loc.offset)
        return fail("read chunk", pack.name,
                    "blob at " + std::to_string(loc.offset) + " of " +
                        std::to_string(loc.stored_len) + " bytes is past the end of the pack");
    return {};
}

}  // namespace

Result<> read_stored(const PackFile& pack, const Location& loc, std::vector<uint8_t>& stored) {
    WM_CHECK(check_in_pack(pack, loc));
    stored.resize(loc.stored_len);
    return pread_all(pack.fd.get(), stored.data(), stored.size(), loc.offset, pack.name);
}

Result<std::vector<uint8_t>> read_blob(const PackFile& pack, const Location& loc) {
    std::vector<uint8_t> stored;
    WM_CHECK(read_stored(pack, loc, stored));
    if (!(loc.flags & kFlagZstd)) {
        if (loc.stored_len != loc.raw_len) return fail("read chunk", pack.name, "length mismatch");
        return stored;
    }
    return decode_blob(stored, loc.raw_len, loc.flags, pack.name);
}

Result<std::vector<uint8_t>> read_blob(int fd, const Location& loc, const std::string& name) {
    struct stat st;
    if (::fstat(fd, &st) < 0) return sys_error("fstat", name);
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return sys_error("dup", name);
    return read_blob(PackFile{UniqueFd(own), uint64_t(st.st_size), name}, loc);
}

Result<> read_blob_into(const PackFile& pack, const Location& loc, std::vector<uint8_t>& stored,
                        uint8_t* out) {
    WM_CHECK(check_in_pack(pack, loc));
    if (!(loc.flags & kFlagZstd)) {  // straight into out, without the copy through stored
        if (loc.stored_len != loc.raw_len) return fail("read chunk", pack.name, "length mismatch");
        return pread_all(pack.fd.get(), out, loc.raw_len, loc.offset, pack.name);
    }
    if (stored.size() < loc.stored_len) stored.resize(loc.stored_len);
    WM_CHECK(pread_all(pack.fd.get(), stored.data(), loc.stored_len, loc.offset, pack.name));
    return decode_into({stored.data(), loc.stored_len}, loc.raw_len, loc.flags, pack.name, out);
}

std::vector<uint8_t> compress_chunk(std::span<const uint8_t> raw, int level) {
    // One context per thread: creating one per chunk would cost more than compressing.
    struct Ctx {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        ~Ctx() { ZSTD_freeCCtx(c); }
    };
    thread_local Ctx ctx;
    std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compressCCtx(ctx.c, out.data(), out.size(), raw.data(), raw.size(), level);
    if (ZSTD_isError(n) || n >= raw.size()) return {};
    out.resize(n);
    return out;
}

}  // namespace wmrun::snapshot
