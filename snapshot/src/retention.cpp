// restic's retention policy (internal/restic/snapshot_policy.go), rule for rule.
#include "wmrun/snapshot/retention.hpp"

#include <time.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace wmrun::snapshot {
namespace {

struct Civil {
    int year, month, day, hour, iso_year, iso_week;
};

Civil civil(int64_t time_ns, Calendar calendar) {
    // Floor division: a time before 1970 still falls in the second it belongs to.
    int64_t secs = time_ns / 1000000000 - (time_ns % 1000000000 < 0 ? 1 : 0);
    time_t t = time_t(secs);
    struct tm tm{};
    if (calendar == Calendar::utc)
        ::gmtime_r(&t, &tm);
    else
        ::localtime_r(&t, &tm);
    char iso[16];
    ::strftime(iso, sizeof iso, "%G %V", &tm);
    int iso_year = 0, iso_week = 0;
    std::sscanf(iso, "%d %d", &iso_year, &iso_week);
    return {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, iso_year, iso_week};
}

// The bucket a snapshot falls in for each rule, as restic numbers them (YYYYMMDDHH, ...).
int64_t bucket(int rule, const Civil& c, size_t nr) {
    switch (rule) {
        case 0:
            return int64_t(nr);  // last: every snapshot its own
        case 1:
            return int64_t(c.year) * 1000000 + c.month * 10000 + c.day * 100 + c.hour;
        case 2:
            return int64_t(c.year) * 10000 + c.month * 100 + c.day;
        case 3:
            return int64_t(c.iso_year) * 100 + c.iso_week;
        case 4:
            return int64_t(c.year) * 100 + c.month;
        default:
            return c.year;
    }
}

bool has_all(const SnapshotInfo& s, const std::vector<std::string>& tags) {
    for (const auto& t : tags)
        if (std::find(s.tags.begin(), s.tags.end(), t) == s.tags.end()) return false;
    return true;
}

std::string tag_list(const std::vector<std::string>& tags) {
    std::string out = "has tags [";
    for (size_t i = 0; i < tags.size(); ++i)
        out += (i ? ", " : "") + tags[i];
    return out + "]";
}

}  // namespace

bool KeepPolicy::empty() const {
    return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 &&
           tags.empty();
}

std::vector<KeepDecision> apply_policy(std::vector<SnapshotInfo> snapshots,
                                       const KeepPolicy& policy, Calendar calendar) {
    std::sort(snapshots.begin(), snapshots.end(), [](const auto& a, const auto& b) {
        return std::tie(a.time_ns, a.id) > std::tie(b.time_ns, b.id);
    });
    std::vector<KeepDecision> out;
    out.reserve(snapshots.size());
    if (policy.empty()) {
        for (auto& s : snapshots)
            out.push_back({std::move(s), true, {"policy is empty"}});
        return out;
    }
    struct Rule {
        int count;
        int64_t last_bucket;
        const char* reason;
    } rules[] = {{policy.last, -1, "last snapshot"},     {policy.hourly, -1, "hourly snapshot"},
                 {policy.daily, -1, "daily snapshot"},   {policy.weekly, -1, "weekly snapshot"},
                 {policy.monthly, -1, "monthly snapshot"}, {policy.yearly, -1, "yearly snapshot"}};
    for (size_t nr = 0; nr < snapshots.size(); ++nr) {
        KeepDecision d{std::move(snapshots[nr]), false, {}};
        for (const auto& tags : policy.tags)
            if (has_all(d.snapshot, tags)) {
                d.keep = true;
                d.reasons.push_back(tag_list(tags));
            }
        Civil c = civil(d.snapshot.time_ns, calendar);
        for (int i = 0; i < 6; ++i) {
            Rule& r = rules[i];
            if (r.count == 0 || r.count < kKeepAll) continue;
            int64_t b = bucket(i, c, nr);
            // The oldest snapshot is kept too while the rule has counts left: the history
            // kept is as long as the counts allow.
            if (b == r.last_bucket && nr + 1 != snapshots.size()) continue;
            d.keep = true;
            r.last_bucket = b;
            if (r.count > 0) --r.count;
            d.reasons.push_back(r.reason);
        }
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<KeepGroup> plan_forget(const std::vector<SnapshotInfo>& snapshots,
                                   const KeepPolicy& policy, const GroupBy& group_by,
                                   Calendar calendar) {
    using Key = std::tuple<std::string, std::string, std::vector<std::string>>;
    std::vector<KeepGroup> groups;
    std::map<Key, std::vector<SnapshotInfo>> members;
    for (const auto& s : snapshots) {
        std::vector<std::string> tags;
        if (group_by.tags) {
            tags = s.tags;
            std::sort(tags.begin(), tags.end());
            tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
        }
        Key key{group_by.host ? s.hostname : "", group_by.source ? s.source : "", tags};
        auto [it, fresh] = members.try_emplace(key);
        if (fresh) groups.push_back({std::get<0>(key), std::get<1>(key), tags, {}});
        it->second.push_back(s);
    }
    for (auto& g : groups) {
        auto& list = members[{g.hostname, g.source, g.tags}];
        g.decisions = apply_policy(std::move(list), policy, calendar);
    }
    return groups;
}

}  // namespace wmrun::snapshot
