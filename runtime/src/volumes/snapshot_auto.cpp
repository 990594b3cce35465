// snapshot auto and the activator's snapshots: each container's policy applied
// (snapshot_policy.hpp).
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "wmrun/base/log.hpp"
#include "wmrun/runtime/snapshot_policy.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/runtime/state.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::runtime {

namespace {

using Action = AutoOutcome::Action;

// Held while one container's automatic snapshot and retention run, so that a timer's pass, a
// pass run by hand and the activator never snapshot or forget for the same container at once.
constexpr const char* kAutoLock = "snapshot-auto.lock";

std::int64_t wall_clock_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool has_tag(const snapshot::SnapshotInfo& s, const std::string& tag) {
    return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
}

// The container's automatic snapshots on this host, oldest first, of a repository's list.
std::vector<snapshot::SnapshotInfo> automatic_snapshots(std::vector<snapshot::SnapshotInfo> all,
                                                        const std::string& source,
                                                        const std::string& host) {
    std::erase_if(all, [&](const snapshot::SnapshotInfo& s) {
        return s.source != source || s.hostname != host || !has_tag(s, kAutoTag);
    });
    return all;
}

// The parent create_snapshot would look up: the newest snapshot of the source on this host,
// automatic or not.
std::string newest_of(const std::vector<snapshot::SnapshotInfo>& all, const std::string& source,
                      const std::string& host) {
    std::string id;
    for (const auto& s : all)  // oldest first
        if (s.source == source && s.hostname == host) id = s.id;
    return id;
}

// Seconds until the next snapshot is due; 0 or less: due now. A timer that fires every N
// minutes for a policy of every N minutes finds the last snapshot a little under N old, so
// the interval is shortened by 5%, at most a minute.
std::int64_t due_in(const std::vector<snapshot::SnapshotInfo>& autos, std::int64_t every_s,
                    std::int64_t now_ns) {
    if (autos.empty()) return 0;
    std::int64_t newest = 0;
    for (const auto& s : autos)
        newest = std::max(newest, s.time_ns);
    std::int64_t slack_s = std::min<std::int64_t>(every_s / 20, 60);
    std::int64_t age_s = (now_ns - newest) / 1000000000;
    return every_s - slack_s - age_s;
}

// Removes what the policy's retention does not keep of the container's automatic snapshots.
Result<std::vector<std::string>> apply_retention(snapshot::Repository& repo,
                                                 const SnapshotPolicy& p, const std::string& source,
                                                 const std::string& host) {
    std::vector<std::string> remove;
    if (p.keep.empty()) return remove;
    auto autos = automatic_snapshots(WM_TRY(repo.list()), source, host);
    for (auto& group : snapshot::plan_forget(autos, p.keep, {}, snapshot::Calendar::local))
        for (auto& d : group.decisions)
            if (!d.keep) remove.push_back(d.snapshot.id);
    WM_CHECK(repo.forget(remove));
    return remove;
}

struct Request {
    bool force = false;
    std::string reason;  // a tag beside kAutoTag ("hibernate", "stop"); empty for a pass
    std::int64_t now_ns = 0;
    const snapshot::Limits* limits = nullptr;
};

Result<> snapshot_one(const GlobalOptions& g, const std::string& id, const SnapshotPolicy& p,
                      const Request& rq, AutoOutcome& out) {
    auto lock = WM_TRY(StateStore(g.root).lock(id, kAutoLock));
    auto repo = WM_TRY(snapshot::Repository::open(p.repo, *rq.limits));
    std::string source = WM_TRY(recorded_source(g, id));
    std::string host = snapshot::local_hostname();
    // One listing (it reads every manifest) serves the due check and the parent.
    auto all = WM_TRY(repo.list());
    if (!rq.force) {
        auto left = due_in(automatic_snapshots(all, source, host), p.every_seconds, rq.now_ns);
        if (left > 0) {
            out.action = Action::not_due;
            out.next_in_seconds = left;
            return {};
        }
    }
    snapshot::CreateOptions opt;
    opt.hostname = host;
    opt.parent = newest_of(all, source, host);
    opt.tags = {kAutoTag};
    if (!rq.reason.empty()) opt.tags.push_back(rq.reason);
    for (const auto& t : p.tags)
        if (std::find(opt.tags.begin(), opt.tags.end(), t) == opt.tags.end()) opt.tags.push_back(t);
    opt.exclude = p.exclude;
    auto report = WM_TRY(create_snapshot(g, repo, id, std::move(opt)));
    out.action = Action::snapshot;
    out.snapshot = report.result.id;
    out.parent = report.parent;
    out.paused = report.paused;
    out.pause_ms = report.pause_ms;
    out.forgotten = WM_TRY(apply_retention(repo, p, source, host));
    return {};
}

AutoOutcome outcome_of(const GlobalOptions& g, const std::string& id, const SnapshotPolicy& p,
                       const Request& rq) {
    AutoOutcome out;
    out.id = id;
    out.repo = p.repo;
    if (auto r = snapshot_one(g, id, p, rq, out); !r) {
        out.action = Action::failed;
        out.error = r.error().message();
    }
    return out;
}

AutoOutcome failed(const std::string& id, const Error& e) {
    AutoOutcome out;
    out.id = id;
    out.action = Action::failed;
    out.error = e.message();
    return out;
}

PruneOutcome prune_repo(const std::string& dir, const snapshot::Limits& limits) {
    PruneOutcome out;
    out.repo = dir;
    auto repo = snapshot::Repository::open(dir, limits);
    auto pr = repo ? repo->prune() : std::unexpected(repo.error());
    if (!pr) {
        out.error = pr.error().message();
        return out;
    }
    out.packs_deleted = pr->packs_deleted;
    out.packs_rewritten = pr->packs_rewritten;
    out.bytes_freed = pr->bytes_freed;
    return out;
}

}  // namespace

const char* action_name(AutoOutcome::Action a) {
    switch (a) {
        case Action::snapshot:
            return "snapshot";
        case Action::not_due:
            return "not due";
        case Action::failed:
            break;
    }
    return "failed";
}

bool AutoReport::ok() const {
    for (const auto& c : containers)
        if (c.action == Action::failed) return false;
    for (const auto& p : pruned)
        if (!p.error.empty()) return false;
    return true;
}

AutoReport snapshot_auto(const GlobalOptions& g, const AutoOptions& o) {
    AutoReport report;
    Request rq{
        .force = o.force, .now_ns = o.now_ns ? o.now_ns : wall_clock_ns(), .limits = &o.limits};
    bool named = !o.ids.empty();
    std::vector<std::string> ids = o.ids;
    if (!named) {
        auto listed = StateStore(g.root).list();
        if (!listed) {
            report.containers.push_back(failed(g.root, listed.error()));
            return report;
        }
        ids = std::move(*listed);
    }
    std::set<std::string> to_prune;
    for (const auto& id : ids) {
        auto policy = load_snapshot_policy(g, id);
        // A container deleted since the listing is no longer this pass's business.
        if (!policy && !named && policy.error().err == ENOENT) continue;
        if (!policy) {
            report.containers.push_back(failed(id, policy.error()));
            continue;
        }
        if (!*policy) {
            if (named)
                report.containers.push_back(
                    failed(id, Error{"snapshot auto", id, 0, "container has no snapshot policy"}));
            continue;
        }
        auto out = outcome_of(g, id, **policy, rq);
        if (!out.forgotten.empty()) to_prune.insert(out.repo);
        report.containers.push_back(std::move(out));
    }
    for (const auto& dir : to_prune)
        report.pruned.push_back(prune_repo(dir, o.limits));
    return report;
}

std::optional<AutoOutcome> snapshot_by_policy(const GlobalOptions& g, const std::string& id,
                                              const std::string& reason,
                                              const snapshot::Limits& limits) {
    auto policy = load_snapshot_policy(g, id);
    if (!policy) return failed(id, policy.error());
    if (!*policy) return std::nullopt;
    Request rq{.force = true, .reason = reason, .now_ns = wall_clock_ns(), .limits = &limits};
    return outcome_of(g, id, **policy, rq);
}

}  // namespace wmrun::runtime
