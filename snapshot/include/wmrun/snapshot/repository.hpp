// A snapshot repository of container volume layers (docs/snapshot-format.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/snapshot/chunker.hpp"
#include "wmrun/snapshot/limits.hpp"
#include "wmrun/snapshot/progress.hpp"

namespace wmrun::snapshot {

struct InitOptions {
    ChunkerParams chunker;
    int compression_level = 3;      // zstd level
    uint64_t pack_size = 16 << 20;  // a pack is closed once it holds this many bytes
};

// This host's name (uname's nodename): what a snapshot records as its host unless told
// otherwise, and what a stream names as its sender.
std::string local_hostname();

struct CreateOptions {
    std::string parent;  // snapshot id (or unique prefix); empty: none
    std::string hostname;  // empty: local_hostname()
    std::vector<std::string> tags;  // free-form labels kept in the manifest
    unsigned threads = 0;           // compression threads; 0: one per core
    ProgressFn progress;            // items: files; no totals
    // Top-level names under the source to take (a container's "upper" and "volumes"); empty:
    // everything.
    std::vector<std::string> include;
    // Glob patterns of paths, relative to the source, to leave out with what is under them
    // (restic's --exclude: "*.log", "/cache", "**/tmp"; docs/snapshot-format.md).
    std::vector<std::string> exclude;
    // Create walks the tree first (metadata only), then reads the files that changed. These
    // run around that read phase, so a caller can freeze a running container only while its
    // changed files are read. With before_read set, every file the walk took as unchanged is
    // stat'ed again in the read phase and read if it changed after all.
    std::function<Result<>()> before_read, after_read;
};

// Refuses what CreateOptions::exclude would refuse (an empty pattern or path component), so a
// pattern kept for later (a snapshot policy) is checked when it is given.
Result<> check_exclude_patterns(const std::vector<std::string>& patterns);

struct CreateResult {
    std::string id;
    uint64_t files_new = 0, files_changed = 0, files_unchanged = 0;
    uint64_t dirs = 0, others = 0;  // others: symlinks, devices, fifos, hardlinks
    uint64_t bytes_read = 0;        // file content read from the source
    uint64_t bytes_added = 0;       // stored (compressed) bytes written to new packs
    uint64_t chunks_new = 0, chunks_reused = 0;
    std::vector<std::string> notes;  // what was skipped, and why
    uint64_t read_phase_ns = 0;      // from before_read's return to after_read's call
};

struct RestoreOptions {
    // false: a damaged chunk makes restore fail (after restoring everything else);
    // true: restore succeeds and lists the damaged files in RestoreResult.
    bool allow_damaged = false;
    // Paths in the snapshot ("a/b", a leading "/" is ignored) to restore with what is under
    // them, and the directories above them; empty: everything. A path the snapshot lacks is
    // an error.
    std::vector<std::string> include;
    ProgressFn progress;  // items: files
};

struct RestoreResult {
    std::string id;
    uint64_t files = 0, dirs = 0, others = 0;
    uint64_t bytes = 0;  // file content written
    // Files whose chunks are missing or fail their hash: they are restored with the bad
    // ranges left as holes, and every other entry is restored.
    std::vector<std::string> damaged_files;
};

struct SnapshotInfo {
    std::string id, parent, hostname, source;
    int64_t time_ns = 0;
    uint64_t entries = 0, bytes = 0;
    std::vector<std::string> tags;
    // Set on a received snapshot: the host that sent it, and the repository it came from.
    std::string origin_host, origin_repo;
};

// One entry of a snapshot's tree, as `ls` shows it. A second name of a hardlinked inode has
// the metadata of the first, named in `link`.
struct NodeInfo {
    std::string path;  // relative, "/"-separated; "." for the root
    std::string type;  // file, dir, symlink, fifo, chr, blk, hardlink
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string target, link;  // symlink target; hardlink: the first name
};

struct DiffResult {
    std::vector<std::string> added, removed, changed;
};

struct DamagedFile {
    std::string snapshot, path;
};

struct VerifyResult {
    uint64_t packs = 0, chunks = 0;
    std::vector<std::string> damaged_packs;   // pack ids whose checksum or chunks fail
    std::vector<std::string> damaged_chunks;  // chunk ids that fail to read or re-hash
    std::vector<std::string> missing_chunks;  // referenced by a snapshot, absent from the index
    std::vector<DamagedFile> damaged_files;
    bool ok() const {
        return damaged_packs.empty() && damaged_chunks.empty() && missing_chunks.empty();
    }
};

struct PruneResult {
    uint64_t packs_deleted = 0, packs_rewritten = 0, chunks_removed = 0, bytes_freed = 0;
};

class Repository {
  public:
    static Result<> init(const std::string& dir, const InitOptions& options = {});
    // Every later read of the repository (config, index, packs, manifests, received streams)
    // is held to `limits`.
    static Result<Repository> open(const std::string& dir, const Limits& limits = {});

    Repository(Repository&&) noexcept;
    Repository& operator=(Repository&&) noexcept;
    ~Repository();

    Result<CreateResult> create(const std::string& source, const CreateOptions& options = {});
    // `target` must be missing or an empty directory.
    Result<RestoreResult> restore(const std::string& snapshot, const std::string& target,
                                  const RestoreOptions& options = {});
    Result<VerifyResult> verify(const ProgressFn& progress = {});  // items: chunks
    Result<std::vector<SnapshotInfo>> list();                      // oldest first
    // The entries of a snapshot at `path` and under it, in tree order (a directory before
    // what it holds); "" or "/": all. A path the snapshot lacks is an error (ENOENT).
    Result<std::vector<NodeInfo>> ls(const std::string& snapshot, const std::string& path = "");
    Result<DiffResult> diff(const std::string& a, const std::string& b);
    // Deletes the snapshots `ids` (full ids, as list() gives them; which ones is the caller's
    // choice, retention.hpp). prune frees their data.
    Result<> forget(const std::vector<std::string>& ids);
    Result<PruneResult> prune(const ProgressFn& progress = {});  // items: packs
    Result<> rebuild_index();

    // Full id for an id or unique prefix.
    Result<std::string> resolve(const std::string& id_or_prefix);
    const std::string& dir() const;

    struct State;

  private:
    friend struct StateAccess;  // the stream code in src/ reaches the state through it
    explicit Repository(std::unique_ptr<State> state);
    std::unique_ptr<State> s_;
};

}  // namespace wmrun::snapshot
