#include "wmrun/cgroups/devices.hpp"

#include <algorithm>

namespace wmrun::cgroups {

namespace {

DeviceRule allow(char type, std::optional<std::int64_t> major, std::optional<std::int64_t> minor,
                 const char* access) {
    return DeviceRule{true, type, major, minor, access};
}

std::string access_or_all(const std::string& access) {
    return access.empty() ? "rwm" : access;
}

bool access_subset(const std::string& asked, const std::string& granted) {
    return std::all_of(asked.begin(), asked.end(),
                       [&](char c) { return granted.find(c) != std::string::npos; });
}

}  // namespace

std::vector<DeviceRule> default_device_rules() {
    // runc's libcontainer/specconv AllowedDevices, preceded by deny-all.
    return {
        DeviceRule{false, 'a', std::nullopt, std::nullopt, "rwm"},
        allow('c', std::nullopt, std::nullopt, "m"),
        allow('b', std::nullopt, std::nullopt, "m"),
        allow('c', 1, 3, "rwm"),               // /dev/null
        allow('c', 1, 8, "rwm"),               // /dev/random
        allow('c', 1, 7, "rwm"),               // /dev/full
        allow('c', 5, 0, "rwm"),               // /dev/tty
        allow('c', 1, 5, "rwm"),               // /dev/zero
        allow('c', 1, 9, "rwm"),               // /dev/urandom
        allow('c', 136, std::nullopt, "rwm"),  // /dev/pts/*
        allow('c', 5, 2, "rwm"),               // /dev/ptmx
        allow('c', 10, 200, "rwm"),            // /dev/net/tun
    };
}

bool only_default_device_rules(const std::vector<DeviceRule>& rules) {
    auto defaults = default_device_rules();
    for (const auto& rule : rules) {
        bool deny_all = !rule.allow && rule.type == 'a' && !rule.major && !rule.minor &&
                        access_or_all(rule.access) == "rwm";
        if (deny_all) continue;
        bool covered = rule.allow && std::any_of(defaults.begin(), defaults.end(), [&](auto& d) {
                           return d.allow && d.type == rule.type && d.major == rule.major &&
                                  d.minor == rule.minor &&
                                  access_subset(access_or_all(rule.access), d.access);
                       });
        if (!covered) return false;
    }
    return true;
}

}  // namespace wmrun::cgroups
