// Pack files: blobs followed by a trailing index and checksum (docs/snapshot-format.md).
#pragma once

#include <xxhash.h>

#include <span>
#include <string>
#include <vector>

#include "index.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::snapshot {

std::string pack_rel_path(const ChunkId& pack);  // "packs/<hh>/<id>.pack"

// Deletes packs just written and not yet indexed, which hold only chunks the index lacked:
// nothing refers to them, so an operation failing before its index is written leaves none.
void remove_packs(const std::string& repo, const std::vector<PackRecord>& packs);

// Ids of every pack file under packs/.
Result<std::vector<ChunkId>> list_packs(const std::string& repo);

// Streams blobs into a temp file under tmp/; finish() makes it a pack.
class PackWriter {
  public:
    static Result<PackWriter> start(const std::string& repo);
    PackWriter(PackWriter&&) noexcept;
    PackWriter& operator=(PackWriter&&) = delete;
    ~PackWriter();

    Result<> add(const ChunkId& id, std::span<const uint8_t> stored, uint32_t raw_len,
                 uint32_t flags);
    uint64_t size() const { return offset_; }
    bool empty() const { return entries_.empty(); }
    // Writes the index and trailer, fsyncs and renames into packs/.
    Result<PackRecord> finish();

  private:
    PackWriter() = default;
    Result<> append(const void* data, size_t len);

    std::string repo_, tmp_path_;
    UniqueFd fd_;
    XXH3_state_t* state_ = nullptr;
    uint64_t offset_ = 0;
    std::vector<PackEntry> entries_;
};

// An open pack file and its length, taken once: every location is checked against the bytes
// really there before anything is allocated for it or read.
struct PackFile {
    UniqueFd fd;
    uint64_t size = 0;
    std::string name;  // for errors
};
Result<PackFile> open_pack(const std::string& path);

// The entries of a pack's trailing index. `checksum_ok` is set by reading the whole file.
struct PackContents {
    std::vector<PackEntry> entries;
    bool checksum_ok = false;
};
// Each entry is checked (bad_location, and inside the blob area) as its piece of the trailing
// index is read, so a count the bytes do not back allocates nothing.
Result<PackContents> read_pack(const PackFile& pack, bool check_checksum);
Result<PackContents> read_pack(const std::string& path, bool check_checksum);

// One blob's stored bytes into `stored` (resized to loc.stored_len).
Result<> read_stored(const PackFile& pack, const Location& loc, std::vector<uint8_t>& stored);
// Reads, decompresses and returns one chunk's raw bytes (not re-hashed).
Result<std::vector<uint8_t>> read_blob(const PackFile& pack, const Location& loc);
// The same on an fd the caller keeps, whose length is taken with fstat.
Result<std::vector<uint8_t>> read_blob(int fd, const Location& loc, const std::string& name);
// read_blob into `out` (at least loc.raw_len bytes), for loops over many chunks: the stored
// bytes of a compressed blob go through `stored`, which grows and is never shrunk, and the
// zstd context is the thread's, so a chunk allocates nothing. Not re-hashed either.
Result<> read_blob_into(const PackFile& pack, const Location& loc, std::vector<uint8_t>& stored,
                        uint8_t* out);
// The raw bytes of a blob already read; `flags` and `raw_len` as in the pack index, raw_len at
// most kMaxChunkSize.
Result<std::vector<uint8_t>> decode_blob(std::span<const uint8_t> stored, uint32_t raw_len,
                                         uint32_t flags, const std::string& name);
// decode_blob into `out`, which is grown as output is produced, never to the claimed raw_len
// up front, and never shrunk: after it, out's first raw_len bytes are the blob.
Result<> decode_growing(std::span<const uint8_t> stored, uint32_t raw_len, uint32_t flags,
                        const std::string& name, std::vector<uint8_t>& out);
// decode_blob into `out`, which holds at least raw_len bytes.
Result<> decode_into(std::span<const uint8_t> stored, uint32_t raw_len, uint32_t flags,
                     const std::string& name, uint8_t* out);

// zstd helpers: compress returns empty when compression would not shrink the data.
std::vector<uint8_t> compress_chunk(std::span<const uint8_t> raw, int level);

}  // namespace wmrun::snapshot
