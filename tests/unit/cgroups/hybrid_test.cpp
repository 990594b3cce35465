// The hybrid/legacy driver against this host's real hierarchies (root only).
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "support.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/cgroups/devices.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;
using cgtest::ok;
using namespace std::chrono_literals;

// On a hybrid or a legacy host: the v1 hierarchies are what these cases test.
#define SKIP_UNLESS_HYBRID() \
    if (auto why = cgtest::missing_feature(cgtest::Needs::v1); !why.empty()) WMRUN_SKIP(why)

namespace {

std::string v1_dir(const std::string& controller, const std::string& path) {
    auto mounts = ok(detail::v1_mounts());
    return mounts.at(controller) + path;
}

bool is_hybrid() {
    return detect_layout() == Layout::hybrid;
}

// The cgroup of pid in hierarchy `key` ("memory", or "" for the unified one).
std::string proc_cgroup(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
        auto a = line.find(':'), b = line.find(':', a + 1);
        std::string controllers = line.substr(a + 1, b - a - 1);
        if (controllers == key ||
            ("," + controllers + ",").find("," + key + ",") != std::string::npos && !key.empty())
            return line.substr(b + 1);
    }
    return "<none>";
}

// A pipe the child waits on until the parent has moved it into the cgroup.
struct Gate {
    int fds[2];
    Gate() { REQUIRE(::pipe(fds) == 0); }
    ~Gate() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    void wait() {
        char c;
        while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
        }
    }
    void open() { REQUIRE(::write(fds[1], "g", 1) == 1); }
};

// A result the child writes back as one int.
struct Report {
    int fds[2];
    Report() { REQUIRE(::pipe(fds) == 0); }
    ~Report() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    void send(int v) { (void)!::write(fds[1], &v, sizeof v); }
    int receive() {
        int v = -1;
        REQUIRE(::read(fds[0], &v, sizeof v) == sizeof v);
        return v;
    }
};

std::unique_ptr<Manager> create(cgtest::Guard& g) {
    return ok(Manager::create(Config{g.path(), "test", false, false}));
}

}  // namespace

TEST_CASE("hybrid: create makes a directory in every hierarchy, destroy removes them") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    CHECK(g.manager->path() == g.path());
    auto mounts = ok(detail::v1_mounts());
    for (const auto& [controller, mount_point] : mounts)
        CHECK(path_exists(mount_point + g.path()));
    if (is_hybrid()) CHECK(path_exists(std::string(detail::kHybridUnifiedRoot) + g.path()));
    // cpuset starts with the parent's cpus and mems, or no task could join.
    CHECK(!cgtest::cgroup_file(v1_dir("cpuset", g.path()), "cpuset.cpus").empty());
    CHECK(!cgtest::cgroup_file(v1_dir("cpuset", g.path()), "cpuset.mems").empty());

    auto again = ok(Manager::load(g.manager->save()));
    CHECK(again->path() == g.path());
    CHECK(again->save() == g.manager->save());
    ok(again->destroy());
    for (const auto& [controller, mount_point] : mounts)
        CHECK(!path_exists(mount_point + g.path()));
    CHECK(!path_exists(std::string(detail::kHybridUnifiedRoot) + g.path()));
    ok(again->destroy());  // already gone is fine
}

TEST_CASE("hybrid: nested paths and child cgroups") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard parent(cgtest::unique_path());
    cgtest::Guard g(parent.path() + "/inner");
    g.manager = create(g);
    // A sub-cgroup made inside the container (as a nested runtime would) goes with it.
    std::string sub = v1_dir("memory", g.path()) + "/sub";
    REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
    ok(g.manager->destroy());
    CHECK(!path_exists(sub));
    CHECK(!path_exists(v1_dir("memory", g.path())));
    CHECK(path_exists(v1_dir("memory", parent.path())));
}

TEST_CASE("hybrid: enter moves a process into every hierarchy") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    CHECK(!g.manager->clone_into_fd()->valid());
    pid_t pid = g.spawn();
    ok(g.manager->enter(pid));
    for (const char* c : {"memory", "cpu", "pids", "freezer", "cpuset", "blkio", "devices"})
        CHECK(proc_cgroup(pid, c) == g.path());
    if (is_hybrid()) CHECK(proc_cgroup(pid, "") == g.path());
    auto pids = ok(g.manager->pids());
    CHECK(pids == std::vector<pid_t>{pid});
}

TEST_CASE("hybrid: freeze stops the processes, thaw resumes them") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    auto* counter = static_cast<volatile std::uint64_t*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    REQUIRE(counter != MAP_FAILED);
    pid_t pid = g.spawn([counter] {
        for (;;)
            *counter = *counter + 1;
    });
    ok(g.manager->enter(pid));
    std::this_thread::sleep_for(20ms);
    CHECK(!ok(g.manager->frozen()));

    ok(g.manager->freeze());
    CHECK(ok(g.manager->frozen()));
    std::uint64_t before = *counter;
    std::this_thread::sleep_for(50ms);
    CHECK(*counter == before);
    CHECK(ok(process_state(pid)) != 'R');
    // The v1 freezer, which podman, docker and containerd read, holds the state.
    if (::access("/sys/fs/cgroup/freezer", F_OK) == 0)
        CHECK(cgtest::cgroup_file("/sys/fs/cgroup/freezer" + g.path(), "freezer.state") ==
              "FROZEN");

    ok(g.manager->thaw());
    CHECK(!ok(g.manager->frozen()));
    CHECK(cgtest::eventually([&] { return *counter > before; }));

    // Round trips in a row (how fast they are is tests/bench/freeze's to say): each freeze
    // stops the counter, each thaw lets it go on.
    for (int i = 0; i < 20; ++i) {
        ok(g.manager->freeze());
        std::uint64_t at = *counter;
        CHECK(ok(g.manager->frozen()));
        std::this_thread::sleep_for(1ms);
        CHECK(*counter == at);
        ok(g.manager->thaw());
        CHECK(!ok(g.manager->frozen()));
    }
    std::uint64_t last = *counter;
    CHECK(cgtest::eventually([&] { return *counter > last; }));
    ::munmap(const_cast<std::uint64_t*>(counter), 4096);
}

TEST_CASE("hybrid: kill_all reaches every process, also those forked inside") {
    SKIP_UNLESS_HYBRID();
    for (int signal : {SIGTERM, SIGKILL}) {
        cgtest::Guard g(cgtest::unique_path());
        g.manager = create(g);
        Gate gate;
        std::vector<pid_t> children;
        for (int i = 0; i < 3; ++i) {
            children.push_back(g.spawn([&gate] {
                gate.wait();
                if (::fork() == 0)
                    for (;;)
                        ::pause();
            }));
            ok(g.manager->enter(children.back()));
        }
        for (int i = 0; i < 3; ++i)
            gate.open();
        // 3 children + 3 grandchildren
        for (int i = 0; i < 200 && ok(g.manager->pids()).size() < 6; ++i)
            std::this_thread::sleep_for(5ms);
        REQUIRE(ok(g.manager->pids()).size() == 6);

        ok(g.manager->kill_all(signal));
        for (pid_t pid : children) {
            int status = 0;
            REQUIRE(::waitpid(pid, &status, 0) == pid);
            g.reaped(pid);
            CHECK(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == signal);
        }
        for (int i = 0; i < 200 && !ok(g.manager->pids()).empty(); ++i)
            std::this_thread::sleep_for(5ms);
        CHECK(ok(g.manager->pids()).empty());
        CHECK(!ok(g.manager->frozen()));
        ok(g.manager->destroy());
    }
}

TEST_CASE("hybrid: a pids limit stops a fork loop") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Resources r;
    r.pids = Pids{5};
    ok(g.manager->apply(r));
    CHECK(cgtest::cgroup_file(v1_dir("pids", g.path()), "pids.max") == "5");

    Gate gate;
    Report report;
    pid_t pid = g.spawn([&] {
        gate.wait();
        int forked = 0;
        for (int i = 0; i < 20; ++i) {
            pid_t c = ::fork();
            if (c == 0)
                for (;;)
                    ::pause();
            if (c < 0) break;
            ++forked;
        }
        report.send(forked);
    });
    ok(g.manager->enter(pid));
    gate.open();
    CHECK(report.receive() == 4);  // the child itself is the fifth
    CHECK(ok(g.manager->stats()).pids.current == 5);
    CHECK(ok(g.manager->stats()).pids.limit == 5);
}

TEST_CASE("hybrid: memory limits are written and enforced") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    std::string dir = v1_dir("memory", g.path());
    Resources r;
    r.memory = Memory{};
    r.memory->limit = 32 << 20;
    r.memory->reservation = 16 << 20;
    ok(g.manager->apply(r));
    CHECK(cgtest::cgroup_file(dir, "memory.limit_in_bytes") == std::to_string(32 << 20));
    CHECK(cgtest::cgroup_file(dir, "memory.soft_limit_in_bytes") == std::to_string(16 << 20));
    CHECK(ok(g.manager->stats()).memory.limit == 32 << 20);

    Resources swap;
    swap.memory = Memory{};
    swap.memory->limit = 32 << 20;
    swap.memory->swap = 64 << 20;
    auto applied = g.manager->apply(swap);
    if (detail::has_file(dir, "memory.memsw.limit_in_bytes")) {
        ok(std::move(applied));
        CHECK(cgtest::cgroup_file(dir, "memory.memsw.limit_in_bytes") == std::to_string(64 << 20));
    } else {
        REQUIRE(!applied);
        CHECK(applied.error().message().find("swap accounting") != std::string::npos);
    }

    // A child that touches more than the limit is OOM-killed (this host has no swap to push to).
    Gate gate;
    pid_t pid = g.spawn([&gate] {
        gate.wait();
        std::size_t size = 128 << 20;
        char* p = static_cast<char*>(::malloc(size));
        for (std::size_t i = 0; i < size; i += 4096)
            p[i] = 1;
        ::_exit(0);
    });
    ok(g.manager->enter(pid));
    gate.open();
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    g.reaped(pid);
    bool swap_present =
        ok(read_file("/proc/meminfo")).find("SwapTotal:             0 kB") == std::string::npos;
    if (!swap_present) {
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
        CHECK(ok(g.manager->stats()).memory.oom_kill >= 1);
    }

    Resources unlimited;
    unlimited.memory = Memory{};
    unlimited.memory->limit = -1;
    ok(g.manager->apply(unlimited));
    CHECK(ok(g.manager->stats()).memory.limit == 0);
}

TEST_CASE("hybrid: cpu and cpuset limits") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Resources r;
    r.cpu = Cpu{};
    r.cpu->shares = 512;
    r.cpu->quota = 50000;
    r.cpu->period = 100000;
    r.cpu->cpus = "0";
    r.cpu->mems = "0";
    ok(g.manager->apply(r));
    std::string cpu = v1_dir("cpu", g.path());
    CHECK(cgtest::cgroup_file(cpu, "cpu.shares") == "512");
    CHECK(cgtest::cgroup_file(cpu, "cpu.cfs_quota_us") == "50000");
    CHECK(cgtest::cgroup_file(cpu, "cpu.cfs_period_us") == "100000");
    CHECK(cgtest::cgroup_file(v1_dir("cpuset", g.path()), "cpuset.cpus") == "0");

    pid_t pid = g.spawn();
    ok(g.manager->enter(pid));
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(::sched_getaffinity(pid, sizeof set, &set) == 0);
    CHECK(CPU_COUNT(&set) == 1);
    CHECK(CPU_ISSET(0, &set));

    // A shorter period with a new quota: the period is retried after the quota.
    Resources shorter;
    shorter.cpu = Cpu{};
    shorter.cpu->quota = 5000;
    shorter.cpu->period = 10000;
    ok(g.manager->apply(shorter));
    CHECK(cgtest::cgroup_file(cpu, "cpu.cfs_period_us") == "10000");

    Resources clamped;
    clamped.cpu = Cpu{};
    clamped.cpu->shares = 1;  // the kernel makes it 2
    auto err = g.manager->apply(clamped);
    REQUIRE(!err);
    CHECK(err.error().message().find("kernel set 2") != std::string::npos);
}

TEST_CASE("hybrid: blkio throttling") {
    SKIP_UNLESS_HYBRID();
    auto dev = read_file("/sys/block/vda/dev");
    if (!dev) dev = read_file("/sys/block/loop0/dev");
    if (!dev) WMRUN_SKIP("no block device to throttle (/sys/block/vda or loop0)");
    auto colon = dev->find(':');
    std::int64_t major = std::stoll(dev->substr(0, colon)),
                 minor = std::stoll(dev->substr(colon + 1));
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Resources r;
    r.block_io = BlockIo{};
    r.block_io->throttle_read_bps.push_back(ThrottleDevice{major, minor, 1 << 20});
    r.block_io->throttle_write_iops.push_back(ThrottleDevice{major, minor, 100});
    ok(g.manager->apply(r));
    std::string devno = std::to_string(major) + ":" + std::to_string(minor);
    std::string dir = v1_dir("blkio", g.path());
    CHECK(cgtest::cgroup_file(dir, "blkio.throttle.read_bps_device") ==
          devno + " " + std::to_string(1 << 20));
    CHECK(cgtest::cgroup_file(dir, "blkio.throttle.write_iops_device") == devno + " 100");
    r.block_io->throttle_read_bps[0].rate = 0;  // 0 removes the rule
    ok(g.manager->apply(r));
    CHECK(cgtest::cgroup_file(dir, "blkio.throttle.read_bps_device").empty());
}

TEST_CASE("hybrid: device rules deny what is not allowed") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Resources r;
    r.devices = default_device_rules();
    ok(g.manager->apply(r));
    auto list = cgtest::cgroup_file(v1_dir("devices", g.path()), "devices.list");
    CHECK(list.find("c 1:3 rwm") != std::string::npos);
    CHECK(list.find("c 136:* rwm") != std::string::npos);
    CHECK(list.find("a *:* rwm") == std::string::npos);

    Gate gate;
    Report report;
    pid_t pid = g.spawn([&] {
        gate.wait();
        int null_fd = ::open("/dev/null", O_RDONLY);
        int disk_fd = ::open("/dev/loop0", O_RDONLY);
        report.send(null_fd >= 0 ? 0 : errno);
        report.send(disk_fd >= 0 ? 0 : errno);
    });
    ok(g.manager->enter(pid));
    gate.open();
    CHECK(report.receive() == 0);
    CHECK(report.receive() == EPERM);
}

TEST_CASE("hybrid: stats") {
    SKIP_UNLESS_HYBRID();
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Gate gate;
    pid_t pid = g.spawn([&gate] {
        gate.wait();
        auto* mem = static_cast<char*>(::malloc(8 << 20));
        std::memset(mem, 1, 8 << 20);
        asm volatile("" : : "r"(mem) : "memory");  // keep the pages
        volatile std::uint64_t spin = 0;
        for (;;)
            spin = spin + 1;
    });
    ok(g.manager->enter(pid));
    gate.open();
    CHECK(cgtest::eventually([&] {
        auto now = ok(g.manager->stats());
        return now.cpu.usage_ns > 50'000'000 && now.memory.rss > (4 << 20);
    }));
    auto s = ok(g.manager->stats());
    CHECK(s.pids.current == 1);
    CHECK(s.cpu.usage_ns > 50'000'000);
    CHECK(s.cpu.user_ns > 0);
    CHECK(s.memory.usage > (4 << 20));
    CHECK(s.memory.rss > (4 << 20));
    CHECK(s.memory.limit == 0);
    if (is_hybrid()) {
        REQUIRE(s.cpu_pressure);
        REQUIRE(s.memory_pressure);
        CHECK(s.io_pressure);
    }
}

TEST_CASE("hybrid: unified keys go to the unified tree") {
    SKIP_UNLESS_HYBRID();
    if (!is_hybrid()) WMRUN_SKIP("needs a hybrid host; this one is cgroup v1 only");
    cgtest::Guard g(cgtest::unique_path());
    g.manager = create(g);
    Resources r;
    r.unified["cgroup.max.descendants"] = "3";
    ok(g.manager->apply(r));
    CHECK(cgtest::cgroup_file(std::string(detail::kHybridUnifiedRoot) + g.path(),
                              "cgroup.max.descendants") == "3");
    Resources bad;
    bad.unified["../cgroup.procs"] = "1";
    CHECK(!g.manager->apply(bad));
}
