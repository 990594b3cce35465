// The cgroup v2 device controller is an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to
// the cgroup: this builds it from linux.resources.devices, as runc's devicefilter does.
#pragma once

#include <linux/bpf.h>

#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/cgroups/resources.hpp"

namespace wmrun::cgroups::detail {

// The rules apply in order and a later rule wins, as on cgroup v1: the program tests them last
// to first and returns at the first match; a request no rule matches is denied. An allow rule
// matches when it grants every access asked (r, w, m); a deny rule when it names any of them.
// Rules before an unconditional one ("a *:* rwm") are unreachable and left out, since the
// verifier refuses dead code. Fails on a type, access or number the program cannot express.
Result<std::vector<bpf_insn>> build_device_filter(const std::vector<DeviceRule>& rules);

}  // namespace wmrun::cgroups::detail
