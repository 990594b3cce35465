// Snapshot policies: the durations `snapshot policy --every` takes, and the policy file read
// back from a container's state directory, which a disk or a hand may have damaged.
#include <catch2/catch.hpp>

#include "wmrun/runtime/snapshot_policy.hpp"

using namespace wmrun;
using Catch::Matchers::Contains;

TEST_CASE("durations read as snapshot policy --every gives them") {
    CHECK(runtime::parse_duration("90").value() == 90);
    CHECK(runtime::parse_duration("90s").value() == 90);
    CHECK(runtime::parse_duration("15m").value() == 900);
    CHECK(runtime::parse_duration("1h30m").value() == 5400);
    CHECK(runtime::parse_duration("2d").value() == 172800);
    CHECK(runtime::parse_duration("1d1h1m1s").value() == 90061);
    for (const char* bad : {"", "0", "0s", "5x", "m", "1h30", "-5m", "1.5h", " 5m",
                            "99999999999999999999s", "9223372036854775807d"}) {
        INFO(bad);
        auto r = runtime::parse_duration(bad);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message(), Contains("\"" + std::string(bad) + "\""));
    }
}

TEST_CASE("durations print in the shortest form that reads back") {
    for (std::int64_t s : {1, 59, 60, 61, 3600, 5400, 86400, 90061, 1000000}) {
        INFO(s);
        auto text = runtime::format_duration(s);
        CHECK(runtime::parse_duration(text).value() == s);
    }
    CHECK(runtime::format_duration(5400) == "1h30m");
    CHECK(runtime::format_duration(45) == "45s");
}

TEST_CASE("a policy survives its JSON form") {
    runtime::SnapshotPolicy p;
    p.repo = "/srv/snapshots";
    p.every_seconds = 900;
    p.keep.last = 3;
    p.keep.hourly = 24;
    p.keep.yearly = snapshot::kKeepAll;
    p.keep.tags = {{"a", "b"}, {"c"}};
    p.tags = {"web"};
    p.exclude = {"*.log", "/cache"};
    auto back = runtime::parse_policy(runtime::policy_json(p)).value();
    CHECK(back.repo == p.repo);
    CHECK(back.every_seconds == 900);
    CHECK(back.keep.last == 3);
    CHECK(back.keep.hourly == 24);
    CHECK(back.keep.daily == 0);
    CHECK(back.keep.yearly == snapshot::kKeepAll);
    CHECK(back.keep.tags == p.keep.tags);
    CHECK(back.tags == p.tags);
    CHECK(back.exclude == p.exclude);
}

TEST_CASE("a damaged policy file is refused naming the member") {
    runtime::SnapshotPolicy p;
    p.repo = "/srv/snapshots";
    p.every_seconds = 60;
    Json good = runtime::policy_json(p);
    auto refused = [&](auto&& change) {
        Json j = good;
        change(j);
        auto r = runtime::parse_policy(j);
        REQUIRE_FALSE(r);
        return r.error().message();
    };
    CHECK_THAT(refused([](Json& j) { j.erase("repo"); }), Contains("repo: is required"));
    CHECK_THAT(refused([](Json& j) { j["repo"] = "relative/dir"; }), Contains("absolute"));
    CHECK_THAT(refused([](Json& j) { j["every_seconds"] = 0; }), Contains("every_seconds"));
    CHECK_THAT(refused([](Json& j) { j["every_seconds"] = 4.2e90; }),
               Contains("every_seconds: must be an integer"));
    CHECK_THAT(refused([](Json& j) { j["keep"]["last"] = -2; }), Contains("keep.last"));
    CHECK_THAT(refused([](Json& j) { j["keep"]["tags"] = {{1}}; }), Contains("keep.tags[0][0]"));
    CHECK_THAT(refused([](Json& j) { j["tags"] = "web"; }), Contains("tags: must be an array"));
    CHECK_THAT(refused([](Json& j) { j = Json::array(); }), Contains("must be an object"));
}
