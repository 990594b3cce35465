// The runtime-spec "features" document (features.md, features-linux.md): what this build
// really supports, so a caller can choose before it asks.
#include <seccomp.h>
#include <sys/capability.h>

#include <cctype>

#include "rootfs/mount_options.hpp"
#include "process/security_label.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/spec.hpp"
#include "wmrun_version.h"

namespace wmrun::runtime {

std::string libseccomp_version() {
    const scmp_version* v = seccomp_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->micro);
}

OrderedJson features() {
    OrderedJson f;
    f["ociVersionMin"] = "1.0.0";
    f["ociVersionMax"] = "1.3.0";
    f["hooks"] = {"prestart",       "createRuntime", "createContainer",
                  "startContainer", "poststart",     "poststop"};
    f["mountOptions"] = known_mount_options();
    OrderedJson lnx;
    lnx["namespaces"] = {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"};
    std::vector<std::string> caps;
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        char* name = cap_to_name(static_cast<cap_value_t>(c));
        std::string upper = name;
        cap_free(name);
        for (char& ch : upper)
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        caps.push_back(upper);
    }
    lnx["capabilities"] = caps;
    // systemdUser: rootless --systemd-cgroup talks to the user's bus, but that is not tested.
    lnx["cgroup"] = {
        {"v1", true}, {"v2", true}, {"systemd", true}, {"systemdUser", false}, {"rdma", false}};
    lnx["seccomp"] = {{"enabled", true},
                      {"actions",
                       {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                        "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                        "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
                      {"operators",
                       {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                        "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
                      {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
                      {"knownFlags",
                       {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_LOG"}},
                      {"supportedFlags",
                       {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_LOG"}}};
    // A label is applied only where its LSM is active, and refused elsewhere.
    LsmSupport lsm = active_lsms();
    lnx["apparmor"] = {{"enabled", lsm.apparmor}};
    lnx["selinux"] = {{"enabled", lsm.selinux}};
    lnx["intelRdt"] = {{"enabled", false}};
    lnx["mountExtensions"] = {{"idmap", {{"enabled", true}}}};
    lnx["memoryPolicy"] = {
        {"modes",
         {"MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"}},
        {"flags", {"MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"}}};
    lnx["netDevices"] = {{"enabled", true}};
    f["linux"] = lnx;
    f["annotations"] = {{"org.opencontainers.runtime-spec.features.version", "1.3.0"},
                        {"io.github.wmrun.version", WMRUN_VERSION},
                        {"io.github.wmrun.libseccomp.version", libseccomp_version()}};
    return f;
}

}  // namespace wmrun::runtime
