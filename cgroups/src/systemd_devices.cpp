#include "systemd_devices.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/text.hpp"

namespace wmrun::cgroups::detail {

namespace {

// An exception to the default of the list: a device (or group) and the access it differs in.
struct Exception {
    char type;  // 'a', 'c', 'b'
    std::optional<std::int64_t> major, minor;
    std::string access;  // in "rwm" order
};

std::string normalized_access(const std::string& access) {
    if (access.empty()) return "rwm";
    std::string out;
    for (char c : std::string("rwm"))
        if (access.find(c) != std::string::npos) out += c;
    return out;
}

std::string without(const std::string& access, const std::string& removed) {
    std::string out;
    for (char c : access)
        if (removed.find(c) == std::string::npos) out += c;
    return out;
}

bool same_device(const Exception& e, const DeviceRule& r) {
    return e.type == r.type && e.major == r.major && e.minor == r.minor;
}

// The rule names every device `e` names (wildcards included).
bool covers(const DeviceRule& r, const Exception& e) {
    return (r.type == 'a' || r.type == e.type) && (!r.major || r.major == e.major) &&
           (!r.minor || r.minor == e.minor);
}

// The rule names some of the devices `e` names but not all.
bool overlaps(const DeviceRule& r, const Exception& e) {
    bool type = r.type == 'a' || e.type == 'a' || r.type == e.type;
    bool major = !r.major || !e.major || r.major == e.major;
    bool minor = !r.minor || !e.minor || r.minor == e.minor;
    return type && major && minor && !covers(r, e);
}

struct Emulated {
    bool allow_by_default = false;
    std::vector<Exception> exceptions;
};

Emulated emulate(const std::vector<DeviceRule>& rules) {
    Emulated list;
    for (const auto& rule : rules) {
        std::string access = normalized_access(rule.access);
        if (rule.type == 'a' && !rule.major && !rule.minor && access == "rwm") {
            list = Emulated{rule.allow, {}};
            continue;
        }
        auto& ex = list.exceptions;
        if (rule.allow != list.allow_by_default) {
            auto it = std::find_if(ex.begin(), ex.end(), [&](auto& e) { return same_device(e, rule); });
            if (it == ex.end())
                ex.push_back({rule.type, rule.major, rule.minor, access});
            else
                it->access = normalized_access(it->access + access);
            continue;
        }
        // The rule agrees with the default: it takes its access back from the exceptions it
        // covers, and drops those it can only narrow (a list of groups cannot say "but not").
        for (auto& e : ex) {
            if (covers(rule, e)) {
                e.access = without(e.access, access);
            } else if (overlaps(rule, e)) {
                log::warn("systemd cgroup: a later device rule narrows an allowed group; the "
                          "group is left out of DeviceAllow");
                e.access.clear();
            }
        }
        std::erase_if(ex, [](const Exception& e) { return e.access.empty(); });
    }
    return list;
}

UnitProperty device_allow(DeviceAllowList entries) {
    return {"DeviceAllow", std::move(entries)};
}

// The DeviceAllow path of one allowed device or group of type 'c' or 'b'; none when systemd
// cannot name it.
std::optional<std::string> allow_path(char type, const Exception& e, const DeviceGroups& groups) {
    std::string kind = type == 'c' ? "char" : "block";
    if (!e.major && !e.minor) return kind + "-*";
    if (!e.major) {
        log::warn("systemd cgroup: systemd has no rule for \"" + kind + " *:" +
                  std::to_string(*e.minor) + "\"; left out of DeviceAllow");
        return std::nullopt;
    }
    if (!e.minor) {
        const auto& names = type == 'c' ? groups.character : groups.block;
        auto name = names.find(*e.major);
        if (name == names.end()) {
            log::warn("systemd cgroup: /proc/devices names no " + kind + " major " +
                      std::to_string(*e.major) + "; left out of DeviceAllow");
            return std::nullopt;
        }
        return kind + "-" + name->second;
    }
    return "/dev/" + kind + "/" + std::to_string(*e.major) + ":" + std::to_string(*e.minor);
}

}  // namespace

DeviceGroups parse_proc_devices(std::string_view text) {
    DeviceGroups groups;
    std::map<std::int64_t, std::string>* section = nullptr;
    for (const auto& line : split(std::string(text), '\n')) {
        if (line.starts_with("Character devices:")) section = &groups.character;
        else if (line.starts_with("Block devices:")) section = &groups.block;
        else if (section != nullptr) {
            // "136 pts", the major right-aligned in three columns.
            std::int64_t major = 0;
            auto begin = line.find_first_not_of(' ');
            if (begin == std::string::npos) continue;
            auto [end, ec] = std::from_chars(line.data() + begin, line.data() + line.size(), major);
            if (ec != std::errc() || *end != ' ') continue;
            std::string name(end + 1);
            if (!name.empty()) section->emplace(major, name);
        }
    }
    return groups;
}

Result<DeviceGroups> read_device_groups() {
    return parse_proc_devices(WM_TRY(read_file("/proc/devices")));
}

std::vector<UnitProperty> device_properties(const std::vector<DeviceRule>& rules,
                                            const DeviceGroups& groups) {
    auto list = emulate(rules);
    if (list.allow_by_default) {
        if (!list.exceptions.empty())
            log::warn("systemd cgroup: systemd cannot express denied devices; they are enforced "
                      "by wmrun's filter only, and a daemon-reload on a cgroup v1 host drops them");
        return {{"DevicePolicy", std::string("auto")}, device_allow({})};
    }
    DeviceAllowList entries;
    for (const auto& e : list.exceptions) {
        for (char type : {'c', 'b'}) {
            if (e.type != 'a' && e.type != type) continue;
            if (auto path = allow_path(type, e, groups)) entries.emplace_back(*path, e.access);
        }
    }
    return {{"DevicePolicy", std::string("strict")}, device_allow({}),
            device_allow(std::move(entries))};
}

}  // namespace wmrun::cgroups::detail
