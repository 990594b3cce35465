// FastCDC content-defined chunking with normalized chunking (docs/snapshot-format.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::snapshot {

// The largest chunk of any repository: readers refuse a longer length before allocating for it.
inline constexpr uint32_t kMaxChunkSize = 64u << 20;

struct ChunkerParams {
    uint32_t min_size = 64 * 1024;
    uint32_t avg_size = 256 * 1024;  // a power of two
    uint32_t max_size = 1024 * 1024;
    bool valid() const;
};

class Chunker {
  public:
    // `gear_seed` makes boundaries depend on the repository key.
    Chunker(const ChunkerParams& params, uint64_t gear_seed);

    // Length of the next chunk of `data`. `data` must hold at least max_size bytes unless it
    // is the end of the stream.
    size_t cut(const uint8_t* data, size_t len) const;

    const ChunkerParams& params() const { return params_; }

  private:
    ChunkerParams params_;
    uint64_t mask_strict_ = 0;
    uint64_t mask_loose_ = 0;
    std::array<uint64_t, 256> gear_{};
};

// Reads a stream through `read` (returns bytes read, 0 at the end) in large blocks and calls
// `on_chunk` for each chunk in order. The spans stay valid only during the call.
using ReadFn = std::function<Result<size_t>(uint8_t* buf, size_t len)>;
using ChunkFn = std::function<Result<>(std::span<const uint8_t> chunk)>;
Result<> chunk_stream(const Chunker& chunker, const ReadFn& read, const ChunkFn& on_chunk,
                      size_t read_block = 8 << 20);
// The same with a caller-owned buffer, grown as needed and reused across files: a fresh
// multi-MiB buffer per small file would cost more in page faults than the file's content.
Result<> chunk_stream(const Chunker& chunker, const ReadFn& read, const ChunkFn& on_chunk,
                      std::vector<uint8_t>& buffer, size_t read_block = 8 << 20);

}  // namespace wmrun::snapshot
