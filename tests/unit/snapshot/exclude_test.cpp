// create --exclude patterns, and manifests written before the host was recorded.
#include <catch2/catch.hpp>

#include "exclude.hpp"
#include "manifest.hpp"

using namespace wmrun::snapshot;

namespace {

bool excluded(std::vector<std::string> patterns, std::string_view path) {
    auto set = ExcludeSet::compile(patterns);
    REQUIRE(set);
    return set->matches(path);
}

}  // namespace

TEST_CASE("an unanchored pattern matches at any depth, an anchored one at the source") {
    CHECK(excluded({"*.log"}, "x.log"));
    CHECK(excluded({"*.log"}, "a/b/x.log"));
    CHECK_FALSE(excluded({"*.log"}, "a/x.log.gz"));
    CHECK(excluded({"/cache"}, "cache"));
    CHECK_FALSE(excluded({"/cache"}, "a/cache"));
    CHECK(excluded({"cache"}, "a/cache"));
    CHECK(excluded({"a/b"}, "x/a/b"));
    CHECK_FALSE(excluded({"/a/b"}, "x/a/b"));
    CHECK(excluded({"*"}, ".hidden"));  // "*" takes a leading dot, as restic's
}

TEST_CASE("** matches any number of directories, none included; * stays in one component") {
    CHECK(excluded({"/a/**/z"}, "a/z"));
    CHECK(excluded({"/a/**/z"}, "a/b/c/z"));
    CHECK_FALSE(excluded({"/a/**/z"}, "b/z"));
    CHECK_FALSE(excluded({"/a/*"}, "a/b/c"));  // a/b matches; the walk never reaches a/b/c
    CHECK(excluded({"/a/*"}, "a/b"));
    CHECK(excluded({"/**/**/**/x"}, "p/q/x"));
    CHECK(excluded({"/[ab]?"}, "bz"));
}

TEST_CASE("empty patterns are refused") {
    CHECK_FALSE(ExcludeSet::compile({""}));
    CHECK_FALSE(ExcludeSet::compile({"/"}));
    CHECK_FALSE(ExcludeSet::compile({"a//b"}));
    auto none = ExcludeSet::compile({});
    REQUIRE(none);
    CHECK_FALSE(none->matches("anything"));
}

TEST_CASE("a manifest without hostname, as written before it was recorded, still loads") {
    auto m = parse_manifest_json(
        R"({"parent":"","source":"2f64","time_ns":5,"tree":[],"version":1})", "old");
    REQUIRE(m);
    CHECK(m->hostname.empty());
    CHECK(m->source == "/d");
    auto with_origin = parse_manifest_json(
        R"({"hostname":"h","origin":{"host":"sender","repository":"r","snapshot":"s"},)"
        R"("parent":"","source":"","time_ns":5,"tree":[],"version":1})",
        "new");
    REQUIRE(with_origin);
    CHECK(with_origin->origin_host == "sender");
    // Written back the same way, byte for byte.
    CHECK(manifest_json(*with_origin) ==
          R"({"hostname":"h","origin":{"host":"sender","repository":"r","snapshot":"s"},)"
          R"("parent":"","source":"","time_ns":5,"tree":[],"version":1})");
}
