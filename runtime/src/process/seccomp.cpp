#include "process/seccomp.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "process/sync.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

namespace {

struct FilterOwner {
    scmp_filter_ctx ctx;
    ~FilterOwner() { seccomp_release(ctx); }
};

Result<std::uint32_t> action(const std::string& name, std::optional<unsigned> errno_ret,
                             unsigned default_errno) {
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
    if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
    if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
    if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(default_errno));
    if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(default_errno));
    if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
    if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
    if (name == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
    return fail("seccomp", name, "unknown action", EINVAL);
}

Result<scmp_compare> compare_op(const std::string& op) {
    if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
    if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
    if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
    if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
    if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
    if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
    if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
    return fail("seccomp", op, "unknown operator", EINVAL);
}

std::string lower_arch(const std::string& name) {
    std::string out;
    for (char c : name.substr(std::string("SCMP_ARCH_").size()))
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const Seccomp& s) {
    const unsigned default_errno = s.default_errno_ret.value_or(EPERM);
    auto def = WM_TRY(action(s.default_action, s.default_errno_ret, EPERM));
    FilterOwner f{seccomp_init(def)};
    if (f.ctx == nullptr) return fail("seccomp_init", s.default_action, "failed", EINVAL);
    for (const auto& arch_name : s.architectures) {
        std::uint32_t arch = seccomp_arch_resolve_name(lower_arch(arch_name).c_str());
        if (arch == 0) return fail("seccomp", arch_name, "unknown architecture", EINVAL);
        int rc = seccomp_arch_add(f.ctx, arch);
        if (rc < 0 && rc != -EEXIST) return sys_error("seccomp_arch_add", arch_name, -rc);
    }
    for (const auto& flag : s.flags) {
        int rc = 0;
        if (flag == "SECCOMP_FILTER_FLAG_LOG")
            rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_LOG, 1);
        else if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
            rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_SSB, 1);
        else if (flag == "SECCOMP_FILTER_FLAG_TSYNC")
            rc = seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        else
            return fail("seccomp", flag, "unknown flag", EINVAL);
        if (rc < 0) return sys_error("seccomp flag", flag, -rc);
    }
    // Without this, libseccomp sets no_new_privs itself and the process.noNewPrivileges choice
    // would be overridden.
    seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_NNP, 0);
    for (const auto& sc : s.syscalls) {
        auto act = WM_TRY(action(sc.action, sc.errno_ret, default_errno));
        if (act == def) continue;  // libseccomp refuses rules equal to the default
        std::vector<scmp_arg_cmp> args;
        for (const auto& a : sc.args) {
            auto op = WM_TRY(compare_op(a.op));
            args.push_back(scmp_arg_cmp{a.index, op, a.value, a.value_two});
        }
        for (const auto& name : sc.names) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) {
                log::debug(
                    fmt::format("seccomp: syscall {} unknown on this architecture, skipped", name));
                continue;
            }
            int rc = seccomp_rule_add_array(f.ctx, act, nr, static_cast<unsigned>(args.size()),
                                            args.data());
            if (rc < 0) return sys_error("seccomp rule", name, -rc);
        }
    }
    // libseccomp 2.5 exports the program only to an fd; a memfd keeps it in memory.
    UniqueFd mem(::memfd_create("seccomp", MFD_CLOEXEC));
    if (!mem) return sys_error("memfd_create", "seccomp");
    if (int rc = seccomp_export_bpf(f.ctx, mem.get()); rc < 0)
        return sys_error("seccomp_export_bpf", "", -rc);
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    if (size < 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
        return fail("seccomp_export_bpf", "", "unexpected program size", EINVAL);
    SeccompProgram out;
    out.notify = def == SCMP_ACT_NOTIFY;
    for (const auto& sc : s.syscalls)
        out.notify = out.notify || sc.action == "SCMP_ACT_NOTIFY";
    // The kernel makes the listener only when asked; a filter without a notify rule gets none.
    if (out.notify) out.flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    out.filter.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
    if (::pread(mem.get(), out.filter.data(), static_cast<std::size_t>(size), 0) != size)
        return sys_error("read", "seccomp program");
    for (const auto& flag : s.flags) {
        if (flag == "SECCOMP_FILTER_FLAG_LOG") out.flags |= SECCOMP_FILTER_FLAG_LOG;
        if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") out.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        if (flag == "SECCOMP_FILTER_FLAG_TSYNC") out.flags |= SECCOMP_FILTER_FLAG_TSYNC;
    }
    return out;
}

Result<UniqueFd> SeccompProgram::load() const {
    sock_fprog prog{static_cast<unsigned short>(filter.size()),
                    const_cast<sock_filter*>(filter.data())};
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0) return sys_error("seccomp", "SECCOMP_SET_MODE_FILTER");
    // With NEW_LISTENER the return value is the listener fd (close-on-exec), else 0.
    return notify ? UniqueFd(static_cast<int>(rc)) : UniqueFd();
}

Result<> load_seccomp(const Seccomp& s) {
    WM_CHECK(WM_TRY(compile_seccomp(s)).load());
    return {};
}

Result<> load_and_pass_listener(int sync_fd, const SeccompProgram& filter) {
    UniqueFd listener = WM_TRY(filter.load());
    if (!listener) return {};
    WM_CHECK(sync_send(sync_fd, SyncType::seccomp_listener));
    return send_fd(sync_fd, listener.get(), "seccomp listener");
}

}  // namespace wmrun::runtime
