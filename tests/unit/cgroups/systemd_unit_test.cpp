// The systemd driver's pure part: the unit a cgroupsPath names and the unit properties that
// linux.resources become (runc's conversions).
#include <catch2/catch.hpp>

#include "systemd_unit.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;
using namespace wmrun::cgroups::detail;

namespace {

SystemdUnit unit_of(std::string path, bool rootless = false) {
    auto u = systemd_unit(Config{std::move(path), "ctr1", true, rootless});
    REQUIRE(u);
    return *u;
}

std::vector<UnitProperty> props(const Resources& r) {
    auto p = unit_properties(r);
    REQUIRE(p);
    return *p;
}

std::optional<std::uint64_t> prop(const std::vector<UnitProperty>& ps, const std::string& name) {
    for (const auto& p : ps)
        if (p.name == name) return std::get<std::uint64_t>(p.value);
    return std::nullopt;
}

}  // namespace

TEST_CASE("systemd_unit: slice, unit and path") {
    auto u = unit_of("machine.slice:libpod:abc");
    CHECK(u.slice == "machine.slice");
    CHECK(u.unit == "libpod-abc.scope");
    CHECK(u.path == "/machine.slice/libpod-abc.scope");
    u = unit_of("");
    CHECK(u.slice == "system.slice");
    CHECK(u.unit == "wmrun-ctr1.scope");
    CHECK(unit_of("", true).slice == "user.slice");
    CHECK(unit_of("::x").unit == "x.scope");
    u = unit_of("a-b.slice:p:inner.slice");
    CHECK(u.slice == "a-b.slice");
    CHECK(u.unit == "inner.slice");
    CHECK(u.path == "/a.slice/a-b.slice/inner.slice");
    CHECK(!systemd_unit(Config{"a:b", "ctr1", true, false}));
    CHECK(!systemd_unit(Config{"nosuffix:p:x", "ctr1", true, false}));
}

TEST_CASE("unit_properties: memory, pids, io") {
    Resources r;
    r.memory = Memory{};
    r.memory->limit = 64 << 20;
    r.memory->reservation = 32 << 20;
    r.memory->swap = 96 << 20;
    r.pids = Pids{20};
    r.block_io = BlockIo{};
    r.block_io->weight = 500;
    auto ps = props(r);
    CHECK(prop(ps, "MemoryMax") == 64u << 20);
    CHECK(prop(ps, "MemoryLow") == 32u << 20);
    CHECK(prop(ps, "MemorySwapMax") == 32u << 20);  // OCI swap is memory+swap
    CHECK(prop(ps, "TasksMax") == 20u);
    CHECK(prop(ps, "IOWeight") == 1 + (490u * 9999) / 990);

    r = Resources{};
    r.memory = Memory{};
    r.memory->limit = -1;
    r.pids = Pids{-1};
    ps = props(r);
    CHECK(prop(ps, "MemoryMax") == kUnitInfinity);
    CHECK(prop(ps, "MemorySwapMax") == kUnitInfinity);
    CHECK(prop(ps, "TasksMax") == kUnitInfinity);

    // docker's update sends zeros for what it leaves alone.
    r = Resources{};
    r.memory = Memory{};
    r.memory->limit = 0;
    r.memory->swap = 0;
    r.pids = Pids{0};
    CHECK(props(r).empty());

    r = Resources{};
    r.memory = Memory{};
    r.memory->limit = 64 << 20;
    r.memory->swap = 32 << 20;  // less than the memory limit
    CHECK(!unit_properties(r));
}

TEST_CASE("unit_properties: cpu as runc converts it") {
    Resources r;
    r.cpu = Cpu{};
    r.cpu->shares = 1024;
    r.cpu->quota = 50000;
    r.cpu->period = 100000;
    auto ps = props(r);
    CHECK(prop(ps, "CPUWeight") == 39);  // 1 + (1024-2)*9999/262142
    CHECK(prop(ps, "CPUQuotaPeriodUSec") == 100000);
    CHECK(prop(ps, "CPUQuotaPerSecUSec") == 500000);

    r.cpu = Cpu{};
    r.cpu->quota = 12345;  // no period: 100 ms assumed; 123450 us/s rounds up to 130 ms
    ps = props(r);
    CHECK(!prop(ps, "CPUQuotaPeriodUSec"));
    CHECK(prop(ps, "CPUQuotaPerSecUSec") == 130000);

    r.cpu = Cpu{};
    r.cpu->quota = -1;
    CHECK(prop(props(r), "CPUQuotaPerSecUSec") == kUnitInfinity);

    r.cpu = Cpu{};
    r.cpu->quota = 0;
    r.cpu->period = 0;
    r.cpu->shares = 0;
    CHECK(props(r).empty());
}

TEST_CASE("unit_properties: cpusets as bitmasks") {
    CHECK(*cpu_list_to_mask("0") == std::vector<std::uint8_t>{0x01});
    CHECK(*cpu_list_to_mask("0-3,8") == std::vector<std::uint8_t>{0x0f, 0x01});
    CHECK(*cpu_list_to_mask(" 1,3 \n") == std::vector<std::uint8_t>{0x0a});
    CHECK(!cpu_list_to_mask("3-1"));
    CHECK(!cpu_list_to_mask("a"));
    CHECK(!cpu_list_to_mask(""));
    Resources r;
    r.cpu = Cpu{};
    r.cpu->cpus = "0-1";
    r.cpu->mems = "0";
    auto ps = props(r);
    REQUIRE(ps.size() == 2);
    CHECK(ps[0] == UnitProperty{"AllowedCPUs", std::vector<std::uint8_t>{0x03}});
    CHECK(ps[1] == UnitProperty{"AllowedMemoryNodes", std::vector<std::uint8_t>{0x01}});
}

TEST_CASE("unit_properties: unified keys systemd has properties for") {
    Resources r;
    r.memory = Memory{};
    r.memory->limit = 1 << 20;
    r.unified = {{"memory.high", "4194304"},
                 {"memory.max", "max"},
                 {"pids.max", "7"},
                 {"cpu.weight", "100"},
                 {"io.max", "8:0 rbps=1"}};
    auto ps = props(r);
    CHECK(prop(ps, "MemoryHigh") == 4194304u);
    CHECK(prop(ps, "MemoryMax") == kUnitInfinity);  // unified wins, as it is written last
    CHECK(std::count_if(ps.begin(), ps.end(), [](auto& p) { return p.name == "MemoryMax"; }) == 1);
    CHECK(prop(ps, "TasksMax") == 7u);
    CHECK(prop(ps, "CPUWeight") == 100u);
    r.unified = {{"memory.high", "lots"}};
    CHECK(!unit_properties(r));
}
