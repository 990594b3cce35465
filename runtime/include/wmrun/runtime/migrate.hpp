#pragma once
// migrate: moves a container made from an image, with its volume layer, to another host
// (docs/operations.md, "Migration"). The sender talks to `wmrun migrate receive` on the other
// side over one two-way pipe (ssh, or any command that gives one). Only what the receiver
// lacks crosses: image blobs it does not have, and the volume layer as snapshot chunks it does
// not have. A running container is copied while it runs, then frozen for a final delta; the
// process restarts on the target (its memory is not moved). The source is stopped only after
// the target says the container started there.
#include <cstdint>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

struct MigrateOptions {
    std::string id;
    // The container's id on the target; empty: the same. Two containers of one id on one host
    // would share the default cgroup wmrun/<id>, so a migration between two state roots of the
    // same host needs another.
    std::string target_id;
    std::string to;   // ssh://[user@]host[:port]; runs `wmrun migrate receive` there
    std::string via;  // or: a shell command whose stdin and stdout reach `migrate receive`
    // ssh: the arguments of wmrun there ([--root R] migrate receive [--store S] [--repo R]).
    std::vector<std::string> receive_args = {"migrate", "receive"};
    std::string repo;                 // the source's repository; empty: the snapshot policy's
    unsigned rounds = 2;              // copies made while it runs, before the frozen final delta
    bool remove_source = false;       // delete the source's volume layer once the target runs it
    std::int64_t timeout_ms = 30000;  // the target's create and start
    std::int64_t stop_timeout_ms = 10000;  // unused for a frozen source: it is killed
};

struct MigrateRound {
    std::string snapshot;
    bool frozen = false;           // the final delta
    std::uint64_t bytes_sent = 0;  // on the channel, this round
    double seconds = 0;
};

struct MigrateReport {
    std::string id, image;
    std::vector<MigrateRound> rounds;
    std::uint64_t blobs_sent = 0, blob_bytes_sent = 0;
    std::uint64_t bytes_sent = 0, bytes_received = 0;  // the channel, both ways
    double downtime_seconds = 0;  // frozen on the source to started on the target
    double total_seconds = 0;
    bool was_running = false;
};

Result<MigrateReport> migrate_container(const GlobalOptions& g, const MigrateOptions& o);

struct ReceiveTarget {
    std::string store;  // image store the container is made in
    std::string repo;   // repository the snapshots are received into (made if missing)
    std::int64_t timeout_ms = 30000;
};

// The receiving side, on stdin and stdout (`wmrun migrate receive`): nothing is created under
// the id until the final snapshot is in; a failure removes what this side made of the container.
Result<> migrate_receive(const GlobalOptions& g, const ReceiveTarget& t, int in, int out);

}  // namespace wmrun::runtime
