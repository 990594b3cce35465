// StateStore::load of damaged state files: every member is type- and range-checked, and a
// bad one is a one-line error naming the member. A pid of 4.2e90 was found by the state-json
// fuzz target: nlohmann's get<int>() converted it with undefined behaviour.
#include <catch2/catch.hpp>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/overlay/temp_dir.hpp"
#include "wmrun/runtime/state.hpp"

using namespace wmrun;
using Catch::Matchers::Contains;

namespace {

struct SavedState {
    overlay::TempDir dir = overlay::TempDir::create("/tmp", "wmrun-state-test-").value();
    runtime::StateStore store{dir.path()};

    SavedState() {
        runtime::ContainerState s;
        s.id = "c1";
        s.pid = 4242;
        s.start_time = 123456789;
        s.bundle = "/srv/bundles/c1";
        s.hibernated = true;
        s.wakes.count = 2;
        s.wakes.sum_seconds = 0.001;
        REQUIRE(mkdir_all(store.dir(s.id)));
        REQUIRE(store.save(s));
    }

    Json doc() const {
        return parse_json(read_file(store.dir("c1") + "/state.json").value(), "state").value();
    }
    std::string load_error_after(const Json& doc) {
        std::string text = doc.dump();
        REQUIRE(replace_file(store.dir("c1") + "/state.json", text, 0600));
        auto s = store.load("c1");
        REQUIRE_FALSE(s);
        std::string msg = s.error().message();
        CHECK(msg.find('\n') == std::string::npos);
        return msg;
    }
};

}  // namespace

TEST_CASE("a saved state loads back") {
    SavedState st;
    auto s = st.store.load("c1");
    REQUIRE(s);
    CHECK(s->pid == 4242);
    CHECK(s->start_time == 123456789);
    CHECK(s->hibernated);
    CHECK(s->wakes.count == 2);
}

TEST_CASE("a state whose numbers do not fit is refused, naming the member") {
    SavedState st;
    const Json saved = st.doc();
    Json d = saved;
    d["pid"] = 4.243e90;
    CHECK_THAT(st.load_error_after(d), Contains("pid: must be an integer"));
    d["pid"] = 1ull << 40;
    CHECK_THAT(st.load_error_after(d), Contains("pid: must be an integer between"));
    d["pid"] = "4242";
    CHECK_THAT(st.load_error_after(d), Contains("pid: must be an integer"));
    d = saved;
    d["wmrun"]["startTime"] = -1;
    CHECK_THAT(st.load_error_after(d), Contains("wmrun.startTime"));
    d = saved;
    d["wmrun"]["hibernatedAt"] = 1e300;
    CHECK_THAT(st.load_error_after(d), Contains("wmrun.hibernatedAt"));
    d = saved;
    d["wmrun"]["wakes"]["buckets"][0] = 0.5;
    CHECK_THAT(st.load_error_after(d), Contains("wmrun.wakes.buckets[0]"));
    d = saved;
    d["wmrun"]["wakes"]["sumSeconds"] = "fast";
    CHECK_THAT(st.load_error_after(d), Contains("wmrun.wakes.sumSeconds"));
    d = saved;
    d["annotations"] = {{"k", 1}};
    CHECK_THAT(st.load_error_after(d), Contains("annotations.k: must be a string"));
    d = saved;
    d["id"] = "c2";
    CHECK_THAT(st.load_error_after(d), Contains("names another container"));
}
