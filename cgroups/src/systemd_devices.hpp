// The device rules as systemd's DevicePolicy and DeviceAllow, as runc sends them. systemd
// writes a unit's device access itself: into the v1 devices controller whenever it reloads, and
// as an eBPF program of its own beside ours on v2 (a device must pass both). Without these
// properties a daemon-reload on a v1 host opens every device to the container; with a list
// narrower than ours a v2 container loses devices it was given.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "systemd_unit.hpp"

namespace wmrun::cgroups::detail {

// /proc/devices: the driver name of each major, which systemd's "char-<name>" groups use.
struct DeviceGroups {
    std::map<std::int64_t, std::string> character, block;
};
DeviceGroups parse_proc_devices(std::string_view text);
Result<DeviceGroups> read_device_groups();  // /proc/devices

// The rules apply in order and a later one wins, as on cgroup v1. An allow list (a deny-all
// first, as every container's rules have) becomes DevicePolicy=strict and one DeviceAllow
// entry per allowed device or group ("/dev/char/1:3", "char-pts", "char-*"), after an empty
// DeviceAllow that clears what the unit had. What systemd cannot express is left out, so that
// its list is never wider than the rules: "*:N" rules, a major /proc/devices does not name,
// and an allowed group that a later rule narrows. Rules that allow everything but some
// devices become DevicePolicy=auto with no entries: systemd has no deny list, and our own
// filter enforces the denials (a warning says that a v1 daemon-reload loses them).
std::vector<UnitProperty> device_properties(const std::vector<DeviceRule>& rules,
                                            const DeviceGroups& groups);

}  // namespace wmrun::cgroups::detail
