#include "layout.hpp"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <sstream>
#include <vector>

#include "wmrun/base/fs.hpp"

namespace wmrun::cgroups {

namespace {

// Mount options of a v1 hierarchy that are not controller names.
bool is_controller_option(const std::string& opt) {
    static const char* const not_controllers[] = {
        "rw",     "ro",    "noprefix", "clone_children", "xattr",   "cpuset_v2_mode",
        "nosuid", "nodev", "noexec",   "relatime",       "noatime", "favordynmods",
        "none"};
    if (opt.starts_with("release_agent=")) return false;
    for (const char* o : not_controllers)
        if (opt == o) return false;
    return !opt.empty();
}

}  // namespace

const char* layout_name(Layout layout) {
    switch (layout) {
        case Layout::unified:
            return "unified";
        case Layout::hybrid:
            return "hybrid";
        case Layout::legacy:
            return "legacy";
    }
    return "unknown";
}

Result<Layout> detect_layout() {
    struct statfs st {};
    if (::statfs(detail::kCgroupRoot, &st) < 0) return sys_error("statfs", detail::kCgroupRoot);
    if (st.f_type == CGROUP2_SUPER_MAGIC) return Layout::unified;
    if (::statfs(detail::kHybridUnifiedRoot, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        return Layout::hybrid;
    auto mounts = WM_TRY(detail::v1_mounts());
    if (mounts.empty())
        return fail("detect cgroup layout", detail::kCgroupRoot, "no cgroup hierarchy mounted");
    return Layout::legacy;
}

Result<std::vector<Hierarchy>> host_hierarchies() {
    Layout layout = WM_TRY(detect_layout());
    std::vector<Hierarchy> out;
    if (layout != Layout::unified) {
        std::map<std::string, std::vector<std::string>> by_mount;
        for (const auto& [controller, mount_point] : WM_TRY(detail::v1_mounts()))
            by_mount[mount_point].push_back(controller);
        for (auto& [mount_point, controllers] : by_mount)
            out.push_back(Hierarchy{mount_point, false, std::move(controllers)});
    }
    if (layout == Layout::unified) out.push_back(Hierarchy{detail::kCgroupRoot, true, {}});
    if (layout == Layout::hybrid) out.push_back(Hierarchy{detail::kHybridUnifiedRoot, true, {}});
    return out;
}

std::map<std::string, std::string> parse_proc_cgroup(std::string_view text) {
    std::map<std::string, std::string> out;
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        auto first = line.find(':');
        auto second = first == std::string::npos ? first : line.find(':', first + 1);
        if (second == std::string::npos) continue;
        std::string controllers = line.substr(first + 1, second - first - 1);
        std::string path = line.substr(second + 1);
        if (controllers.empty()) {
            out[""] = path;
            continue;
        }
        std::istringstream list(controllers);
        std::string c;
        while (std::getline(list, c, ','))
            out[c] = path;
    }
    return out;
}

namespace detail {

std::map<std::string, std::string> parse_v1_mounts(std::string_view mountinfo) {
    std::map<std::string, std::string> out;
    std::istringstream in{std::string(mountinfo)};
    std::string line;
    while (std::getline(in, line)) {
        // id parent maj:min root mountpoint options [optional fields] - fstype source superopts
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
        std::string id, parent, devno, root, mount_point, fstype, source, superopts;
        head >> id >> parent >> devno >> root >> mount_point;
        tail >> fstype >> source >> superopts;
        if (fstype != "cgroup") continue;
        std::istringstream opts(superopts);
        std::string opt;
        while (std::getline(opts, opt, ','))
            if (is_controller_option(opt)) out.emplace(opt, mount_point);
    }
    return out;
}

Result<std::map<std::string, std::string>> v1_mounts() {
    auto text = WM_TRY(read_file("/proc/self/mountinfo"));
    return parse_v1_mounts(text);
}

}  // namespace detail

}  // namespace wmrun::cgroups
