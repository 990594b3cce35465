#include "wmrun/snapshot/chunker.hpp"

#include <xxhash.h>

#include <bit>
#include <cstring>

namespace wmrun::snapshot {

bool ChunkerParams::valid() const {
    return std::has_single_bit(avg_size) && min_size >= 64 && min_size < avg_size &&
           avg_size < max_size && max_size <= kMaxChunkSize && std::countr_zero(avg_size) >= 8;
}

Chunker::Chunker(const ChunkerParams& params, uint64_t gear_seed) : params_(params) {
    int bits = std::countr_zero(params.avg_size);
    // Normalized chunking, level 2: harder to cut before avg, easier after (FastCDC paper §3.3).
    // High bits are used because the left-shift gear hash's high bits cover the widest window.
    mask_strict_ = ~uint64_t(0) << (64 - (bits + 2));
    mask_loose_ = ~uint64_t(0) << (64 - (bits - 2));
    for (size_t i = 0; i < gear_.size(); ++i) {
        uint8_t in[5] = {uint8_t(i), 'g', 'e', 'a', 'r'};
        gear_[i] = XXH3_64bits_withSeed(in, sizeof in, gear_seed);
    }
}

size_t Chunker::cut(const uint8_t* data, size_t len) const {
    if (len <= params_.min_size) return len;
    size_t end = len < params_.max_size ? len : params_.max_size;
    size_t normal = len < params_.avg_size ? len : params_.avg_size;
    uint64_t hash = 0;
    size_t i = params_.min_size;
    for (; i < normal; ++i) {
        hash = (hash << 1) + gear_[data[i]];
        if ((hash & mask_strict_) == 0) return i + 1;
    }
    for (; i < end; ++i) {
        hash = (hash << 1) + gear_[data[i]];
        if ((hash & mask_loose_) == 0) return i + 1;
    }
    return end;
}

Result<> chunk_stream(const Chunker& chunker, const ReadFn& read, const ChunkFn& on_chunk,
                      size_t read_block) {
    std::vector<uint8_t> buf;
    return chunk_stream(chunker, read, on_chunk, buf, read_block);
}

Result<> chunk_stream(const Chunker& chunker, const ReadFn& read, const ChunkFn& on_chunk,
                      std::vector<uint8_t>& buf, size_t read_block) {
    const size_t max = chunker.params().max_size;
    if (buf.size() < max + read_block) buf.resize(max + read_block);
    size_t start = 0, end = 0;
    bool eof = false;
    for (;;) {
        while (!eof && end - start < max) {
            if (start > 0) {  // keep the unconsumed tail at the front, then refill behind it
                std::memmove(buf.data(), buf.data() + start, end - start);
                end -= start;
                start = 0;
            }
            size_t n = WM_TRY(read(buf.data() + end, buf.size() - end));
            if (n == 0) eof = true;
            end += n;
        }
        if (start == end) return {};
        size_t len = chunker.cut(buf.data() + start, end - start);
        WM_CHECK(on_chunk(std::span<const uint8_t>(buf.data() + start, len)));
        start += len;
    }
}

}  // namespace wmrun::snapshot
