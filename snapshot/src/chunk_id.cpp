#include "wmrun/snapshot/chunk_id.hpp"

#include <xxhash.h>

#include <cstdio>

namespace wmrun::snapshot {
namespace {

void store_le64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        p[i] = uint8_t(v >> (8 * i));
}

uint64_t load_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

ChunkId from_hash(XXH128_hash_t h) {
    ChunkId id;
    store_le64(id.bytes.data(), h.low64);
    store_le64(id.bytes.data() + 8, h.high64);
    return id;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string ChunkId::hex() const {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx",
                  static_cast<unsigned long long>(load_le64(bytes.data() + 8)),
                  static_cast<unsigned long long>(load_le64(bytes.data())));
    return buf;
}

std::optional<ChunkId> ChunkId::from_hex(std::string_view hex) {
    if (hex.size() != 32) return std::nullopt;
    uint64_t half[2] = {0, 0};  // high, low
    for (size_t i = 0; i < 32; ++i) {
        int d = hex_digit(hex[i]);
        if (d < 0) return std::nullopt;
        half[i / 16] = (half[i / 16] << 4) | uint64_t(d);
    }
    ChunkId id;
    store_le64(id.bytes.data(), half[1]);
    store_le64(id.bytes.data() + 8, half[0]);
    return id;
}

KeyedHasher::KeyedHasher(const Key& key) {
    static constexpr std::string_view kLabel = "wmrun-snapshot-secret-v1";
    uint8_t input[kLabel.size() + 1 + 32];
    std::memcpy(input, kLabel.data(), kLabel.size());
    std::memcpy(input + kLabel.size() + 1, key.data(), key.size());
    for (size_t i = 0; i < secret_.size() / 16; ++i) {
        input[kLabel.size()] = uint8_t(i);
        ChunkId block = from_hash(XXH3_128bits(input, sizeof input));
        std::memcpy(secret_.data() + 16 * i, block.bytes.data(), 16);
    }
    static_assert(sizeof(secret_) >= XXH3_SECRET_SIZE_MIN);
}

ChunkId KeyedHasher::operator()(const void* data, size_t len) const {
    return from_hash(XXH3_128bits_withSecret(data, len, secret_.data(), secret_.size()));
}

ChunkId checksum128(const void* data, size_t len) {
    return from_hash(XXH3_128bits(data, len));
}

}  // namespace wmrun::snapshot
