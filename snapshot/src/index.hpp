// The chunk index: chunk id -> where its stored bytes are. Loaded whole into memory so that
// deduplication costs a hash lookup, not a syscall.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/chunk_id.hpp"

namespace wmrun::snapshot {

inline constexpr uint32_t kFlagZstd = 1;

struct PackEntry {
    ChunkId id;
    uint64_t offset = 0;
    uint32_t stored_len = 0, raw_len = 0, flags = 0;
};

struct PackRecord {
    ChunkId pack;
    std::vector<PackEntry> entries;
};

struct Location {
    ChunkId pack;
    uint64_t offset = 0;
    uint32_t stored_len = 0, raw_len = 0, flags = 0;
};

// Why a chunk's location read from an index or pack cannot be right, or nullptr: a raw length
// past kMaxChunkSize, a stored length no encoding of it could have, unknown flags, an offset
// inside the pack's magic or a range past what a file can hold. Checked as entries are read,
// so that reading a chunk never allocates more than the largest chunk.
const char* bad_location(uint64_t offset, uint32_t stored_len, uint32_t raw_len, uint32_t flags);

class Index {
  public:
    // Reads every index/*.idx, refusing one whose checksum does not match.
    static Result<Index> load(const std::string& repo);
    // Adds the entries of one index file's bytes, checked whole before any entry is taken;
    // `name` names the file in errors.
    Result<> add_file(std::string_view data, const std::string& name);
    const Location* find(const ChunkId& id) const {
        auto it = map_.find(id);
        return it == map_.end() ? nullptr : &it->second;
    }
    void add(const PackRecord& pack);
    size_t size() const { return map_.size(); }
    const std::unordered_map<ChunkId, Location, ChunkIdHash>& entries() const { return map_; }
    const std::vector<std::string>& files() const { return files_; }

  private:
    std::unordered_map<ChunkId, Location, ChunkIdHash> map_;
    std::vector<std::string> files_;  // names under index/
};

// Writes one index file covering `packs`; returns its name under index/.
Result<std::string> write_index_file(const std::string& repo, const std::vector<PackRecord>& packs);

}  // namespace wmrun::snapshot
