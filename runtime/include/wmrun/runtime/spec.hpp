// The OCI runtime configuration (config.json) as plain typed structs.
// parse_spec() validates everything before any side effect; each error names the JSON field,
// e.g. `linux.namespaces[2].type: unknown namespace "netns"`.
// Field meanings: the OCI runtime-spec's config.md and config-linux.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/cgroups/resources.hpp"

namespace wmrun::runtime {

struct Rlimit {
    int resource = 0;  // RLIMIT_* value, from the "RLIMIT_NOFILE"-style type name
    std::string type;  // as written
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
};

struct Capabilities {
    // Capability numbers (CAP_*), from names like "CAP_CHOWN"; unknown names are parse errors.
    std::vector<int> bounding, effective, inheritable, permitted, ambient;
};

struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::optional<mode_t> umask;
    std::vector<gid_t> additional_gids;
};

struct ConsoleSize {
    unsigned height = 0;
    unsigned width = 0;
};

struct Scheduler {
    std::string policy;  // SCHED_OTHER, SCHED_FIFO, ...
    int policy_value = 0;
    int nice = 0;
    int priority = 0;
    std::vector<std::string> flags;
    std::uint64_t runtime = 0, deadline = 0, period = 0;
};

struct IoPriority {
    std::string io_class;  // IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE
    int class_value = 0;
    int priority = 0;
};

struct CpuAffinity {
    std::string initial;  // cpu list "0-3,7"
    std::string final_;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    std::string cwd;  // absolute
    std::vector<std::string> env;
    std::vector<std::string> args;
    std::string command_line;  // Windows only; kept for completeness
    std::vector<Rlimit> rlimits;
    std::string apparmor_profile;
    std::optional<Capabilities> capabilities;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;
    std::optional<Scheduler> scheduler;
    std::string selinux_label;
    std::optional<IoPriority> io_priority;
    std::optional<CpuAffinity> exec_cpu_affinity;
    User user;
};

struct Root {
    std::string path;  // as written: relative to the bundle or absolute
    bool readonly = false;
};

struct IdMapping {
    std::uint32_t container_id = 0;
    std::uint32_t host_id = 0;
    std::uint32_t size = 0;
};

struct Mount {
    std::string destination;  // absolute inside the container
    std::string type;         // may be empty (then a bind mount when options say so)
    std::string source;
    std::vector<std::string> options;
    std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mounts
};

struct Hook {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<int> timeout;  // seconds, > 0
};

struct Hooks {
    std::vector<Hook> prestart;  // deprecated, still run as runc does (before createRuntime)
    std::vector<Hook> create_runtime, create_container, start_container, poststart, poststop;
};

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup, time };

struct Namespace {
    NamespaceType type{};
    std::string path;  // empty: create a new one; else join the namespace at this path
};

struct Device {
    char type = 'c';  // 'c', 'b', 'u' (unbuffered char), 'p' (fifo)
    std::string path;
    std::int64_t major = 0, minor = 0;
    std::optional<mode_t> file_mode;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
};

struct SeccompArg {
    unsigned index = 0;
    std::uint64_t value = 0;
    std::uint64_t value_two = 0;
    std::string op;  // SCMP_CMP_NE, SCMP_CMP_LT, ... SCMP_CMP_MASKED_EQ
};

struct SeccompSyscall {
    std::vector<std::string> names;
    std::string action;  // SCMP_ACT_*
    std::optional<unsigned> errno_ret;
    std::vector<SeccompArg> args;
};

struct Seccomp {
    std::string default_action;
    std::optional<unsigned> default_errno_ret;
    std::vector<std::string> architectures;  // SCMP_ARCH_*
    std::vector<std::string> flags;          // SECCOMP_FILTER_FLAG_*
    std::string listener_path;
    std::string listener_metadata;
    std::vector<SeccompSyscall> syscalls;
};

struct TimeOffset {
    std::int64_t secs = 0;
    std::uint32_t nanosecs = 0;
};

struct MemoryPolicy {
    std::string mode;  // MPOL_DEFAULT, MPOL_BIND, ...
    std::string nodes;
    std::vector<std::string> flags;
};

struct NetDevice {
    std::string host_name;  // the key in linux.netDevices
    std::string name;       // name inside the container; defaults to host_name
};

struct Personality {
    std::string domain;  // LINUX or LINUX32
    std::vector<std::string> flags;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings, gid_mappings;
    std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
    std::vector<Device> devices;
    std::string cgroups_path;
    std::optional<cgroups::Resources> resources;
    std::string rootfs_propagation;  // shared, slave, private, unbindable, or empty
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::string mount_label;
    std::map<std::string, std::string> sysctl;
    std::optional<Seccomp> seccomp;
    std::optional<Personality> personality;
    std::optional<MemoryPolicy> memory_policy;
    std::vector<NetDevice> net_devices;
    std::optional<std::string> intel_rdt_clos_id;  // accepted, not applied: no resctrl here

    bool has_namespace(NamespaceType t) const;
    const Namespace* find_namespace(NamespaceType t) const;
};

struct Spec {
    std::string oci_version;
    std::optional<Root> root;
    std::vector<Mount> mounts;
    std::optional<Process> process;
    std::string hostname;
    std::string domainname;
    Hooks hooks;
    std::map<std::string, std::string> annotations;
    std::optional<Linux> linux_;  // `linux` is a predefined macro in GNU C++
    Json raw;                     // the document as read, for hooks and state
};

// Validates and converts a parsed config.json.
Result<Spec> parse_spec(const Json& doc);
// Reads <bundle>/config.json and parses it; errors name config.json and the field.
Result<Spec> load_spec(const std::string& bundle_dir);

// The default config.json that `wmrun spec` writes (runc's defaults); with rootless, a user
// namespace mapping the caller and no cgroup-dependent settings.
OrderedJson default_spec(bool rootless, uid_t uid, gid_t gid);

const char* namespace_name(NamespaceType t);  // "pid", "network", ...
int namespace_clone_flag(NamespaceType t);    // CLONE_NEWPID, ...

}  // namespace wmrun::runtime
