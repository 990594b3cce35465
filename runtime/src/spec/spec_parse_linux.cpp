// config.json "linux" (config-linux.md), except seccomp (spec_parse_seccomp.cpp) and
// resources (cgroups::parse_resources).
#include <algorithm>
#include <iterator>
#include <string_view>

#include "spec_parse_internal.hpp"

namespace wmrun::runtime::detail {

using namespace json_fields;

namespace {

struct NamespaceName {
    const char* name;
    NamespaceType type;
};

constexpr NamespaceName namespace_table[] = {
    {"pid", NamespaceType::pid},       {"network", NamespaceType::network},
    {"mount", NamespaceType::mount},   {"ipc", NamespaceType::ipc},
    {"uts", NamespaceType::uts},       {"user", NamespaceType::user},
    {"cgroup", NamespaceType::cgroup}, {"time", NamespaceType::time},
};

Result<Namespace> parse_namespace(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    std::string type = WM_TRY(f.req_string("type"));
    int i = find_name(namespace_table, type);
    if (i < 0) return field_error(f.at("type"), "unknown namespace " + in_quotes(type));
    Namespace ns{namespace_table[i].type, WM_TRY(f.string_or("path"))};
    // config-linux.md: path MUST be absolute in the runtime mount namespace.
    if (!ns.path.empty() && !is_absolute(ns.path))
        return field_error(f.at("path"), "must be an absolute path, not " + in_quotes(ns.path));
    return ns;
}

Result<Device> parse_device(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Device d;
    std::string type = WM_TRY(f.req_string("type"));
    if (type != "c" && type != "b" && type != "u" && type != "p")
        return field_error(f.at("type"),
                           "must be \"c\", \"b\", \"u\" or \"p\", not " + in_quotes(type));
    d.type = type[0];
    d.path = WM_TRY(f.req_string("path"));
    if (!is_absolute(d.path))
        return field_error(f.at("path"), "must be an absolute path, not " + in_quotes(d.path));
    // config-linux.md: major and minor are REQUIRED unless the type is p (a fifo).
    if (d.type == 'p') {
        d.major = WM_TRY(f.int_or<std::int64_t>("major", 0));
        d.minor = WM_TRY(f.int_or<std::int64_t>("minor", 0));
    } else {
        d.major = WM_TRY(f.req_int<std::int64_t>("major"));
        d.minor = WM_TRY(f.req_int<std::int64_t>("minor"));
    }
    // The schema caps fileMode at 0777, but containerd writes Go's os.FileMode with the device
    // type bits set; like runc, keep only the permission bits.
    if (auto mode = WM_TRY(f.opt_int<std::uint32_t>("fileMode"))) d.file_mode = *mode & 0777;
    if (auto uid = WM_TRY(f.opt_int<std::uint32_t>("uid"))) d.uid = *uid;
    if (auto gid = WM_TRY(f.opt_int<std::uint32_t>("gid"))) d.gid = *gid;
    return d;
}

Result<std::map<std::string, TimeOffset>> parse_time_offsets(const Json& v,
                                                             const std::string& path) {
    WM_CHECK(expect_object(v, path));
    std::map<std::string, TimeOffset> out;
    for (auto it = v.begin(); it != v.end(); ++it) {
        std::string p = member_path(path, it.key());
        // time_namespaces(7): only these two clocks can be offset.
        if (it.key() != "monotonic" && it.key() != "boottime")
            return field_error(p, "unknown clock (must be \"monotonic\" or \"boottime\")");
        auto f = WM_TRY(Fields::of(it.value(), p));
        TimeOffset off;
        off.secs = WM_TRY(f.int_or<std::int64_t>("secs", 0));
        off.nanosecs = WM_TRY(f.int_or<std::uint32_t>("nanosecs", 0));
        if (off.nanosecs >= 1000000000u)
            return field_error(f.at("nanosecs"), "must be less than 1000000000");
        out.emplace(it.key(), off);
    }
    return out;
}

Result<std::vector<std::string>> absolute_paths(const Fields& f, std::string_view key) {
    auto paths = WM_TRY(f.strings(key));
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (!is_absolute(paths[i]))
            return field_error(index_path(f.at(key), i),
                               "must be an absolute path, not " + in_quotes(paths[i]));
    }
    return paths;
}

Result<Personality> parse_personality(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Personality p;
    p.domain = WM_TRY(f.req_string("domain"));
    if (p.domain != "LINUX" && p.domain != "LINUX32")
        return field_error(f.at("domain"),
                           "must be \"LINUX\" or \"LINUX32\", not " + in_quotes(p.domain));
    p.flags = WM_TRY(f.strings("flags"));
    // config-linux.md: "Currently no flag values are supported."
    if (!p.flags.empty())
        return field_error(index_path(f.at("flags"), 0),
                           "unsupported personality flag " + in_quotes(p.flags[0]));
    return p;
}

Result<MemoryPolicy> parse_memory_policy(const Json& v, const std::string& path) {
    static constexpr std::string_view modes[] = {
        "MPOL_DEFAULT",   "MPOL_BIND",           "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"};
    static constexpr std::string_view flags[] = {"MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                                                 "MPOL_F_STATIC_NODES"};
    auto f = WM_TRY(Fields::of(v, path));
    MemoryPolicy m;
    m.mode = WM_TRY(f.req_string("mode"));
    if (std::find(std::begin(modes), std::end(modes), m.mode) == std::end(modes))
        return field_error(f.at("mode"), "unknown memory policy mode " + in_quotes(m.mode));
    m.nodes = WM_TRY(f.string_or("nodes"));
    m.flags = WM_TRY(f.strings("flags"));
    for (std::size_t i = 0; i < m.flags.size(); ++i) {
        if (std::find(std::begin(flags), std::end(flags), m.flags[i]) == std::end(flags))
            return field_error(index_path(f.at("flags"), i),
                               "unknown memory policy flag " + in_quotes(m.flags[i]));
    }
    // set_mempolicy(2): DEFAULT and LOCAL take no nodes; BIND, INTERLEAVE (both kinds) and
    // PREFERRED_MANY need at least one. PREFERRED takes either.
    bool no_nodes = m.mode == "MPOL_DEFAULT" || m.mode == "MPOL_LOCAL";
    bool needs_nodes = !no_nodes && m.mode != "MPOL_PREFERRED";
    if (no_nodes && !m.nodes.empty())
        return field_error(f.at("nodes"), "must be empty for " + m.mode);
    if (needs_nodes && m.nodes.empty())
        return field_error(f.at("nodes"), "is required for " + m.mode);
    return m;
}

// A valid network interface name (dev_valid_name() in the kernel); "%d" templates allowed.
bool valid_ifname(std::string_view n) {
    if (n.empty() || n.size() >= 16 || n == "." || n == "..") return false;
    for (char c : n)
        if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n') return false;
    return true;
}

Result<std::vector<NetDevice>> parse_net_devices(const Json& v, const std::string& path) {
    WM_CHECK(expect_object(v, path));
    std::vector<NetDevice> out;
    for (auto it = v.begin(); it != v.end(); ++it) {
        std::string p = member_path(path, it.key());
        if (!valid_ifname(it.key())) return field_error(p, "invalid network interface name");
        auto f = WM_TRY(Fields::of(it.value(), p));
        NetDevice d{it.key(), WM_TRY(f.string_or("name", it.key()))};
        if (!valid_ifname(d.name))
            return field_error(f.at("name"), "invalid network interface name " + in_quotes(d.name));
        out.push_back(std::move(d));
    }
    return out;
}

// intelRdt is validated so a bad one is reported, but only closID is kept: nothing here
// applies resctrl settings.
Result<std::string> parse_intel_rdt(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    std::string clos = WM_TRY(f.string_or("closID"));
    WM_CHECK(f.strings("schemata"));
    WM_CHECK(f.string_or("l3CacheSchema"));
    std::string mb = WM_TRY(f.string_or("memBwSchema"));
    if (f.has("memBwSchema") && (mb.rfind("MB:", 0) != 0 || mb.find('\n') != std::string::npos))
        return field_error(f.at("memBwSchema"), "must start with \"MB:\" and be one line");
    WM_CHECK(f.bool_or("enableMonitoring", false));
    return clos;
}

const char* const propagation_modes[] = {"private",  "shared",  "slave",  "unbindable",
                                         "rprivate", "rshared", "rslave", "runbindable"};

}  // namespace

Result<Linux> parse_linux(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Linux l;
    WM_CHECK(f.each("namespaces", [&](const Json& e, const std::string& p) -> Result<> {
        Namespace ns = WM_TRY(parse_namespace(e, p));
        // config-linux.md: duplicated types MUST be an error.
        if (l.has_namespace(ns.type))
            return field_error(p + ".type",
                               "duplicate namespace " + in_quotes(namespace_name(ns.type)));
        l.namespaces.push_back(std::move(ns));
        return {};
    }));
    l.uid_mappings = WM_TRY(parse_id_mappings(f, "uidMappings"));
    l.gid_mappings = WM_TRY(parse_id_mappings(f, "gidMappings"));
    if (const Json* t = f.get("timeOffsets"))
        l.time_offsets = WM_TRY(parse_time_offsets(*t, f.at("timeOffsets")));
    WM_CHECK(f.each("devices", [&](const Json& e, const std::string& p) -> Result<> {
        l.devices.push_back(WM_TRY(parse_device(e, p)));
        return {};
    }));
    l.cgroups_path = WM_TRY(f.string_or("cgroupsPath"));
    if (const Json* r = f.get("resources"))
        l.resources = WM_TRY(cgroups::parse_resources(*r, f.at("resources")));
    // The schema lists four modes; runc also takes the recursive forms, and so do we.
    l.rootfs_propagation = WM_TRY(f.string_or("rootfsPropagation"));
    if (f.has("rootfsPropagation") &&
        std::find_if(std::begin(propagation_modes), std::end(propagation_modes), [&](auto m) {
            return l.rootfs_propagation == m;
        }) == std::end(propagation_modes))
        return field_error(
            f.at("rootfsPropagation"),
            "must be private, shared, slave or unbindable, not " + in_quotes(l.rootfs_propagation));
    l.masked_paths = WM_TRY(absolute_paths(f, "maskedPaths"));
    l.readonly_paths = WM_TRY(absolute_paths(f, "readonlyPaths"));
    l.mount_label = WM_TRY(f.string_or("mountLabel"));
    l.sysctl = WM_TRY(f.string_map("sysctl"));
    if (const Json* s = f.get("seccomp")) l.seccomp = WM_TRY(parse_seccomp(*s, f.at("seccomp")));
    if (const Json* p = f.get("personality"))
        l.personality = WM_TRY(parse_personality(*p, f.at("personality")));
    if (const Json* m = f.get("memoryPolicy"))
        l.memory_policy = WM_TRY(parse_memory_policy(*m, f.at("memoryPolicy")));
    if (const Json* n = f.get("netDevices"))
        l.net_devices = WM_TRY(parse_net_devices(*n, f.at("netDevices")));
    if (const Json* r = f.get("intelRdt"))
        l.intel_rdt_clos_id = WM_TRY(parse_intel_rdt(*r, f.at("intelRdt")));
    return l;
}

}  // namespace wmrun::runtime::detail
