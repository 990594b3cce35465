// The config.json that `wmrun spec` writes: the same document as `runc spec` (runc's
// libcontainer/specconv Example and ToRootless), field for field and in the same order, so
// tools and people used to runc's template find what they expect; one addition, a default
// seccomp profile as container engines (moby, podman) put in the configs they generate.
#include <sys/statfs.h>

#include <linux/magic.h>

#include <string>
#include <string_view>
#include <vector>

#include "default_seccomp.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

namespace {

// The spec version whose fields parse_spec() understands.
constexpr const char* default_oci_version = "1.2.0";

bool cgroup2_unified() {
    struct statfs st {};
    return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

OrderedJson mount(const char* dest, const char* type, const char* source,
                  std::vector<std::string> options) {
    OrderedJson m = {{"destination", dest}, {"type", type}, {"source", source}};
    if (!options.empty()) m["options"] = std::move(options);
    return m;
}

OrderedJson default_mounts(bool rootless) {
    OrderedJson mounts = OrderedJson::array();
    mounts.push_back(mount("/proc", "proc", "proc", {}));
    mounts.push_back(
        mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
    // A rootless user cannot ask for gid=5: the tty group is not mapped.
    if (rootless)
        mounts.push_back(mount("/dev/pts", "devpts", "devpts",
                               {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}));
    else
        mounts.push_back(
            mount("/dev/pts", "devpts", "devpts",
                  {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
    mounts.push_back(mount("/dev/shm", "tmpfs", "shm",
                           {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
    mounts.push_back(mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
    // sysfs cannot be mounted fresh without owning the network namespace, which a rootless
    // container does not get; it binds the host's /sys read-only instead.
    if (rootless) {
        OrderedJson sys = {{"destination", "/sys"}, {"type", "none"}, {"source", "/sys"}};
        sys["options"] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
        mounts.push_back(sys);
    } else {
        mounts.push_back(mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
    }
    mounts.push_back(mount("/sys/fs/cgroup", "cgroup", "cgroup",
                           {"nosuid", "noexec", "nodev", "relatime", "ro"}));
    return mounts;
}

OrderedJson id_map(unsigned host_id) {
    return OrderedJson::array({{{"containerID", 0}, {"hostID", host_id}, {"size", 1}}});
}

}  // namespace

OrderedJson default_spec(bool rootless, uid_t uid, gid_t gid) {
    const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    OrderedJson spec;
    spec["ociVersion"] = default_oci_version;

    OrderedJson& process = spec["process"];
    process["terminal"] = true;
    process["user"] = {{"uid", 0}, {"gid", 0}};
    process["args"] = OrderedJson::array({"sh"});
    process["env"] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "TERM=xterm"};
    process["cwd"] = "/";
    process["capabilities"]["bounding"] = caps;
    process["capabilities"]["effective"] = caps;
    process["capabilities"]["permitted"] = caps;
    process["capabilities"]["ambient"] = caps;
    process["rlimits"] =
        OrderedJson::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
    process["noNewPrivileges"] = true;

    spec["root"] = {{"path", "rootfs"}, {"readonly", true}};
    spec["hostname"] = "runc";
    spec["mounts"] = default_mounts(rootless);

    OrderedJson& linux = spec["linux"];
    if (rootless) {
        // The caller becomes root inside; nothing else is mapped, as runc --rootless does.
        linux["uidMappings"] = id_map(uid);
        linux["gidMappings"] = id_map(gid);
    } else {
        // Deny all devices; the runtime adds back the default ones (/dev/null, ...) itself.
        linux["resources"]["devices"] = OrderedJson::array({{{"allow", false}, {"access", "rwm"}}});
    }
    OrderedJson& ns = linux["namespaces"];
    ns = OrderedJson::array();
    for (const char* type : {"pid", "network", "ipc", "uts", "mount"}) {
        // A rootless container keeps the host's network: it may not configure a new one.
        if (rootless && std::string_view(type) == "network") continue;
        ns.push_back({{"type", type}});
    }
    // A cgroup namespace only gives a clean view of a unified (v2) hierarchy.
    if (cgroup2_unified()) ns.push_back({{"type", "cgroup"}});
    if (rootless) ns.push_back({{"type", "user"}});
    linux["maskedPaths"] = {"/proc/acpi",        "/proc/asound",        "/proc/kcore",
                            "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug",   "/sys/firmware",
                            "/proc/scsi"};
    linux["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"};
    // runc spec has none, which leaves a hand-made bundle with every syscall the capabilities
    // allow; a rootless container gets it too, its user namespace being no reason for more.
    linux["seccomp"] = detail::default_seccomp_profile();
    return spec;
}

}  // namespace wmrun::runtime
