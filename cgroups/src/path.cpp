// linux.cgroupsPath -> the path below each hierarchy root.
#include <string>
#include <vector>

#include "systemd_unit.hpp"
#include "wmrun/base/text.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace wmrun::cgroups {

namespace {

const std::string kOp = "cgroupsPath";

bool is_plain_name(const std::string& s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

// systemd's unit-name escaping of slices: "a-b-c.slice" lives at a.slice/a-b.slice/a-b-c.slice.
Result<std::string> expand_slice(const std::string& slice) {
    const std::string suffix = ".slice";
    if (!slice.ends_with(suffix) || slice.find('/') != std::string::npos)
        return fail(kOp, slice, "invalid slice name: must end in \".slice\" and hold no '/'");
    std::string name = slice.substr(0, slice.size() - suffix.size());
    if (name == "-") return std::string("/");  // "-.slice" is the root slice
    std::string path, prefix;
    for (const auto& component : split(name, '-')) {
        if (component.empty())
            return fail(kOp, slice, "invalid slice name: empty component between '-'");
        path += "/" + prefix + component + suffix;
        prefix += component + "-";
    }
    return path;
}

}  // namespace

namespace detail {

Result<SystemdUnit> systemd_unit(const Config& config) {
    std::string spec = config.cgroups_path;
    if (spec.empty()) spec = ":wmrun:" + config.container_id;
    auto parts = split(spec, ':');
    if (parts.size() != 3)
        return fail(kOp, spec, "expected \"slice:prefix:name\" with --systemd-cgroup");
    std::string slice = parts[0], prefix = parts[1], name = parts[2];
    if (slice.empty()) slice = config.rootless ? "user.slice" : "system.slice";
    if (name.empty()) name = config.container_id;
    if (!is_plain_name(name)) return fail(kOp, spec, "invalid unit name \"" + name + "\"");
    if (prefix.find('/') != std::string::npos)
        return fail(kOp, spec, "invalid prefix \"" + prefix + "\"");
    auto parent = WM_TRY(expand_slice(slice));
    std::string unit;
    if (name.ends_with(".slice")) {
        WM_CHECK(expand_slice(name));  // validates it
        unit = name;
    } else {
        unit = (prefix.empty() ? "" : prefix + "-") + name + ".scope";
    }
    return SystemdUnit{slice, unit, (parent == "/" ? "" : parent) + "/" + unit};
}

}  // namespace detail

Result<std::string> resolve_path(const Config& config) {
    if (config.cgroups_path.empty() && !is_plain_name(config.container_id))
        return fail(kOp, config.container_id, "invalid container id for a cgroup name");
    if (config.systemd) return WM_TRY(detail::systemd_unit(config)).path;
    if (config.cgroups_path.empty()) return "/wmrun/" + config.container_id;

    const auto& spec = config.cgroups_path;
    auto colon = split(spec, ':');
    if (colon.size() == 3 && spec.find('/') == std::string::npos)
        return fail(kOp, spec,
                    "\"slice:prefix:name\" is the systemd form; it needs "
                    "--systemd-cgroup");
    std::string out;
    for (const auto& component : split(spec, '/')) {
        if (component.empty() || component == ".") continue;
        if (component == "..") return fail(kOp, spec, "must not contain \"..\"");
        out += "/" + component;
    }
    if (out.empty()) return fail(kOp, spec, "must name a cgroup below the hierarchy root");
    return out;
}

}  // namespace wmrun::cgroups
