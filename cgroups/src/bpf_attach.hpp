// Loading a cgroup device program and attaching it to a cgroup v2 directory with bpf(2)
// directly (no libbpf). Programs are attached with BPF_F_ALLOW_MULTI, so ours coexist with
// those of others (systemd's, a parent's); ours are told apart by their name.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::cgroups::detail {

inline constexpr char kDeviceProgramName[] = "wmrun_devices";

// BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program named kDeviceProgramName; on
// failure the verifier's log is the error's detail.
Result<UniqueFd> load_device_program(const std::vector<bpf_insn>& insns);

Result<> attach_device_program(int cgroup_fd, int prog_fd);
Result<> detach_device_program(int cgroup_fd, int prog_fd);

struct AttachedProgram {
    std::uint32_t id = 0;
    std::string name;
    UniqueFd fd;
};
// The device programs attached to this cgroup itself (not those it inherits).
Result<std::vector<AttachedProgram>> attached_device_programs(int cgroup_fd);

// Makes `insns` the cgroup's device program of ours: the new program is attached before the
// old ones are detached, so the cgroup is never without a filter (as runc's update does).
// `cgroup_dir` is for error messages.
Result<> replace_device_filter(int cgroup_fd, const std::string& cgroup_dir,
                               const std::vector<bpf_insn>& insns);

}  // namespace wmrun::cgroups::detail
