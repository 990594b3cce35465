// Snapshot streams: one snapshot (or its delta against a base) as a self-describing byte stream
// that another repository can receive (docs/snapshot-format.md, "Streams").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/progress.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::snapshot {

struct SendOptions {
    std::string since;  // base snapshot id or prefix: its chunks are left out; empty: none
    ProgressFn progress;
};

struct SendResult {
    std::string snapshot, base;  // full ids
    uint64_t files = 0;          // regular files in the snapshot
    uint64_t chunks_sent = 0, chunks_in_base = 0;
    uint64_t bytes_raw = 0;      // uncompressed bytes of the chunks sent
    uint64_t bytes_written = 0;  // length of the stream
};

// Writes the stream to `fd` (a pipe, socket or file; not seeked). Every chunk is re-hashed
// before it is sent, so a damaged repository fails here rather than on the receiver.
Result<SendResult> send_snapshot(Repository& repo, const std::string& snapshot, int fd,
                                 const SendOptions& options = {});

struct ReceiveOptions {
    ProgressFn progress;
};

struct ReceiveResult {
    std::string id;  // the snapshot's id here: the sender's (origin_snapshot)
    std::string origin_repo, origin_snapshot, base;  // as the stream names them
    std::string origin_host;                         // the sender's hostname, if it gave one
    // The snapshot was here already (the same tree under the same id): nothing was added.
    uint64_t files = 0;
    uint64_t chunks_received = 0;  // chunk records in the stream
    uint64_t chunks_new = 0;       // of those, stored here; the rest were already present
    uint64_t bytes_read = 0;       // length of the stream
    uint64_t bytes_added = 0;      // stored bytes written to new packs
    bool already_present = false;
};

// Reads a stream from `fd` to its end, verifies every record and chunk, and only then makes
// the snapshot visible under the sender's id. On any error the repository is left as it was;
// a different snapshot already holding that id is an error (EEXIST).
Result<ReceiveResult> receive_snapshot(Repository& repo, int fd,
                                       const ReceiveOptions& options = {});

// This repository's id, as the streams it sends name it (their origin repository).
std::string repository_id(Repository& repo);

// The snapshots of repository `sender_id`, by its ids, that this repository holds a copy of
// (received from it, or it is this repository): the bases a stream from it may be a delta
// against.
Result<std::vector<std::string>> copies_from(Repository& repo, const std::string& sender_id);

}  // namespace wmrun::snapshot
