#include "bpf_attach.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace wmrun::cgroups::detail {

namespace {

long bpf(int cmd, bpf_attr& attr) {
    return ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
}

std::uint64_t ptr(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

// The verifier's log is only asked for on a retry: most loads succeed, and the log costs time.
constexpr std::size_t kLogSize = 64 * 1024;

Result<std::string> program_name(int prog_fd) {
    bpf_prog_info info{};
    bpf_attr attr{};
    attr.info.bpf_fd = static_cast<std::uint32_t>(prog_fd);
    attr.info.info_len = sizeof info;
    attr.info.info = ptr(&info);
    if (bpf(BPF_OBJ_GET_INFO_BY_FD, attr) < 0) return sys_error("bpf BPF_OBJ_GET_INFO_BY_FD");
    return std::string(info.name, strnlen(info.name, sizeof info.name));
}

}  // namespace

Result<UniqueFd> load_device_program(const std::vector<bpf_insn>& insns) {
    static const char license[] = "GPL";
    auto load = [&](char* log, std::size_t log_size) {
        bpf_attr attr{};
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = ptr(insns.data());
        attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
        attr.license = ptr(license);
        std::memcpy(attr.prog_name, kDeviceProgramName, sizeof kDeviceProgramName);
        if (log) {
            attr.log_level = 1;
            attr.log_buf = ptr(log);
            attr.log_size = static_cast<std::uint32_t>(log_size);
        }
        return static_cast<int>(bpf(BPF_PROG_LOAD, attr));
    };
    int fd = load(nullptr, 0);
    if (fd >= 0) return UniqueFd(fd);
    int err = errno;
    // EPERM and friends say all there is; a verifier rejection (EINVAL, EACCES) needs its log.
    if (err != EINVAL && err != EACCES) return sys_error("bpf BPF_PROG_LOAD", "device filter", err);
    std::string log(kLogSize, '\0');
    fd = load(log.data(), log.size());
    if (fd >= 0) return UniqueFd(fd);  // loaded the second time: report nothing
    err = errno;
    log.resize(strnlen(log.data(), log.size()));
    while (!log.empty() && log.back() == '\n')
        log.pop_back();
    if (log.empty()) return sys_error("bpf BPF_PROG_LOAD", "device filter", err);
    return fail("bpf BPF_PROG_LOAD", "device filter",
                std::string(std::strerror(err)) + "; verifier log:\n" + log, err);
}

Result<> attach_device_program(int cgroup_fd, int prog_fd) {
    bpf_attr attr{};
    attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_fd);
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf(BPF_PROG_ATTACH, attr) < 0) return sys_error("bpf BPF_PROG_ATTACH");
    return {};
}

Result<> detach_device_program(int cgroup_fd, int prog_fd) {
    bpf_attr attr{};
    attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
    attr.attach_bpf_fd = static_cast<std::uint32_t>(prog_fd);
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, attr) < 0) return sys_error("bpf BPF_PROG_DETACH");
    return {};
}

Result<std::vector<AttachedProgram>> attached_device_programs(int cgroup_fd) {
    std::vector<std::uint32_t> ids(16);
    for (;;) {
        bpf_attr attr{};
        attr.query.target_fd = static_cast<std::uint32_t>(cgroup_fd);
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = ptr(ids.data());
        attr.query.prog_cnt = static_cast<std::uint32_t>(ids.size());
        if (bpf(BPF_PROG_QUERY, attr) == 0) {
            ids.resize(attr.query.prog_cnt);
            break;
        }
        // ENOSPC: more programs than room; prog_cnt now holds how many there are.
        if (errno != ENOSPC || attr.query.prog_cnt <= ids.size())
            return sys_error("bpf BPF_PROG_QUERY");
        ids.resize(attr.query.prog_cnt);
    }
    std::vector<AttachedProgram> out;
    for (std::uint32_t id : ids) {
        bpf_attr attr{};
        attr.prog_id = id;
        int fd = static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, attr));
        if (fd < 0) {
            if (errno == ENOENT) continue;  // detached and freed since the query
            return sys_error("bpf BPF_PROG_GET_FD_BY_ID", std::to_string(id));
        }
        AttachedProgram p{id, {}, UniqueFd(fd)};
        p.name = WM_TRY(program_name(fd));
        out.push_back(std::move(p));
    }
    return out;
}

Result<> replace_device_filter(int cgroup_fd, const std::string& cgroup_dir,
                               const std::vector<bpf_insn>& insns) {
    auto context = [&](Error e) {
        if (e.path.empty()) e.path = cgroup_dir;
        return std::unexpected(with_context(std::move(e), "devices"));
    };
    auto prog = load_device_program(insns);
    if (!prog) return context(prog.error());
    auto old = attached_device_programs(cgroup_fd);
    if (!old) return context(old.error());
    if (auto r = attach_device_program(cgroup_fd, prog->get()); !r) return context(r.error());
    for (const auto& p : *old) {
        if (p.name != kDeviceProgramName) continue;
        if (auto r = detach_device_program(cgroup_fd, p.fd.get()); !r) return context(r.error());
    }
    return {};
}

}  // namespace wmrun::cgroups::detail
