// The v2 driver against a real cgroup2 hierarchy: /sys/fs/cgroup on a unified host, the
// unified tree of a hybrid host (where only hugetlb is bound to v2, but freeze, kill and
// CLONE_INTO_CGROUP work all the same).
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "drivers.hpp"
#include "support.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/cgroups/devices.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;
using cgtest::ok;
using namespace std::chrono_literals;

namespace {

std::string unified_cgroup_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("0::")) return line.substr(3);
    return "<none>";
}

}  // namespace

TEST_CASE("v2: CLONE_INTO_CGROUP, freeze, thaw, kill, destroy") {
    CGTEST_V2_ROOT_OR_SKIP(root);
    cgtest::SubtreeRestore restore(root);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(detail::create_v2(root, g.path()));
    std::string dir = root + g.path();
    CHECK(path_exists(dir));

    auto* counter = static_cast<volatile std::uint64_t*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    REQUIRE(counter != MAP_FAILED);
    auto fd = ok(g.manager->clone_into_fd());
    REQUIRE(fd.valid());
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<std::uint64_t>(fd.get());
    long pid = sys::clone3(&args, sizeof args);
    if (pid == 0) {
        ::signal(SIGTERM, SIG_DFL);
        for (;;)
            *counter = *counter + 1;
    }
    REQUIRE(pid > 0);
    g.adopt(static_cast<pid_t>(pid));
    CHECK(unified_cgroup_of(pid) == g.path());
    CHECK(ok(g.manager->pids()) == std::vector<pid_t>{static_cast<pid_t>(pid)});

    ok(g.manager->freeze());
    CHECK(ok(g.manager->frozen()));
    CHECK(cgtest::cgroup_file(dir, "cgroup.events").find("frozen 1") != std::string::npos);
    std::uint64_t before = *counter;
    std::this_thread::sleep_for(50ms);
    CHECK(*counter == before);
    ok(g.manager->thaw());
    CHECK(!ok(g.manager->frozen()));
    CHECK(cgtest::eventually([&] { return *counter > before; }));

    auto s = ok(g.manager->stats());
    CHECK(s.cpu.usage_ns > 0);
    CHECK(s.cpu_pressure);

    ok(g.manager->kill_all(SIGKILL));
    int status = 0;
    REQUIRE(::waitpid(static_cast<pid_t>(pid), &status, 0) == pid);
    g.reaped(static_cast<pid_t>(pid));
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    ok(g.manager->destroy());
    CHECK(!path_exists(dir));
    ::munmap(const_cast<std::uint64_t*>(counter), 4096);
}

TEST_CASE("v2: kill_all with another signal freezes, signals and thaws") {
    CGTEST_V2_ROOT_OR_SKIP(root);
    cgtest::SubtreeRestore restore(root);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(detail::create_v2(root, g.path()));
    pid_t pid = g.spawn();
    ok(g.manager->enter(pid));
    ok(g.manager->kill_all(SIGTERM));
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    g.reaped(pid);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
    CHECK(!ok(g.manager->frozen()));
}

TEST_CASE("v2: save and load") {
    CGTEST_V2_ROOT_OR_SKIP(root);
    cgtest::SubtreeRestore restore(root);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(detail::create_v2(root, g.path()));
    auto again = ok(Manager::load(g.manager->save()));
    CHECK(again->path() == g.path());
    pid_t pid = g.spawn();
    ok(again->enter(pid));
    CHECK(unified_cgroup_of(pid) == g.path());
    CHECK(!Manager::load(Json{{"driver", "v9"}}));
    CHECK(!Manager::load(Json::array()));
}

TEST_CASE("v2: resources") {
    CGTEST_V2_ROOT_OR_SKIP(root);
    cgtest::SubtreeRestore restore(root);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(detail::create_v2(root, g.path()));
    std::string dir = root + g.path();
    auto controllers = cgtest::cgroup_file(dir, "cgroup.controllers");

    Resources r;
    r.unified["cgroup.max.descendants"] = "3";
    r.devices = default_device_rules();  // enforced by the eBPF filter
    ok(g.manager->apply(r));
    CHECK(cgtest::cgroup_file(dir, "cgroup.max.descendants") == "3");

    Resources escape;
    escape.unified["../cgroup.procs"] = "1";
    CHECK(!g.manager->apply(escape));

    if (controllers.find("memory") == std::string::npos) {
        Resources mem;
        mem.memory = Memory{};
        mem.memory->limit = 1 << 20;
        auto err = g.manager->apply(mem);
        REQUIRE(!err);
        CHECK(err.error().message().find("not available") != std::string::npos);
    } else {
        Resources mem;
        mem.memory = Memory{};
        mem.memory->limit = 64 << 20;
        mem.memory->reservation = 1 << 20;
        ok(g.manager->apply(mem));
        CHECK(cgtest::cgroup_file(dir, "memory.max") == std::to_string(64 << 20));
        CHECK(cgtest::cgroup_file(dir, "memory.low") == std::to_string(1 << 20));
    }
    if (controllers.find("pids") != std::string::npos) {
        Resources pids;
        pids.pids = Pids{7};
        ok(g.manager->apply(pids));
        CHECK(cgtest::cgroup_file(dir, "pids.max") == "7");
    }
    if (controllers.find("cpu") != std::string::npos) {
        Resources cpu;
        cpu.cpu = Cpu{};
        cpu.cpu->shares = 1024;
        cpu.cpu->quota = 20000;
        cpu.cpu->period = 100000;
        ok(g.manager->apply(cpu));
        CHECK(cgtest::cgroup_file(dir, "cpu.weight") == "39");
        CHECK(cgtest::cgroup_file(dir, "cpu.max") == "20000 100000");
    }
    if (detail::has_file(dir, "hugetlb.2MB.max")) {
        Resources huge;
        huge.hugepage_limits.push_back(HugepageLimit{"2MB", 4 << 20});
        ok(g.manager->apply(huge));
        CHECK(cgtest::cgroup_file(dir, "hugetlb.2MB.max") == std::to_string(4 << 20));
        CHECK(ok(g.manager->stats()).hugetlb.at("2MB").limit == 4 << 20);
    }
}

TEST_CASE("hybrid: hugetlb bound to the unified tree takes hugepage limits") {
    if (::geteuid() != 0) WMRUN_SKIP("needs root");
    if (ok(detect_layout()) != Layout::hybrid) WMRUN_SKIP("needs a hybrid host");
    auto on_v2 = cgtest::cgroup_file(detail::kHybridUnifiedRoot, "cgroup.controllers");
    auto v1 = ok(detail::v1_mounts());
    if (v1.contains("hugetlb")) WMRUN_SKIP("hugetlb is bound to a v1 hierarchy on this host");
    if (on_v2.find("hugetlb") == std::string::npos)
        WMRUN_SKIP("the kernel has no hugetlb controller");
    cgtest::SubtreeRestore restore(detail::kHybridUnifiedRoot);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(Manager::create(Config{g.path(), "t"}));
    std::string dir = std::string(detail::kHybridUnifiedRoot) + g.path();
    Resources huge;
    huge.hugepage_limits.push_back(HugepageLimit{"2MB", 8 << 20});
    ok(g.manager->apply(huge));
    CHECK(cgtest::cgroup_file(dir, "hugetlb.2MB.max") == std::to_string(8 << 20));
    CHECK(ok(g.manager->stats()).hugetlb.at("2MB").limit == 8 << 20);
    Resources bad;
    bad.hugepage_limits.push_back(HugepageLimit{"3MB", 1});
    CHECK(!g.manager->apply(bad));
}
