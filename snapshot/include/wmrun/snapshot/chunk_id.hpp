// Chunk ids: XXH3-128 keyed with the repository's secret (docs/snapshot-format.md, "Chunk ids").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace wmrun::snapshot {

// 16 bytes, low 64 bits first; hex() prints high 64 bits first.
struct ChunkId {
    std::array<uint8_t, 16> bytes{};

    std::string hex() const;
    static std::optional<ChunkId> from_hex(std::string_view hex);
    auto operator<=>(const ChunkId&) const = default;
};

struct ChunkIdHash {
    size_t operator()(const ChunkId& id) const {
        size_t h;
        std::memcpy(&h, id.bytes.data(), sizeof h);  // already uniformly distributed
        return h;
    }
};

using Key = std::array<uint8_t, 32>;

// Hashes chunks with the 192-byte secret derived from a repository key.
class KeyedHasher {
  public:
    explicit KeyedHasher(const Key& key);
    ChunkId operator()(const void* data, size_t len) const;

  private:
    std::array<uint8_t, 192> secret_{};
};

// Unkeyed XXH3-128, used for pack and index checksums.
ChunkId checksum128(const void* data, size_t len);

}  // namespace wmrun::snapshot
