#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "wmrun/snapshot/chunk_id.hpp"
#include "wmrun/snapshot/chunker.hpp"

using namespace wmrun::snapshot;

namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v)
        b = uint8_t(rng());
    return v;
}

// Chunks `data`, handing it to the chunker `step` bytes per read.
std::vector<std::vector<uint8_t>> chunk_all(const Chunker& c, const std::vector<uint8_t>& data,
                                            size_t step = 1 << 20) {
    std::vector<std::vector<uint8_t>> out;
    size_t pos = 0;
    auto read = [&](uint8_t* buf, size_t len) -> wmrun::Result<size_t> {
        size_t n = std::min({len, step, data.size() - pos});
        if (n != 0) std::memcpy(buf, data.data() + pos, n);  // data() may be null when empty
        pos += n;
        return n;
    };
    auto on_chunk = [&](std::span<const uint8_t> ch) -> wmrun::Result<> {
        out.emplace_back(ch.begin(), ch.end());
        return {};
    };
    REQUIRE(chunk_stream(c, read, on_chunk, 256 << 10));
    return out;
}

Key key_of(uint8_t fill) {
    Key k;
    k.fill(fill);
    return k;
}

}  // namespace

TEST_CASE("chunker cuts within min and max and reassembles the input") {
    ChunkerParams p;
    Chunker c(p, 42);
    auto data = random_bytes(16 << 20, 1);
    auto chunks = chunk_all(c, data);
    REQUIRE(chunks.size() > 16);
    std::vector<uint8_t> joined;
    for (size_t i = 0; i < chunks.size(); ++i) {
        if (i + 1 < chunks.size()) CHECK(chunks[i].size() >= p.min_size);
        CHECK(chunks[i].size() <= p.max_size);
        joined.insert(joined.end(), chunks[i].begin(), chunks[i].end());
    }
    CHECK(joined == data);
    // Normalized chunking keeps the mean near avg_size.
    double mean = double(data.size()) / double(chunks.size());
    CHECK(mean > p.avg_size * 0.6);
    CHECK(mean < p.avg_size * 1.6);
}

TEST_CASE("chunker is deterministic and independent of read sizes") {
    Chunker c(ChunkerParams{}, 7);
    auto data = random_bytes(6 << 20, 2);
    auto a = chunk_all(c, data, 1 << 20);
    auto b = chunk_all(c, data, 4093);  // odd, small reads
    CHECK(a == b);
    CHECK(chunk_all(Chunker(ChunkerParams{}, 7), data) == a);
    // A different gear seed (another repository key) moves the boundaries.
    CHECK(chunk_all(Chunker(ChunkerParams{}, 8), data) != a);
}

TEST_CASE("chunk boundaries resynchronise after an insertion at the front") {
    Chunker c(ChunkerParams{}, 3);
    KeyedHasher h(key_of(1));
    auto data = random_bytes(12 << 20, 3);
    auto shifted = random_bytes(100, 4);
    shifted.insert(shifted.end(), data.begin(), data.end());
    std::set<ChunkId> before;
    for (const auto& ch : chunk_all(c, data))
        before.insert(h(ch.data(), ch.size()));
    auto after = chunk_all(c, shifted);
    size_t reused = 0;
    for (const auto& ch : after)
        reused += before.count(h(ch.data(), ch.size()));
    CHECK(reused + 2 >= after.size());  // only the chunk holding the insertion changes
    CHECK(reused * 10 >= before.size() * 9);
}

TEST_CASE("inputs below the minimum are a single chunk") {
    Chunker c(ChunkerParams{}, 1);
    auto small = random_bytes(1000, 5);
    auto chunks = chunk_all(c, small);
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0] == small);
    CHECK(chunk_all(c, {}).empty());
}

TEST_CASE("chunk ids depend on the key and round-trip through hex") {
    auto data = random_bytes(5000, 6);
    KeyedHasher a(key_of(1)), a2(key_of(1)), b(key_of(2));
    ChunkId id = a(data.data(), data.size());
    CHECK(id == a2(data.data(), data.size()));
    CHECK(id != b(data.data(), data.size()));
    CHECK(id != checksum128(data.data(), data.size()));
    data[4999] ^= 1;
    CHECK(id != a(data.data(), data.size()));
    auto parsed = ChunkId::from_hex(id.hex());
    REQUIRE(parsed);
    CHECK(*parsed == id);
    CHECK(id.hex().size() == 32);
    CHECK_FALSE(ChunkId::from_hex("xyz"));
}

TEST_CASE("chunker parameters are validated") {
    CHECK(ChunkerParams{}.valid());
    CHECK_FALSE((ChunkerParams{64 << 10, 200000, 1 << 20}.valid()));  // avg not a power of 2
    CHECK_FALSE((ChunkerParams{512 << 10, 256 << 10, 1 << 20}.valid()));
}
