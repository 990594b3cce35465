// The retention policy of forget: restic's rules on fixed timestamps, in UTC.
#include <catch2/catch.hpp>

#include <time.h>

#include <map>

#include "wmrun/snapshot/retention.hpp"

using namespace wmrun::snapshot;

namespace {

// "2026-01-05 10:30" in UTC, as nanoseconds.
int64_t at(const char* when) {
    struct tm tm{};
    REQUIRE(::strptime(when, "%Y-%m-%d %H:%M", &tm) != nullptr);
    return int64_t(::timegm(&tm)) * 1000000000;
}

SnapshotInfo snap(std::string id, const char* when, std::string source = "/data",
                  std::string host = "h1", std::vector<std::string> tags = {}) {
    SnapshotInfo s;
    s.id = std::move(id);
    s.time_ns = at(when);
    s.source = std::move(source);
    s.hostname = std::move(host);
    s.tags = std::move(tags);
    return s;
}

// id -> reasons of the kept ones; the removed ones are absent.
std::map<std::string, std::vector<std::string>> kept(const std::vector<KeepDecision>& ds) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& d : ds) {
        CHECK(d.keep == !d.reasons.empty());
        if (d.keep) out[d.snapshot.id] = d.reasons;
    }
    return out;
}

using Reasons = std::vector<std::string>;

}  // namespace

TEST_CASE("keep-last keeps the newest n, newest first") {
    std::vector<SnapshotInfo> s = {snap("a", "2026-01-01 10:00"), snap("c", "2026-01-03 10:00"),
                                   snap("b", "2026-01-02 10:00"), snap("d", "2026-01-04 10:00")};
    auto ds = apply_policy(s, {.last = 2}, Calendar::utc);
    REQUIRE(ds.size() == 4);
    CHECK(ds[0].snapshot.id == "d");
    CHECK(ds[3].snapshot.id == "a");
    CHECK(kept(ds) == std::map<std::string, Reasons>{{"d", {"last snapshot"}},
                                                     {"c", {"last snapshot"}}});
    // More than there are: all kept, the oldest by the ordinary count.
    CHECK(kept(apply_policy(s, {.last = 10}, Calendar::utc)).size() == 4);
}

TEST_CASE("keep-hourly keeps the newest snapshot of each of the last n hours that have one") {
    std::vector<SnapshotInfo> s = {snap("1", "2026-01-05 09:05"), snap("2", "2026-01-05 10:10"),
                                   snap("3", "2026-01-05 10:50"), snap("4", "2026-01-05 13:20"),
                                   snap("5", "2026-01-05 13:40")};
    // 13h (5), 10h (3); 4 and 2 share those hours, and the count is spent before 1.
    CHECK(kept(apply_policy(s, {.hourly = 2}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"5", {"hourly snapshot"}}, {"3", {"hourly snapshot"}}});
    // Hours without a snapshot do not count: three hours reach back to 09h.
    CHECK(kept(apply_policy(s, {.hourly = 3}, Calendar::utc)).size() == 3);
}

TEST_CASE("a rule with counts left also keeps the oldest snapshot") {
    std::vector<SnapshotInfo> s = {snap("1", "2026-01-05 08:00"), snap("2", "2026-01-05 20:00"),
                                   snap("3", "2026-01-06 09:00")};
    // Days 6 (3) and 5 (2) take two of five counts; 1 shares day 5 but is the oldest.
    CHECK(kept(apply_policy(s, {.daily = 5}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"3", {"daily snapshot"}},
                                         {"2", {"daily snapshot"}},
                                         {"1", {"daily snapshot"}}});
    CHECK(kept(apply_policy(s, {.daily = 2}, Calendar::utc)).size() == 2);
}

TEST_CASE("keep-weekly buckets by ISO week across the turn of the year") {
    // 2025-12-29 (Monday) to 2026-01-04 (Sunday) is ISO week 2026-W01.
    std::vector<SnapshotInfo> s = {snap("sun52", "2025-12-28 12:00"),
                                   snap("mon01", "2025-12-29 12:00"),
                                   snap("sun01", "2026-01-04 12:00"),
                                   snap("mon02", "2026-01-05 12:00")};
    CHECK(kept(apply_policy(s, {.weekly = 2}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"mon02", {"weekly snapshot"}},
                                         {"sun01", {"weekly snapshot"}}});
    CHECK(kept(apply_policy(s, {.weekly = 3}, Calendar::utc)).count("sun52") == 1);
}

TEST_CASE("keep-monthly and keep-yearly bucket by calendar month and year") {
    std::vector<SnapshotInfo> s = {
        snap("2024-12", "2024-12-31 23:59"), snap("2025-01a", "2025-01-01 00:00"),
        snap("2025-01b", "2025-01-31 23:00"), snap("2025-03", "2025-03-15 12:00"),
        snap("2026-02", "2026-02-01 00:00")};
    CHECK(kept(apply_policy(s, {.monthly = 3}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"2026-02", {"monthly snapshot"}},
                                         {"2025-03", {"monthly snapshot"}},
                                         {"2025-01b", {"monthly snapshot"}}});
    CHECK(kept(apply_policy(s, {.yearly = 2}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"2026-02", {"yearly snapshot"}},
                                         {"2025-03", {"yearly snapshot"}}});
}

TEST_CASE("-1 keeps every bucket, and rules add their reasons to one snapshot") {
    std::vector<SnapshotInfo> s = {snap("a", "2026-01-01 10:00"), snap("b", "2026-01-01 11:00"),
                                   snap("c", "2026-01-02 10:00"), snap("d", "2026-01-03 10:00")};
    auto k = kept(apply_policy(s, {.last = 1, .daily = kKeepAll}, Calendar::utc));
    CHECK(k == std::map<std::string, Reasons>{{"d", {"last snapshot", "daily snapshot"}},
                                              {"c", {"daily snapshot"}},
                                              {"b", {"daily snapshot"}},
                                              {"a", {"daily snapshot"}}});
    // a is kept above as the oldest with the count (unlimited) left, not for its own day.
    auto monthly = kept(apply_policy(s, {.monthly = kKeepAll}, Calendar::utc));
    CHECK(monthly == std::map<std::string, Reasons>{{"d", {"monthly snapshot"}},
                                                    {"a", {"monthly snapshot"}}});
}

TEST_CASE("snapshots of the same time are ordered by id, higher first") {
    std::vector<SnapshotInfo> s = {snap("aa", "2026-01-05 10:00"), snap("bb", "2026-01-05 10:00"),
                                   snap("00", "2026-01-04 10:00")};
    CHECK(kept(apply_policy(s, {.last = 1}, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"bb", {"last snapshot"}}});
    // Reversed input, same decision.
    std::reverse(s.begin(), s.end());
    auto ds = apply_policy(s, {.hourly = 1}, Calendar::utc);
    CHECK(ds[0].snapshot.id == "bb");
    CHECK(kept(ds) == std::map<std::string, Reasons>{{"bb", {"hourly snapshot"}}});
}

TEST_CASE("keep-tag keeps a snapshot holding every tag of one list, uncounted") {
    std::vector<SnapshotInfo> s = {snap("ab", "2026-01-01 10:00", "/d", "h", {"a", "b"}),
                                   snap("a", "2026-01-02 10:00", "/d", "h", {"a"}),
                                   snap("c", "2026-01-03 10:00", "/d", "h", {"c", "x"}),
                                   snap("none", "2026-01-04 10:00", "/d", "h")};
    KeepPolicy p{.tags = {{"a", "b"}, {"c"}}};
    CHECK(kept(apply_policy(s, p, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"ab", {"has tags [a, b]"}}, {"c", {"has tags [c]"}}});
    p.last = 1;
    CHECK(kept(apply_policy(s, p, Calendar::utc)).count("none") == 1);
}

TEST_CASE("an empty policy keeps everything") {
    std::vector<SnapshotInfo> s = {snap("a", "2026-01-01 10:00"), snap("b", "2026-01-02 10:00")};
    KeepPolicy p;
    CHECK(p.empty());
    CHECK(kept(apply_policy(s, p, Calendar::utc)) ==
          std::map<std::string, Reasons>{{"a", {"policy is empty"}}, {"b", {"policy is empty"}}});
    CHECK(apply_policy({}, {.last = 1}, Calendar::utc).empty());
}

TEST_CASE("forget groups by host and source: one source never counts against another") {
    std::vector<SnapshotInfo> s = {snap("x1", "2026-01-01 10:00", "/x"),
                                   snap("y1", "2026-01-02 10:00", "/y"),
                                   snap("x2", "2026-01-03 10:00", "/x"),
                                   snap("x1-other-host", "2026-01-04 10:00", "/x", "h2")};
    auto groups = plan_forget(s, {.last = 1}, {}, Calendar::utc);
    REQUIRE(groups.size() == 3);
    CHECK(groups[0].source == "/x");
    CHECK(groups[0].hostname == "h1");
    CHECK(groups[1].source == "/y");
    CHECK(groups[2].hostname == "h2");
    std::map<std::string, bool> decided;
    for (const auto& g : groups)
        for (const auto& d : g.decisions)
            decided[d.snapshot.id] = d.keep;
    CHECK(decided == std::map<std::string, bool>{
                         {"x1", false}, {"x2", true}, {"y1", true}, {"x1-other-host", true}});

    // By source alone, the hosts share a group; by nothing, everything is one group.
    auto by_source = plan_forget(s, {.last = 1}, {.host = false}, Calendar::utc);
    REQUIRE(by_source.size() == 2);
    CHECK(by_source[0].hostname.empty());
    CHECK(kept(by_source[0].decisions).count("x1-other-host") == 1);
    CHECK(kept(by_source[0].decisions).size() == 1);
    auto one = plan_forget(s, {.last = 1}, {.host = false, .source = false}, Calendar::utc);
    REQUIRE(one.size() == 1);
    CHECK(one[0].decisions.size() == 4);
}

TEST_CASE("grouping by tags takes the tag set, in any order") {
    std::vector<SnapshotInfo> s = {snap("1", "2026-01-01 10:00", "/d", "h", {"b", "a"}),
                                   snap("2", "2026-01-02 10:00", "/d", "h", {"a", "b"}),
                                   snap("3", "2026-01-03 10:00", "/d", "h", {"a"})};
    auto groups = plan_forget(s, {.last = 1}, {.tags = true}, Calendar::utc);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].tags == std::vector<std::string>{"a", "b"});
    CHECK(kept(groups[0].decisions).count("2") == 1);
    CHECK(kept(groups[0].decisions).size() == 1);
    CHECK(groups[1].tags == std::vector<std::string>{"a"});
}
