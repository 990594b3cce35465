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

// The entries of a pack's trailing index. `checksum_ok` is set by reading the whole file.
struct PackContents {
    std::vector<PackEntry> entries;
    bool checksum_ok = false;
};
Result<PackContents> read_pack(const std::string& path, bool check_checksum);

// Reads, decompresses and returns one chunk's raw bytes (not re-hashed).
Result<std::vector<uint8_t>> read_blob(int fd, const Location& loc, const std::string& name);
// read_blob into `out` (at least loc.raw_len bytes), for loops over many chunks: the stored
// bytes of a compressed blob go through `stored`, which grows and is never shrunk, and the
// zstd context is the thread's, so a chunk allocates nothing. Not re-hashed either.
Result<> read_blob_into(int fd, const Location& loc, const std::string& name,
                        std::vector<uint8_t>& stored, uint8_t* out);
// The raw bytes of a blob already read; `flags` and `raw_len` as in the pack index.
Result<std::vector<uint8_t>> decode_blob(std::span<const uint8_t> stored, uint32_t raw_len,
                                         uint32_t flags, const std::string& name);

// zstd helpers: compress returns empty when compression would not shrink the data.
std::vector<uint8_t> compress_chunk(std::span<const uint8_t> raw, int level);

}  // namespace wmrun::snapshot
