// config.json "process" (config.md "Process", "POSIX process", "Linux Process", "User").
#include <sys/capability.h>
#include <sys/resource.h>

#include <algorithm>
#include <regex>

#include "spec_parse_internal.hpp"

namespace wmrun::runtime::detail {

using namespace json_fields;

namespace {

struct NamedValue {
    const char* name;
    int value;
};

// getrlimit(2); the spec requires an error for a type with no kernel interface.
constexpr NamedValue rlimit_table[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

// Values from the kernel's uapi <linux/sched.h>; glibc lacks SCHED_DEADLINE, and SCHED_ISO is
// reserved (4) but not implemented by mainline kernels: sched_setattr will say so.
constexpr NamedValue sched_policy_table[] = {
    {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},       {"SCHED_BATCH", 3},
    {"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6},
};

constexpr NamedValue sched_flag_table[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01},  {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},     {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},    {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
};

// IOPRIO_CLASS_* from <linux/ioprio.h>.
constexpr NamedValue ioprio_class_table[] = {
    {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};

Result<Rlimit> parse_rlimit(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Rlimit r;
    r.type = WM_TRY(f.req_string("type"));
    int i = find_name(rlimit_table, r.type);
    if (i < 0) return field_error(f.at("type"), "unknown rlimit " + in_quotes(r.type));
    r.resource = rlimit_table[i].value;
    // soft > hard is left to setrlimit(2): neither the schema nor config.md forbids it.
    r.soft = WM_TRY(f.req_int<std::uint64_t>("soft"));
    r.hard = WM_TRY(f.req_int<std::uint64_t>("hard"));
    return r;
}

// Capability names as capabilities(7) writes them ("CAP_CHOWN"); libcap knows every
// capability of the kernel headers it was built with.
Result<std::vector<int>> parse_cap_list(const Fields& f, std::string_view key) {
    auto names = WM_TRY(f.strings(key));
    std::vector<int> caps;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto& n = names[i];
        cap_value_t value = -1;
        bool upper = std::none_of(n.begin(), n.end(), [](char c) { return c >= 'a' && c <= 'z'; });
        // cap_from_name also takes numbers and lower case; the spec's names are CAP_ + upper.
        if (n.size() <= 4 || n.compare(0, 4, "CAP_") != 0 || !upper ||
            cap_from_name(n.c_str(), &value) != 0)
            return field_error(index_path(f.at(key), i), "unknown capability " + in_quotes(n));
        caps.push_back(value);
    }
    return caps;
}

Result<Capabilities> parse_capabilities(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Capabilities c;
    c.bounding = WM_TRY(parse_cap_list(f, "bounding"));
    c.effective = WM_TRY(parse_cap_list(f, "effective"));
    c.inheritable = WM_TRY(parse_cap_list(f, "inheritable"));
    c.permitted = WM_TRY(parse_cap_list(f, "permitted"));
    c.ambient = WM_TRY(parse_cap_list(f, "ambient"));
    return c;
}

Result<User> parse_user(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    User u;
    // config.md calls uid and gid REQUIRED, but the schema does not and runc takes 0 for an
    // absent one; we follow the schema so configs that runc accepts are accepted here.
    u.uid = WM_TRY(f.int_or<std::uint32_t>("uid", 0));
    u.gid = WM_TRY(f.int_or<std::uint32_t>("gid", 0));
    if (auto umask = WM_TRY(f.opt_int<std::uint32_t>("umask"))) u.umask = *umask;
    WM_CHECK(f.each("additionalGids", [&](const Json& e, const std::string& p) -> Result<> {
        u.additional_gids.push_back(WM_TRY(as_int<std::uint32_t>(e, p)));
        return {};
    }));
    return u;
}

Result<Scheduler> parse_scheduler(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Scheduler s;
    s.policy = WM_TRY(f.req_string("policy"));
    int i = find_name(sched_policy_table, s.policy);
    if (i < 0)
        return field_error(f.at("policy"), "unknown scheduler policy " + in_quotes(s.policy));
    s.policy_value = sched_policy_table[i].value;
    s.nice = WM_TRY(f.int_or<std::int32_t>("nice", 0));
    s.priority = WM_TRY(f.int_or<std::int32_t>("priority", 0));
    s.flags = WM_TRY(f.strings("flags"));
    for (std::size_t k = 0; k < s.flags.size(); ++k) {
        if (find_name(sched_flag_table, s.flags[k]) < 0)
            return field_error(index_path(f.at("flags"), k),
                               "unknown scheduler flag " + in_quotes(s.flags[k]));
    }
    s.runtime = WM_TRY(f.int_or<std::uint64_t>("runtime", 0));
    s.deadline = WM_TRY(f.int_or<std::uint64_t>("deadline", 0));
    s.period = WM_TRY(f.int_or<std::uint64_t>("period", 0));
    return s;
}

Result<IoPriority> parse_io_priority(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    IoPriority p;
    p.io_class = WM_TRY(f.req_string("class"));
    int i = find_name(ioprio_class_table, p.io_class);
    if (i < 0)
        return field_error(f.at("class"), "unknown I/O priority class " + in_quotes(p.io_class));
    p.class_value = ioprio_class_table[i].value;
    p.priority = WM_TRY(f.int_or<std::int32_t>("priority", 0));
    // config.md: 0 (highest) to 7 (lowest); ioprio_set(2) rejects anything else.
    if (p.priority < 0 || p.priority > 7)
        return field_error(f.at("priority"), "must be between 0 and 7");
    return p;
}

Result<std::string> cpu_list(const Fields& f, std::string_view key) {
    static const std::regex re("^[0-9, -]*$");
    auto s = WM_TRY(f.string_or(key));
    if (!std::regex_match(s, re))
        return field_error(f.at(key), "must be a CPU list like \"0-3,7\", not " + in_quotes(s));
    return s;
}

}  // namespace

Result<Process> parse_process(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Process p;
    p.terminal = WM_TRY(f.bool_or("terminal", false));
    if (const Json* cs = f.get("consoleSize")) {
        auto cf = WM_TRY(Fields::of(*cs, f.at("consoleSize")));
        ConsoleSize size;
        size.height = WM_TRY(cf.req_int<unsigned>("height"));
        size.width = WM_TRY(cf.req_int<unsigned>("width"));
        p.console_size = size;
    }
    p.cwd = WM_TRY(f.req_string("cwd"));
    if (!is_absolute(p.cwd))
        return field_error(f.at("cwd"), "must be an absolute path, not " + in_quotes(p.cwd));
    p.env = WM_TRY(f.strings("env"));
    WM_CHECK(check_env(p.env, f.at("env")));
    // config.md: on every platform but Windows, args needs at least one entry.
    if (!f.has("args")) return field_error(f.at("args"), "is required");
    p.args = WM_TRY(f.strings("args"));
    if (p.args.empty()) return field_error(f.at("args"), "must have at least one entry");
    p.command_line = WM_TRY(f.string_or("commandLine"));
    WM_CHECK(f.each("rlimits", [&](const Json& e, const std::string& ep) -> Result<> {
        Rlimit r = WM_TRY(parse_rlimit(e, ep));
        // config.md: duplicated types MUST be an error.
        for (const auto& prev : p.rlimits)
            if (prev.resource == r.resource)
                return field_error(ep + ".type", "duplicate rlimit " + in_quotes(r.type));
        p.rlimits.push_back(std::move(r));
        return {};
    }));
    p.apparmor_profile = WM_TRY(f.string_or("apparmorProfile"));
    if (const Json* c = f.get("capabilities"))
        p.capabilities = WM_TRY(parse_capabilities(*c, f.at("capabilities")));
    p.no_new_privileges = WM_TRY(f.bool_or("noNewPrivileges", false));
    p.oom_score_adj = WM_TRY(f.opt_int<int>("oomScoreAdj"));
    // The kernel's range for /proc/PID/oom_score_adj; anything else fails when written.
    if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000))
        return field_error(f.at("oomScoreAdj"), "must be between -1000 and 1000");
    if (const Json* s = f.get("scheduler"))
        p.scheduler = WM_TRY(parse_scheduler(*s, f.at("scheduler")));
    p.selinux_label = WM_TRY(f.string_or("selinuxLabel"));
    if (const Json* io = f.get("ioPriority"))
        p.io_priority = WM_TRY(parse_io_priority(*io, f.at("ioPriority")));
    if (const Json* a = f.get("execCPUAffinity")) {
        auto af = WM_TRY(Fields::of(*a, f.at("execCPUAffinity")));
        CpuAffinity aff;
        aff.initial = WM_TRY(cpu_list(af, "initial"));
        aff.final_ = WM_TRY(cpu_list(af, "final"));
        p.exec_cpu_affinity = aff;
    }
    if (const Json* u = f.get("user")) p.user = WM_TRY(parse_user(*u, f.at("user")));
    return p;
}

}  // namespace wmrun::runtime::detail
