// Pure logic: cgroupsPath resolution, value conversions, mountinfo parsing, device defaults.
#include <catch2/catch.hpp>

#include "convert.hpp"
#include "layout.hpp"
#include "wmrun/cgroups/devices.hpp"
#include "wmrun/cgroups/manager.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;

namespace {

std::string resolved(std::string path, bool systemd = false, bool rootless = false) {
    auto r = resolve_path(Config{std::move(path), "ctr1", systemd, rootless});
    REQUIRE(r);
    return *r;
}

std::string error_of(std::string path, bool systemd = false, std::string id = "ctr1") {
    auto r = resolve_path(Config{std::move(path), std::move(id), systemd, false});
    REQUIRE(!r);
    return r.error().message();
}

}  // namespace

TEST_CASE("resolve_path: cgroupfs forms") {
    CHECK(resolved("") == "/wmrun/ctr1");
    CHECK(resolved("/machine/ctr") == "/machine/ctr");
    CHECK(resolved("relative/ctr") == "/relative/ctr");
    CHECK(resolved("//a/./b//") == "/a/b");
    CHECK(resolved("/libpod_parent/libpod-0123abcd") == "/libpod_parent/libpod-0123abcd");
}

TEST_CASE("resolve_path: rejects escaping and empty paths") {
    CHECK(error_of("/a/../../etc").find("..") != std::string::npos);
    CHECK(error_of("/").find("below the hierarchy root") != std::string::npos);
    CHECK(error_of("machine.slice:libpod:x").find("--systemd-cgroup") != std::string::npos);
    CHECK(error_of("", false, "").find("container id") != std::string::npos);
    CHECK(error_of("", false, "a/b").find("container id") != std::string::npos);
}

TEST_CASE("resolve_path: systemd slice:prefix:name") {
    CHECK(resolved("machine.slice:libpod:abc", true) == "/machine.slice/libpod-abc.scope");
    CHECK(resolved("a-b-c.slice:pfx:n", true) == "/a.slice/a-b.slice/a-b-c.slice/pfx-n.scope");
    CHECK(resolved("", true) == "/system.slice/wmrun-ctr1.scope");
    CHECK(resolved("", true, true) == "/user.slice/wmrun-ctr1.scope");
    CHECK(resolved(":docker:x", true) == "/system.slice/docker-x.scope");
    CHECK(resolved("-.slice:p:x", true) == "/p-x.scope");
    CHECK(resolved("system.slice::x", true) == "/system.slice/x.scope");
    CHECK(resolved("system.slice:p:", true) == "/system.slice/p-ctr1.scope");
    CHECK(resolved("user.slice:p:my-app.slice", true) == "/user.slice/my-app.slice");
}

TEST_CASE("resolve_path: bad systemd forms") {
    CHECK(error_of("/abs/path", true).find("slice:prefix:name") != std::string::npos);
    CHECK(error_of("a:b", true).find("slice:prefix:name") != std::string::npos);
    CHECK(error_of("a:b:c:d", true).find("slice:prefix:name") != std::string::npos);
    CHECK(error_of("machine:p:x", true).find("invalid slice name") != std::string::npos);
    CHECK(error_of("a--b.slice:p:x", true).find("empty component") != std::string::npos);
    CHECK(error_of("-a.slice:p:x", true).find("empty component") != std::string::npos);
    CHECK(error_of(".slice:p:x", true).find("empty component") != std::string::npos);
    CHECK(error_of("a/b.slice:p:x", true).find("invalid slice name") != std::string::npos);
    CHECK(error_of("m.slice:p:../x", true).find("invalid unit name") != std::string::npos);
    CHECK(error_of("m.slice:p/q:x", true).find("invalid prefix") != std::string::npos);
}

TEST_CASE("conversions match runc and crun") {
    using namespace wmrun::cgroups::detail;
    CHECK(shares_to_weight(2) == 1);
    CHECK(shares_to_weight(1024) == 39);
    CHECK(shares_to_weight(262144) == 10000);
    CHECK(shares_to_weight(1) == 1);  // clamped, no underflow
    CHECK(blkio_weight_to_io_weight(10) == 1);
    CHECK(blkio_weight_to_io_weight(500) == 4950);
    CHECK(blkio_weight_to_io_weight(1000) == 10000);
    CHECK(limit_v2(-1) == "max");
    CHECK(limit_v2(4096) == "4096");

    Cpu cpu;
    CHECK(!cpu_max_v2(cpu));
    cpu.quota = 50000;
    CHECK(*cpu_max_v2(cpu) == "50000");
    cpu.period = 100000;
    CHECK(*cpu_max_v2(cpu) == "50000 100000");
    cpu.quota = -1;
    CHECK(*cpu_max_v2(cpu) == "max 100000");
}

TEST_CASE("memory.swap.max from OCI memory+swap") {
    using wmrun::cgroups::detail::swap_max_v2;
    auto swap = [](std::optional<std::int64_t> limit, std::optional<std::int64_t> sw) {
        Memory m;
        m.limit = limit;
        m.swap = sw;
        return swap_max_v2(m);
    };
    CHECK(!swap(1000, std::nullopt)->has_value());
    CHECK(**swap(-1, std::nullopt) == "max");
    CHECK(**swap(1000, -1) == "max");
    CHECK(**swap(1000, 3000) == "2000");
    CHECK(**swap(1000, 1000) == "0");
    CHECK(swap(1000, 500).error().detail.find(">= the memory limit") != std::string::npos);
    CHECK(swap(std::nullopt, 500).error().detail.find("needs a memory limit") != std::string::npos);
    CHECK(swap(-1, 500).error().detail.find("needs a memory limit") != std::string::npos);
}

TEST_CASE("unified keys must be plain files of enabled controllers") {
    using wmrun::cgroups::detail::check_unified_key;
    std::set<std::string> controllers{"memory", "pids"};
    CHECK(check_unified_key("memory.high", controllers));
    CHECK(check_unified_key("cgroup.max.descendants", controllers));
    CHECK(!check_unified_key("cpu.weight", controllers));
    CHECK(!check_unified_key("../memory.max", controllers));
    CHECK(!check_unified_key("memory/../x", controllers));
    CHECK(!check_unified_key("..", controllers));
    CHECK(!check_unified_key("", controllers));
    CHECK(!check_unified_key("memory", controllers));
    CHECK(!check_unified_key(".max", controllers));
    // Found by tests/fuzz (resources): the key is quoted in the error, which is printed as one
    // line whatever the key holds.
    auto newline = check_unified_key("a\nb", controllers);
    REQUIRE(!newline);
    CHECK(newline.error().message() ==
          "linux.resources.unified: a\\nb: must be \"<controller>.<file>\"");
}

TEST_CASE("v1 mounts from mountinfo") {
    const char* text =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
    auto m = wmrun::cgroups::detail::parse_v1_mounts(text);
    CHECK(m.size() == 4);
    CHECK(m["cpu"] == "/sys/fs/cgroup/cpu,cpuacct");
    CHECK(m["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct");
    CHECK(m["memory"] == "/sys/fs/cgroup/memory");
    CHECK(m["name=systemd"] == "/sys/fs/cgroup/systemd");
}

TEST_CASE("detect_layout agrees with the mounts") {
    auto layout = detect_layout();
    REQUIRE(layout);
    auto v1 = wmrun::cgroups::detail::v1_mounts();
    REQUIRE(v1);
    if (*layout == Layout::unified) CHECK(v1->empty());
    if (*layout != Layout::unified) CHECK(!v1->empty());
}

TEST_CASE("default device rules") {
    auto rules = default_device_rules();
    CHECK(only_default_device_rules(rules));
    CHECK(only_default_device_rules({}));
    CHECK(only_default_device_rules({DeviceRule{false, 'a', std::nullopt, std::nullopt, ""}}));
    CHECK(only_default_device_rules({DeviceRule{true, 'c', 1, 3, "rw"}}));
    CHECK(!only_default_device_rules({DeviceRule{true, 'c', 10, 229, "rwm"}}));  // fuse
    CHECK(!only_default_device_rules({DeviceRule{true, 'a', std::nullopt, std::nullopt, "rwm"}}));
    CHECK(!only_default_device_rules({DeviceRule{false, 'c', 1, 3, "rwm"}}));
    CHECK(detail::device_rule_v1(DeviceRule{true, 'c', 136, std::nullopt, "rwm"}) == "c 136:* rwm");
}
