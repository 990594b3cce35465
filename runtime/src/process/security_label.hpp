// process.apparmorProfile, process.selinuxLabel and linux.mountLabel: applied where the kernel
// has that LSM active, refused where it does not (a label that is silently dropped would leave
// the container unconfined while its config says otherwise).
#pragma once

#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

struct LsmSupport {
    bool apparmor = false;
    bool selinux = false;
};

// The LSMs active on this kernel (/sys/kernel/security/lsm, else the modules' own files).
LsmSupport active_lsms();

// Checked by create and exec before any side effect; the error names the field.
Result<> check_security_labels(const Process& p, const std::string& mount_label);

// Makes the process's label take effect at its next execve (AppArmor's `exec <profile>`, or the
// SELinux context) by a write to its own attr files through a private procfs (procfs.hpp).
Result<> apply_exec_label(const Process& p);

// The mount data option that gives a new filesystem instance (tmpfs, devpts, mqueue) the
// container's SELinux label, or "" without one.
std::string mount_label_option(const std::string& type, const std::string& mount_label);

}  // namespace wmrun::runtime
