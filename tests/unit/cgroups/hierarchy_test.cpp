// Pure logic and the host's mounts: /proc/PID/cgroup parsing and the list of hierarchies a
// container's cgroup mount mirrors.
#include <catch2/catch.hpp>

#include "wmrun/cgroups/manager.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;

TEST_CASE("/proc/PID/cgroup: each v1 controller and the unified line") {
    auto paths = parse_proc_cgroup("9:name=systemd:/wmrun/a\n4:cpu,cpuacct:/wmrun/a\n"
                                   "3:memory:/../../wmrun/a\n0::/wmrun/a\n");
    CHECK(paths.at("name=systemd") == "/wmrun/a");
    CHECK(paths.at("cpu") == "/wmrun/a");
    CHECK(paths.at("cpuacct") == "/wmrun/a");
    CHECK(paths.at("memory") == "/../../wmrun/a");
    CHECK(paths.at("") == "/wmrun/a");
    CHECK(paths.size() == 5);
}

TEST_CASE("host_hierarchies lists every mounted hierarchy once") {
    auto layout = detect_layout();
    REQUIRE(layout);
    auto all = host_hierarchies();
    REQUIRE(all);
    std::size_t v2 = 0;
    for (const auto& h : *all) {
        if (h.v2) ++v2;
        CHECK(h.v2 == h.controllers.empty());
    }
    CHECK(v2 == (*layout == Layout::legacy ? 0u : 1u));
    if (*layout != Layout::unified) CHECK(all->size() > 1);
}
