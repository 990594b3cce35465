// Snapshot manifests: the tree of a volume layer with metadata and chunk lists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/chunk_id.hpp"
#include "wmrun/snapshot/limits.hpp"

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
    // delta stream against that snapshot finds it here, and the host that sent it
    // (docs/snapshot-format.md, "Streams"). A received snapshot keeps the sender's id.
    std::string origin_repo, origin_snapshot, origin_host;
    std::vector<std::string> tags;
    std::vector<Entry> tree;
};

// The manifest's JSON for write_manifest, refused past limits.max_manifest_size since no
// reader would take it. Made before anything is committed, so a refusal leaves the repository
// as it was.
Result<std::string> manifest_text(const Manifest& manifest, const Limits& limits);
// Compresses `text` (from manifest_text) and stores it under snapshots/; returns the id: its
// keyed checksum, or `id` for a received snapshot, whose text names that id as its
// origin.snapshot.
Result<std::string> write_manifest(const std::string& repo, const KeyedHasher& hasher,
                                   const std::string& text, const std::string& id = "");
// The manifest's JSON text, and the inverse; `what` names the source in errors. The reader
// refuses nesting past `max_json_depth`.
std::string manifest_json(const Manifest& manifest);
Result<Manifest> parse_manifest_json(const std::string& text, const std::string& what,
                                     int max_json_depth = Limits{}.max_json_depth);

// One zstd frame of manifest JSON (a file's body, a stream's MANI record), refused past
// `limit` bytes. The frame's declared size is checked, never allocated: the output grows as
// it is really produced. `op` and `name` head the errors.
Result<std::string> decompress_manifest(std::string_view frame, uint64_t limit,
                                        const std::string& op, const std::string& name);
// A manifest file's bytes: magic, frame, keyed checksum (which must match, and be `id`
// unless the manifest's origin.snapshot is).
Result<Manifest> decode_manifest_file(std::string_view data, const KeyedHasher& hasher,
                                      const std::string& id, const std::string& name,
                                      const Limits& limits);
// Reads snapshots/<id>, no more bytes than a manifest within the limit compresses to.
Result<Manifest> read_manifest(const std::string& repo, const KeyedHasher& hasher,
                               const std::string& id, const Limits& limits = {});

// A path given by a user, as manifests name it: no leading or trailing "/", "" for the root
// (manifests call it ".").
std::string tree_path(std::string_view path);
// `path` is `prefix` or below it; everything is below "".
bool path_under(std::string_view path, std::string_view prefix);

const char* type_name(EntryType type);
// RFC 3629, as nlohmann checks it when it dumps; a name that fails is written as hex.
bool valid_utf8(std::string_view s);

}  // namespace wmrun::snapshot
