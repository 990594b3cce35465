// The systemd driver's device properties: linux.resources.devices (with the defaults every
// container gets) as DevicePolicy and DeviceAllow, never wider than the rules.
#include <catch2/catch.hpp>

#include "systemd_devices.hpp"
#include "wmrun/cgroups/devices.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;
using namespace wmrun::cgroups::detail;

namespace {

const char* const kProcDevices =
    "Character devices:\n"
    "  1 mem\n"
    "  4 /dev/vc/0\n"
    "  5 /dev/tty\n"
    "136 pts\n"
    "254 gpiochip\n"
    "\n"
    "Block devices:\n"
    "  7 loop\n"
    "  8 sd\n"
    "259 blkext\n";

DeviceRule rule(bool allow, char type, std::optional<std::int64_t> major,
                std::optional<std::int64_t> minor, const char* access = "rwm") {
    return DeviceRule{allow, type, major, minor, access};
}

DeviceRule deny_all() {
    return rule(false, 'a', std::nullopt, std::nullopt);
}

std::string policy(const std::vector<UnitProperty>& props) {
    REQUIRE(!props.empty());
    CHECK(props[0].name == "DevicePolicy");
    return std::get<std::string>(props[0].value);
}

// The DeviceAllow list systemd ends with: an empty one clears, each later one appends.
DeviceAllowList allowed(const std::vector<UnitProperty>& props) {
    DeviceAllowList out;
    bool cleared = false;
    for (const auto& p : props) {
        if (p.name != "DeviceAllow") continue;
        const auto& list = std::get<DeviceAllowList>(p.value);
        if (list.empty()) cleared = true;
        out.insert(out.end(), list.begin(), list.end());
    }
    CHECK(cleared);  // what an existing unit had is always dropped first
    return out;
}

bool has(const DeviceAllowList& list, const std::string& path, const std::string& access) {
    return std::find(list.begin(), list.end(), std::pair(path, access)) != list.end();
}

}  // namespace

TEST_CASE("parse_proc_devices: the majors of each section") {
    auto g = parse_proc_devices(kProcDevices);
    CHECK(g.character.at(1) == "mem");
    CHECK(g.character.at(136) == "pts");
    CHECK(g.character.at(4) == "/dev/vc/0");
    CHECK(g.block.at(8) == "sd");
    CHECK(g.block.at(259) == "blkext");
    CHECK_FALSE(g.block.contains(136));
    CHECK(parse_proc_devices("").character.empty());
}

TEST_CASE("device_properties: the default rules become a strict list") {
    auto props = device_properties(default_device_rules(), parse_proc_devices(kProcDevices));
    CHECK(policy(props) == "strict");
    auto list = allowed(props);
    CHECK(has(list, "char-*", "m"));
    CHECK(has(list, "block-*", "m"));
    CHECK(has(list, "/dev/char/1:3", "rwm"));  // null
    CHECK(has(list, "/dev/char/5:2", "rwm"));  // ptmx
    CHECK(has(list, "/dev/char/10:200", "rwm"));  // net/tun
    CHECK(has(list, "char-pts", "rwm"));
    CHECK(list.size() == 11);
    CHECK_FALSE(has(list, "/dev/block/8:0", "rwm"));
}

TEST_CASE("device_properties: allowing everything is DevicePolicy=auto with no entries") {
    auto props = device_properties({deny_all(), rule(true, 'a', std::nullopt, std::nullopt)}, {});
    CHECK(policy(props) == "auto");
    CHECK(allowed(props).empty());
    // Denials systemd cannot express are left to wmrun's own filter.
    props = device_properties({rule(true, 'a', std::nullopt, std::nullopt),
                               rule(false, 'c', 1, 3)},
                              {});
    CHECK(policy(props) == "auto");
    CHECK(allowed(props).empty());
}

TEST_CASE("device_properties: later rules win, as on cgroup v1") {
    auto groups = parse_proc_devices(kProcDevices);
    // A later deny takes back part of the access.
    auto list = allowed(device_properties(
        {deny_all(), rule(true, 'c', 1, 3), rule(false, 'c', 1, 3, "w")}, groups));
    CHECK(list == DeviceAllowList{{"/dev/char/1:3", "rm"}});
    // Access granted twice is merged; a deny-all later drops all that came before.
    list = allowed(device_properties(
        {deny_all(), rule(true, 'b', 8, 0, "r"), rule(true, 'b', 8, 0, "w")}, groups));
    CHECK(list == DeviceAllowList{{"/dev/block/8:0", "rw"}});
    list = allowed(device_properties({rule(true, 'b', 8, 0), deny_all(), rule(true, 'c', 1, 5)},
                                     groups));
    CHECK(list == DeviceAllowList{{"/dev/char/1:5", "rwm"}});
    // A wildcard deny removes every device it covers.
    list = allowed(device_properties(
        {deny_all(), rule(true, 'c', 1, 3), rule(true, 'b', 8, 1), rule(false, 'c', 1, std::nullopt)},
        groups));
    CHECK(list == DeviceAllowList{{"/dev/block/8:1", "rwm"}});
}

TEST_CASE("device_properties: what systemd cannot name is left out, never widened") {
    auto groups = parse_proc_devices(kProcDevices);
    // A group narrowed by a later deny cannot be said as a list: the group goes.
    auto list = allowed(device_properties(
        {deny_all(), rule(true, 'c', 136, std::nullopt), rule(false, 'c', 136, 5)}, groups));
    CHECK(list.empty());
    // "*:N" has no systemd form; a major /proc/devices does not name has no group.
    list = allowed(device_properties(
        {deny_all(), rule(true, 'c', std::nullopt, 7), rule(true, 'c', 240, std::nullopt)},
        groups));
    CHECK(list.empty());
    // A major systemd names through /proc/devices.
    list = allowed(device_properties({deny_all(), rule(true, 'b', 8, std::nullopt, "r")}, groups));
    CHECK(list == DeviceAllowList{{"block-sd", "r"}});
    // Type "a" of one device is both its character and its block node.
    list = allowed(device_properties({deny_all(), rule(true, 'a', 7, 0, "rw")}, groups));
    CHECK(list == DeviceAllowList{{"/dev/char/7:0", "rw"}, {"/dev/block/7:0", "rw"}});
}
