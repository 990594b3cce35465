// config.json top level (config.md): version, root, mounts, hooks, annotations, and the checks
// that span several sections. Process and Linux sections live in their own files.
#include <sched.h>

#include <regex>

#include "spec_parse_internal.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::runtime {

using namespace json_fields;

namespace detail {

Result<IdMapping> parse_id_mapping(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    IdMapping m;
    m.container_id = WM_TRY(f.req_int<std::uint32_t>("containerID"));
    m.host_id = WM_TRY(f.req_int<std::uint32_t>("hostID"));
    m.size = WM_TRY(f.req_int<std::uint32_t>("size"));
    return m;
}

Result<std::vector<IdMapping>> parse_id_mappings(const Fields& f, std::string_view key) {
    std::vector<IdMapping> out;
    WM_CHECK(f.each(key, [&](const Json& e, const std::string& p) -> Result<> {
        out.push_back(WM_TRY(parse_id_mapping(e, p)));
        return {};
    }));
    return out;
}

Result<> check_env(const std::vector<std::string>& env, const std::string& path) {
    for (std::size_t i = 0; i < env.size(); ++i) {
        auto eq = env[i].find('=');
        if (eq == std::string::npos)
            return field_error(index_path(path, i), "must be NAME=value, not \"" + env[i] + "\"");
        if (eq == 0) return field_error(index_path(path, i), "variable name must not be empty");
    }
    return {};
}

}  // namespace detail

namespace {

using detail::is_absolute;

// config.md: ociVersion MUST be SemVer 2.0.0.
bool is_semver(const std::string& v) {
    static const std::regex re(
        R"(^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))"
        R"((-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?)"
        R"((\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?$)");
    return std::regex_match(v, re);
}

bool has_option(const Mount& m, std::string_view opt) {
    for (const auto& o : m.options)
        if (o == opt) return true;
    return false;
}

Result<Root> parse_root(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Root r;
    r.path = WM_TRY(f.req_string("path"));
    if (r.path.empty()) return field_error(f.at("path"), "must not be empty");
    r.readonly = WM_TRY(f.bool_or("readonly", false));
    return r;
}

Result<Mount> parse_mount(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Mount m;
    // config.md (Linux): destination SHOULD be absolute; a relative one is deprecated but
    // allowed and means relative to "/". Only an empty one is meaningless.
    m.destination = WM_TRY(f.req_string("destination"));
    if (m.destination.empty()) return field_error(f.at("destination"), "must not be empty");
    m.type = WM_TRY(f.string_or("type"));
    m.source = WM_TRY(f.string_or("source"));
    m.options = WM_TRY(f.strings("options"));
    m.uid_mappings = WM_TRY(detail::parse_id_mappings(f, "uidMappings"));
    m.gid_mappings = WM_TRY(detail::parse_id_mappings(f, "gidMappings"));
    // config.md: uidMappings and gidMappings MUST be specified together.
    bool uid = f.has("uidMappings"), gid = f.has("gidMappings");
    if (uid != gid)
        return field_error(
            f.at(uid ? "gidMappings" : "uidMappings"),
            uid ? "is required when uidMappings is set" : "is required when gidMappings is set");
    return m;
}

Result<Hook> parse_hook(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Hook h;
    h.path = WM_TRY(f.req_string("path"));
    if (!is_absolute(h.path))
        return field_error(f.at("path"), "must be an absolute path, not \"" + h.path + "\"");
    h.args = WM_TRY(f.strings("args"));
    h.env = WM_TRY(f.strings("env"));
    WM_CHECK(detail::check_env(h.env, f.at("env")));
    h.timeout = WM_TRY(f.opt_int<int>("timeout"));
    if (h.timeout && *h.timeout <= 0)
        return field_error(f.at("timeout"), "must be greater than zero");
    return h;
}

Result<Hooks> parse_hooks(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Hooks hooks;
    auto list = [&](std::string_view key, std::vector<Hook>& out) -> Result<> {
        return f.each(key, [&](const Json& e, const std::string& p) -> Result<> {
            out.push_back(WM_TRY(parse_hook(e, p)));
            return {};
        });
    };
    WM_CHECK(list("prestart", hooks.prestart));
    WM_CHECK(list("createRuntime", hooks.create_runtime));
    WM_CHECK(list("createContainer", hooks.create_container));
    WM_CHECK(list("startContainer", hooks.start_container));
    WM_CHECK(list("poststart", hooks.poststart));
    WM_CHECK(list("poststop", hooks.poststop));
    return hooks;
}

// Rules that tie one section to another.
Result<> check_cross_fields(const Spec& s) {
    bool userns = s.linux_ && s.linux_->has_namespace(NamespaceType::user);
    if (s.linux_) {
        const Linux& l = *s.linux_;
        // Mappings only mean something for a user namespace; without one they would be
        // silently ignored (runc rejects this too).
        if ((!l.uid_mappings.empty() || !l.gid_mappings.empty()) && !userns)
            return field_error(l.uid_mappings.empty() ? "linux.gidMappings" : "linux.uidMappings",
                               "needs a user namespace in linux.namespaces");
        if (!l.time_offsets.empty() && !l.has_namespace(NamespaceType::time))
            return field_error("linux.timeOffsets", "needs a time namespace in linux.namespaces");
    }
    // config.md, idmap/ridmap: with no mappings on the mount and no user namespace to borrow
    // them from, an error MUST be returned.
    for (std::size_t i = 0; i < s.mounts.size(); ++i) {
        const Mount& m = s.mounts[i];
        if ((has_option(m, "idmap") || has_option(m, "ridmap")) && m.uid_mappings.empty() &&
            !userns)
            return field_error(index_path("mounts", i) + ".options",
                               "idmap needs uidMappings and gidMappings or a user namespace");
    }
    return {};
}

}  // namespace

Result<Spec> parse_spec(const Json& doc) {
    if (!doc.is_object()) return field_error("config", "must be a JSON object");
    auto f = WM_TRY(Fields::of(doc, ""));
    Spec s;
    s.oci_version = WM_TRY(f.req_string("ociVersion"));
    if (!is_semver(s.oci_version))
        return field_error("ociVersion",
                           "must be a SemVer 2.0.0 version, not \"" + s.oci_version + "\"");
    // config.md: root is OPTIONAL only on Windows (Hyper-V); on Linux it is REQUIRED.
    if (const Json* v = f.get("root"))
        s.root = WM_TRY(parse_root(*v, "root"));
    else
        return field_error("root", "is required");
    WM_CHECK(f.each("mounts", [&](const Json& e, const std::string& p) -> Result<> {
        s.mounts.push_back(WM_TRY(parse_mount(e, p)));
        return {};
    }));
    if (const Json* v = f.get("process")) s.process = WM_TRY(detail::parse_process(*v, "process"));
    s.hostname = WM_TRY(f.string_or("hostname"));
    s.domainname = WM_TRY(f.string_or("domainname"));
    if (const Json* v = f.get("hooks")) s.hooks = WM_TRY(parse_hooks(*v, "hooks"));
    s.annotations = WM_TRY(f.string_map("annotations"));
    if (const Json* v = f.get("linux")) s.linux_ = WM_TRY(detail::parse_linux(*v, "linux"));
    WM_CHECK(check_cross_fields(s));
    s.raw = doc;
    return s;
}

Result<Spec> load_spec(const std::string& bundle_dir) {
    std::string path = bundle_dir;
    if (path.empty() || path.back() != '/') path += '/';
    path += "config.json";
    Json doc = WM_TRY(read_json_file(path));
    auto spec = parse_spec(doc);
    // Field errors name only the field; say which file they are in.
    if (!spec) return std::unexpected(with_context(std::move(spec).error(), path));
    return spec;
}

const char* namespace_name(NamespaceType t) {
    switch (t) {
        case NamespaceType::pid:
            return "pid";
        case NamespaceType::network:
            return "network";
        case NamespaceType::mount:
            return "mount";
        case NamespaceType::ipc:
            return "ipc";
        case NamespaceType::uts:
            return "uts";
        case NamespaceType::user:
            return "user";
        case NamespaceType::cgroup:
            return "cgroup";
        case NamespaceType::time:
            return "time";
    }
    return "unknown";
}

int namespace_clone_flag(NamespaceType t) {
    switch (t) {
        case NamespaceType::pid:
            return CLONE_NEWPID;
        case NamespaceType::network:
            return CLONE_NEWNET;
        case NamespaceType::mount:
            return CLONE_NEWNS;
        case NamespaceType::ipc:
            return CLONE_NEWIPC;
        case NamespaceType::uts:
            return CLONE_NEWUTS;
        case NamespaceType::user:
            return CLONE_NEWUSER;
        case NamespaceType::cgroup:
            return CLONE_NEWCGROUP;
        case NamespaceType::time:
            return CLONE_NEWTIME;
    }
    return 0;
}

bool Linux::has_namespace(NamespaceType t) const {
    return find_namespace(t) != nullptr;
}

const Namespace* Linux::find_namespace(NamespaceType t) const {
    for (const auto& ns : namespaces)
        if (ns.type == t) return &ns;
    return nullptr;
}

}  // namespace wmrun::runtime
