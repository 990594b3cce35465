// Shared internals of the repository: config, locking, little-endian codecs, atomic writes.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "index.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/snapshot/chunk_id.hpp"
#include "wmrun/snapshot/chunker.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::snapshot {

inline constexpr int kFormatVersion = 1;

struct Config {
    std::string id;
    Key key{};
    ChunkerParams chunker;
    int compression_level = 3;
    uint64_t pack_size = 16 << 20;
};

struct Repository::State {
    std::string dir;
    Config config;
    Limits limits;
    KeyedHasher hasher;
    Chunker chunker;
    UniqueFd lock_fd;
    Index index;
};

struct StateAccess {
    static Repository::State& of(Repository& repo) { return *repo.s_; }
};

// Test hook for crash trials: with WMRUN_CRASH_AT=<n> in the environment, the process kills
// itself with SIGKILL at its n-th call (each call marks one durable step: a rename into place
// or an unlink). Without the variable it returns at once.
void crash_point();

// Holds flock(2) on locks/repo.lock for one operation.
class RepoLock {
  public:
    static Result<RepoLock> take(int fd, bool exclusive, const std::string& path);
    RepoLock(RepoLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    RepoLock& operator=(RepoLock&&) = delete;
    ~RepoLock();

  private:
    explicit RepoLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

uint64_t gear_seed(const Key& key);

// Names under snapshots/, sorted.
Result<std::vector<std::string>> snapshot_ids(const std::string& repo);

// Writes `data` to <repo>/tmp, fsyncs, renames to <repo>/<rel> and fsyncs its directory.
Result<> write_repo_file(const std::string& repo, const std::string& rel, std::string_view data,
                         mode_t mode = 0444);
Result<> fsync_dir(const std::string& path);
Result<std::string> random_hex(size_t bytes);
std::string to_hex(std::string_view raw);
std::optional<std::string> hex_decode(std::string_view hex);
Result<> pwrite_all(int fd, const void* data, size_t len, uint64_t off, const std::string& name);
Result<> pread_all(int fd, void* data, size_t len, uint64_t off, const std::string& name);

// "<what> is over the limit of 64 MiB (--max-manifest-size)": `flag` names the limit.
std::string over_limit(const std::string& what, uint64_t limit, std::string_view flag);
// Bytes from a repository or stream, fit for a one-line error: control characters, quotes and
// bytes past ASCII escaped, cut after `max` bytes.
std::string printable(std::string_view raw, size_t max = 64);

// Sets s.size() to n, keeping its bytes and leaving new ones unwritten (no zero fill). The
// callback is told n explicitly: g++ 12's libstdc++ passes it the capacity instead.
inline void resize_uninitialized(std::string& s, size_t n) {
    s.resize_and_overwrite(n, [n](char*, size_t) { return n; });
}

inline void put_u32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(char(v >> (8 * i)));
}
inline void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(char(v >> (8 * i)));
}
inline uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}
inline uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}
inline void put_id(std::string& out, const ChunkId& id) {
    out.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}
inline ChunkId get_id(const uint8_t* p) {
    ChunkId id;
    std::memcpy(id.bytes.data(), p, id.bytes.size());
    return id;
}

}  // namespace wmrun::snapshot
