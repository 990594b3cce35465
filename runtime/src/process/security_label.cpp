#include "process/security_label.hpp"

#include <unistd.h>

#include "process/procfs.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::runtime {

namespace {

bool listed(const std::string& list, const std::string& name) {
    for (std::size_t start = 0; start <= list.size();) {
        std::size_t end = std::min(list.find(',', start), list.size());
        std::string item = list.substr(start, end - start);
        while (!item.empty() && (item.back() == '\n' || item.back() == ' ')) item.pop_back();
        if (item == name) return true;
        start = end + 1;
    }
    return false;
}

}  // namespace

LsmSupport active_lsms() {
    LsmSupport s;
    if (auto lsm = read_file("/sys/kernel/security/lsm")) {
        s.apparmor = listed(*lsm, "apparmor");
        s.selinux = listed(*lsm, "selinux");
        return s;
    }
    // securityfs not mounted: each module says so itself.
    auto enabled = read_file("/sys/module/apparmor/parameters/enabled");
    s.apparmor = enabled && !enabled->empty() && (*enabled)[0] == 'Y';
    s.selinux = ::access("/sys/fs/selinux/enforce", F_OK) == 0;
    return s;
}

Result<> check_security_labels(const Process& p, const std::string& mount_label) {
    if (p.apparmor_profile.empty() && p.selinux_label.empty() && mount_label.empty()) return {};
    LsmSupport lsm = active_lsms();
    if (!p.apparmor_profile.empty() && !lsm.apparmor)
        return fail("process.apparmorProfile", p.apparmor_profile,
                    "AppArmor is not enabled on this host", ENOTSUP);
    if (!p.selinux_label.empty() && !lsm.selinux)
        return fail("process.selinuxLabel", p.selinux_label,
                    "SELinux is not enabled on this host", ENOTSUP);
    if (!mount_label.empty() && !lsm.selinux)
        return fail("linux.mountLabel", mount_label, "SELinux is not enabled on this host",
                    ENOTSUP);
    return {};
}

Result<> apply_exec_label(const Process& p) {
    if (p.apparmor_profile.empty() && p.selinux_label.empty()) return {};
    auto proc = WM_TRY(Procfs::open());
    if (!p.apparmor_profile.empty()) {
        // attr/apparmor/exec where the kernel stacks LSMs (5.8+), attr/exec before that.
        std::string request = "exec " + p.apparmor_profile;
        auto r = proc.write("self/attr/apparmor/exec", request);
        if (!r && r.error().err == ENOENT) r = proc.write("self/attr/exec", request);
        if (!r) return std::unexpected(with_context(r.error(), "apply AppArmor profile"));
    }
    if (!p.selinux_label.empty()) {
        auto r = proc.write("self/attr/exec", p.selinux_label);
        if (!r) return std::unexpected(with_context(r.error(), "apply SELinux label"));
    }
    return {};
}

std::string mount_label_option(const std::string& type, const std::string& mount_label) {
    if (mount_label.empty()) return {};
    if (type != "tmpfs" && type != "devpts" && type != "mqueue") return {};
    return "\"" + mount_label + "\"";
}

}  // namespace wmrun::runtime
