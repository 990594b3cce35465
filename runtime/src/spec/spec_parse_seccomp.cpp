// config.json "linux.seccomp" (config-linux.md "Seccomp", schema/defs-linux.json). Names are
// only checked here; libseccomp turns them into a filter when the container is set up.
#include <algorithm>
#include <iterator>
#include <string_view>

#include "spec_parse_internal.hpp"

namespace wmrun::runtime::detail {

using namespace json_fields;

namespace {

constexpr std::string_view actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY",
};

constexpr std::string_view operators[] = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",        "SCMP_CMP_EQ",
    "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
};

constexpr std::string_view architectures[] = {
    "SCMP_ARCH_X86",         "SCMP_ARCH_X86_64",      "SCMP_ARCH_X32",     "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",     "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",   "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",         "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",       "SCMP_ARCH_SH",      "SCMP_ARCH_SHEB",
    "SCMP_ARCH_PARISC",      "SCMP_ARCH_PARISC64",    "SCMP_ARCH_RISCV64",
};

constexpr std::string_view filter_flags[] = {
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};

template <std::size_t N>
bool one_of(const std::string_view (&list)[N], std::string_view s) {
    return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

// config-linux.md: an errno may only go with an action that returns one.
bool takes_errno(std::string_view action) {
    return action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE";
}

Result<std::string> parse_action(const Fields& f, std::string_view key) {
    std::string a = WM_TRY(f.req_string(key));
    if (!one_of(actions, a))
        return field_error(f.at(key), "unknown seccomp action " + in_quotes(a));
    return a;
}

Result<SeccompArg> parse_arg(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    SeccompArg a;
    a.index = WM_TRY(f.req_int<std::uint32_t>("index"));
    // A syscall has at most six arguments; libseccomp rejects a higher index.
    if (a.index > 5) return field_error(f.at("index"), "must be between 0 and 5");
    a.value = WM_TRY(f.req_int<std::uint64_t>("value"));
    a.value_two = WM_TRY(f.int_or<std::uint64_t>("valueTwo", 0));
    a.op = WM_TRY(f.req_string("op"));
    if (!one_of(operators, a.op))
        return field_error(f.at("op"), "unknown seccomp operator " + in_quotes(a.op));
    return a;
}

Result<SeccompSyscall> parse_syscall(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    SeccompSyscall s;
    if (!f.has("names")) return field_error(f.at("names"), "is required");
    s.names = WM_TRY(f.strings("names"));
    if (s.names.empty()) return field_error(f.at("names"), "must have at least one entry");
    for (std::size_t i = 0; i < s.names.size(); ++i)
        if (s.names[i].empty())
            return field_error(index_path(f.at("names"), i), "must not be empty");
    s.action = WM_TRY(parse_action(f, "action"));
    if (auto e = WM_TRY(f.opt_int<std::uint32_t>("errnoRet"))) {
        if (!takes_errno(s.action))
            return field_error(f.at("errnoRet"), "is not allowed with action " + s.action);
        s.errno_ret = *e;
    }
    WM_CHECK(f.each("args", [&](const Json& e, const std::string& p) -> Result<> {
        s.args.push_back(WM_TRY(parse_arg(e, p)));
        return {};
    }));
    return s;
}

}  // namespace

Result<Seccomp> parse_seccomp(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Seccomp s;
    s.default_action = WM_TRY(parse_action(f, "defaultAction"));
    // The kernel cannot notify on every syscall: the agent's own calls would deadlock, and
    // libseccomp refuses SCMP_ACT_NOTIFY as a filter's default.
    if (s.default_action == "SCMP_ACT_NOTIFY")
        return field_error(f.at("defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action");
    if (auto e = WM_TRY(f.opt_int<std::uint32_t>("defaultErrnoRet"))) {
        if (!takes_errno(s.default_action))
            return field_error(f.at("defaultErrnoRet"),
                               "is not allowed with action " + s.default_action);
        s.default_errno_ret = *e;
    }
    s.architectures = WM_TRY(f.strings("architectures"));
    for (std::size_t i = 0; i < s.architectures.size(); ++i)
        if (!one_of(architectures, s.architectures[i]))
            return field_error(index_path(f.at("architectures"), i),
                               "unknown seccomp architecture " + in_quotes(s.architectures[i]));
    s.flags = WM_TRY(f.strings("flags"));
    for (std::size_t i = 0; i < s.flags.size(); ++i)
        if (!one_of(filter_flags, s.flags[i]))
            return field_error(index_path(f.at("flags"), i),
                               "unknown seccomp flag " + in_quotes(s.flags[i]));
    s.listener_path = WM_TRY(f.string_or("listenerPath"));
    s.listener_metadata = WM_TRY(f.string_or("listenerMetadata"));
    // config-linux.md: listenerMetadata MUST NOT be set without listenerPath.
    if (!s.listener_metadata.empty() && s.listener_path.empty())
        return field_error(f.at("listenerMetadata"), "needs listenerPath");
    bool notify = false;
    WM_CHECK(f.each("syscalls", [&](const Json& e, const std::string& p) -> Result<> {
        s.syscalls.push_back(WM_TRY(parse_syscall(e, p)));
        notify = notify || s.syscalls.back().action == "SCMP_ACT_NOTIFY";
        return {};
    }));
    // The notify fd has to go somewhere: listenerPath is where the runtime sends it.
    if (notify && s.listener_path.empty())
        return field_error(f.at("listenerPath"), "is required when an action is SCMP_ACT_NOTIFY");
    return s;
}

}  // namespace wmrun::runtime::detail
