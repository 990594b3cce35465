#pragma once
// Snapshots of containers' volume layers: what `snapshot create` reads when its source names a
// container, the freeze it holds meanwhile, and `snapshot restore` into a container
// (docs/snapshot-format.md, "Containers"). The CLI only parses and prints.
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::runtime {

// A bare name (no "/") that names a container under g.root is a container; anything else is
// a directory.
bool names_container(const GlobalOptions& g, const std::string& arg);

struct SnapshotReport {
    snapshot::CreateResult result;
    std::string source;     // the directory the snapshot's tree starts at
    std::string container;  // empty when the source is a directory
    std::string parent;     // as given, else the newest snapshot of the same source, else empty
    bool paused = false;    // a running container was frozen while its changed files were read
    double pause_ms = 0;    // from the freeze call to the end of the thaw
};

// What a snapshot of `arg` records as its source: a container's volume layer directory, a
// directory's absolute path with symlinks resolved; an argument that is neither (a source gone
// since its snapshots were made) as given. `forget --source` matches snapshots by it.
Result<std::string> recorded_source(const GlobalOptions& g, const std::string& arg);

// Snapshots `source`, a container (its volume layer, frozen only while changed files are read
// if it is running) or a directory. Without opt.parent, the snapshot is incremental to the
// newest one of the same source (recorded_source) made on the same host (opt.hostname, by
// default this one): a second snapshot of an unchanged tree reads no file contents.
// `consistent` false reads a running container without freezing it: a migration's copies made
// while it runs, which the frozen final delta then corrects (every file changed since is read
// again, its metadata being newer than what the copy recorded).
Result<SnapshotReport> create_snapshot(const GlobalOptions& g, snapshot::Repository& repo,
                                       const std::string& source, snapshot::CreateOptions opt,
                                       bool consistent = true);

// TARGET is a container when it is a bare name known under g.root, or one whose volume layer
// was left in `store` by a delete without --volumes: its upper/ and volumes/ are replaced
// whole, and a damaged file fails the restore before they are touched. Anything else is a
// directory, into which everything restorable is restored and damaged files are listed.
// `opt.include` restores part of the snapshot; into a container that is refused, since its
// volume layer is replaced whole. opt.allow_damaged is set here, by the target's kind.
Result<snapshot::RestoreResult> restore_snapshot(const GlobalOptions& g,
                                                 snapshot::Repository& repo, const std::string& id,
                                                 const std::string& target,
                                                 const std::string& store,
                                                 snapshot::RestoreOptions opt);

}  // namespace wmrun::runtime
