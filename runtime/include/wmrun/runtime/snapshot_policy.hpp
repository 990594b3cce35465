#pragma once
// Automatic snapshots (docs/operations.md, "Automatic snapshots"): a policy kept with each
// container says into which repository, how often, and which of its automatic snapshots to
// keep; `snapshot auto` makes one pass over the containers, and the activator snapshots a
// container when it hibernates or stops it. wmrun stays daemonless: a timer runs the pass.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/snapshot/limits.hpp"
#include "wmrun/snapshot/retention.hpp"

namespace wmrun::runtime {

// The tag every automatic snapshot carries: retention applies to these only, so a snapshot
// someone made by hand is never removed by a policy.
inline constexpr const char* kAutoTag = "auto";

struct SnapshotPolicy {
    std::string repo;                  // absolute path of an existing repository
    std::int64_t every_seconds = 0;    // > 0
    snapshot::KeepPolicy keep;         // empty: keep every automatic snapshot
    std::vector<std::string> tags;     // put on each automatic snapshot beside kAutoTag
    std::vector<std::string> exclude;  // as snapshot create --exclude
};

// "90s", "15m", "2h", "1d", "1h30m", or a bare number of seconds; at least one second.
Result<std::int64_t> parse_duration(const std::string& text);
// The shortest form parse_duration reads back: "1h30m", "45s".
std::string format_duration(std::int64_t seconds);

Json policy_json(const SnapshotPolicy& p);
Result<SnapshotPolicy> parse_policy(const Json& j);

// The policy is a file in the container's state directory, so it goes away with the container.
// set checks that the repository opens (under `limits`) before anything is written.
Result<> set_snapshot_policy(const GlobalOptions& g, const std::string& id, SnapshotPolicy p,
                             const snapshot::Limits& limits);
Result<std::optional<SnapshotPolicy>> load_snapshot_policy(const GlobalOptions& g,
                                                           const std::string& id);
Result<> remove_snapshot_policy(const GlobalOptions& g, const std::string& id);
// Writes a policy already checked: one load_snapshot_policy read back (the activator carries a
// container's policy over the delete and create of each of its cycles).
Result<> save_snapshot_policy(const GlobalOptions& g, const std::string& id,
                              const SnapshotPolicy& p);

struct AutoOptions {
    std::vector<std::string> ids;  // empty: every container under g.root with a policy
    bool force = false;            // snapshot each one whether or not it is due
    std::int64_t now_ns = 0;       // 0: the clock's
    snapshot::Limits limits;
};

struct AutoOutcome {
    std::string id, repo;
    enum class Action { snapshot, not_due, failed } action = Action::failed;
    std::string snapshot, parent;
    bool paused = false;  // a running container was frozen while read
    double pause_ms = 0;
    std::vector<std::string> forgotten;  // automatic snapshots the retention removed
    std::int64_t next_in_seconds = 0;    // not_due: until the next one is due
    std::string error;                   // failed: the one-line message
};
const char* action_name(AutoOutcome::Action a);

struct PruneOutcome {
    std::string repo;
    std::uint64_t packs_deleted = 0, packs_rewritten = 0, bytes_freed = 0;
    std::string error;
};

struct AutoReport {
    std::vector<AutoOutcome> containers;  // in id order
    std::vector<PruneOutcome> pruned;     // each repository something was forgotten from
    bool ok() const;
};

// One pass: each container whose newest automatic snapshot is at least its interval old (less
// a little slack, so a timer firing at that interval does not skip every other run) is
// snapshotted, then the policy's retention is applied to its automatic snapshots; each
// repository that lost snapshots is pruned at the end. One container's failure is reported in
// its outcome and the others go on.
AutoReport snapshot_auto(const GlobalOptions& g, const AutoOptions& o);

// A snapshot of one container by its policy, now (the activator calls this when it hibernates
// or stops a container): tagged kAutoTag, `reason` and the policy's tags; retention applied,
// no prune. Nothing for a container without a policy.
std::optional<AutoOutcome> snapshot_by_policy(const GlobalOptions& g, const std::string& id,
                                              const std::string& reason,
                                              const snapshot::Limits& limits = {});

}  // namespace wmrun::runtime
