// Snapshot manifests: the tree of a volume layer with metadata and chunk lists.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/chunk_id.hpp"

namespace wmrun::snapshot {

enum class EntryType { file, dir, symlink, fifo, chr, blk, hardlink };

struct Entry {
    std::string path;  // relative, "/"-separated; raw bytes
    EntryType type = EntryType::file;
    uint32_t mode = 0;  // the 07777 bits
    uint32_t uid = 0, gid = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    uint64_t size = 0, ino = 0;
    std::vector<std::pair<std::string, std::string>> xattrs;  // name, raw value
    std::string target;                                       // symlink target, raw bytes
    uint32_t rdev_major = 0, rdev_minor = 0;
    std::string link;  // hardlink: path of the entry holding the inode
    std::vector<std::pair<uint64_t, uint64_t>> extents;  // data ranges (offset, length)
    std::vector<ChunkId> chunks;
};

struct Manifest {
    int64_t time_ns = 0;
    std::string hostname, source, parent;
    // Set by receive: the repository id and snapshot id this copy came from, so that a later
    // delta stream against that snapshot finds it here (docs/snapshot-format.md, "Streams").
    std::string origin_repo, origin_snapshot;
    std::vector<std::string> tags;
    std::vector<Entry> tree;
};

// Serialises, compresses and stores under snapshots/; returns the id.
Result<std::string> write_manifest(const std::string& repo, const KeyedHasher& hasher,
                                   const Manifest& manifest);
// The manifest's JSON text, and the inverse; `what` names the source in errors.
std::string manifest_json(const Manifest& manifest);
Result<Manifest> parse_manifest_json(const std::string& text, const std::string& what);

// Reads snapshots/<id> and refuses it unless its keyed checksum matches.
Result<Manifest> read_manifest(const std::string& repo, const KeyedHasher& hasher,
                               const std::string& id);

const char* type_name(EntryType type);

}  // namespace wmrun::snapshot
