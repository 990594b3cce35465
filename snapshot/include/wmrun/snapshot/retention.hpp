// Which snapshots `forget` keeps: restic's retention policy (--keep-last, --keep-hourly, ...,
// --keep-tag), applied to each group of snapshots (docs/snapshot-format.md, "Retention").
// Pure functions of the snapshot list: the repository is touched only by Repository::forget.
#pragma once

#include <string>
#include <vector>

#include "wmrun/snapshot/repository.hpp"

namespace wmrun::snapshot {

// Counts of the time rules; 0: the rule is off, kKeepAll (-1): every bucket.
inline constexpr int kKeepAll = -1;

struct KeepPolicy {
    int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
    // A snapshot carrying every tag of any one of these lists is kept, uncounted.
    std::vector<std::vector<std::string>> tags;
    bool empty() const;
};

// The calendar the hourly to yearly buckets are cut in: the host's local time, as restic, or
// UTC (tests, and hosts that want the same buckets in every time zone).
enum class Calendar { local, utc };

struct KeepDecision {
    SnapshotInfo snapshot;
    bool keep = false;
    // Why it is kept: "last snapshot", "hourly snapshot", ..., "has tags [a, b]", or "policy
    // is empty"; empty for a snapshot that goes.
    std::vector<std::string> reasons;
};

// restic's ApplyPolicy: snapshots newest first (equal times: higher id first); each time rule
// keeps the newest snapshot of each of its next `count` buckets (hour, day, ISO week, month,
// year; `last`: every snapshot is its own bucket), and the oldest snapshot too while the rule
// has counts left. A snapshot kept by any rule is kept. An empty policy keeps everything.
// Returns every snapshot, newest first.
std::vector<KeepDecision> apply_policy(std::vector<SnapshotInfo> snapshots,
                                       const KeepPolicy& policy, Calendar calendar);

// What snapshots are grouped by before the policy is applied to each group (restic's
// --group-by): by default host and source, so one source's snapshots never count against, or
// are removed for, another's.
struct GroupBy {
    bool host = true, source = true, tags = false;
};

struct KeepGroup {
    // The group's key: the fields GroupBy names, the others empty.
    std::string hostname, source;
    std::vector<std::string> tags;  // sorted
    std::vector<KeepDecision> decisions;  // newest first
};

// Groups `snapshots` (ordered by their first snapshot in `snapshots`' order) and applies the
// policy to each.
std::vector<KeepGroup> plan_forget(const std::vector<SnapshotInfo>& snapshots,
                                   const KeepPolicy& policy, const GroupBy& group_by,
                                   Calendar calendar);

}  // namespace wmrun::snapshot
