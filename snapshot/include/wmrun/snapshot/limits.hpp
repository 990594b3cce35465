// What the readers of a repository and of a snapshot stream accept. Snapshots travel between
// hosts, so every byte of either may be hostile: each bound is checked before memory is spent
// on what the input claims (docs/snapshot-format.md, "Limits").
#pragma once

#include <cstdint>

namespace wmrun::snapshot {

// Errors name a limit by the wmrun flag that changes it.
struct Limits {
    // A manifest's JSON text, uncompressed, in snapshots/ and in a stream's MANI record
    // (--max-manifest-size). An entry takes about 250 bytes, more for a file of many chunks:
    // 64 MiB is a tree of about 250k entries. Create refuses to write a larger one.
    uint64_t max_manifest_size = uint64_t(64) << 20;
    // Nesting of the JSON read from a repository or stream: manifests, config, a stream's
    // HEAD record (--max-json-depth). Manifests use 5 levels, the others 3.
    int max_json_depth = 32;
    // The payload of one stream record (--max-stream-record): a CHNK record holds one stored
    // chunk (at most 64 MiB), a BASE record 16 bytes per chunk of the base.
    uint64_t max_stream_record = uint64_t(256) << 20;
};

}  // namespace wmrun::snapshot
