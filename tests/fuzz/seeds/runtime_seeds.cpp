// Seeds for config-json, state-json, seccomp and resources: `wmrun spec`'s default config (root
// and rootless), the same with the optional sections filled in, and state files as the state
// store writes them.
#include "process/seccomp.hpp"
#include "seeds.hpp"
#include "spec/default_seccomp.hpp"
#include "spec/spec_parse_internal.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/runtime/spec.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::fuzz::seeds {

namespace {

// linux.resources with every group set, as config-linux.md lists them.
Json full_resources() {
    return Json::parse(R"({
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                  {"allow": true, "type": "b", "major": 8, "access": "r"}],
      "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824,
                 "swappiness": 10, "disableOOMKiller": false, "checkBeforeUpdate": true},
      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
              "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0",
              "idle": 0},
      "pids": {"limit": 128},
      "blockIO": {"weight": 500, "leafWeight": 300,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 100}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
      "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
      "unified": {"memory.high": "400000000", "io.weight": "default 100"}
    })");
}

// A seccomp section with what the default profile leaves out: arguments, errnoRet, notify,
// flags and architectures.
Json rich_seccomp() {
    return Json::parse(R"({
      "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/agent.sock", "listenerMetadata": "fuzz",
      "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
        {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["kexec_load"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}
      ]
    })");
}

// What the default config leaves out: hooks, idmapped mounts, resources, devices, namespaces
// joined by path, time offsets, the process's optional fields.
Json rich_patch() {
    Json p = Json::parse(R"({
      "hooks": {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}],
                "createRuntime": [{"path": "/bin/true", "env": ["A=b"]}],
                "poststop": [{"path": "/bin/true"}]},
      "hostname": "fuzz", "domainname": "example.org",
      "annotations": {"org.example.key": "value"},
      "process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                  "oomScoreAdj": 100, "apparmorProfile": "", "umask": 18,
                  "scheduler": {"policy": "SCHED_OTHER", "nice": 5},
                  "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                  "execCPUAffinity": {"initial": "0", "final": "0-1"},
                  "user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}},
      "linux": {"sysctl": {"net.ipv4.ip_forward": "1"},
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                             "fileMode": 438, "uid": 0, "gid": 0}],
                "personality": {"domain": "LINUX"},
                "timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}},
                "rootfsPropagation": "rslave",
                "cgroupsPath": "/fuzz/c1",
                "intelRdt": {"closID": "fuzz"}}
    })");
    p["linux"]["resources"] = full_resources();
    return p;
}

Json with_extras(Json doc) {
    doc.merge_patch(rich_patch());
    doc["mounts"].push_back(Json::parse(R"({"destination": "/data", "type": "bind",
        "source": "/srv/data", "options": ["rbind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})"));
    doc["linux"]["namespaces"].push_back({{"type", "time"}});
    for (auto& ns : doc["linux"]["namespaces"])
        if (ns["type"] == "network") ns["path"] = "/proc/1/ns/net";
    return doc;
}

}  // namespace

void runtime_seeds(const Out& out) {
    // As `wmrun spec` writes them (key order kept), and as DOMs to patch.
    OrderedJson root_written = runtime::default_spec(false, 0, 0);
    OrderedJson rootless_written = runtime::default_spec(true, 1000, 1000);
    Json root(root_written), rootless(rootless_written);
    // Seeds are valid documents: one the parser refuses would start the fuzzer at an error.
    for (const Json& doc : {root, rootless, with_extras(root), with_extras(rootless)})
        must(runtime::parse_spec(doc), "a config.json seed does not parse");
    out.seed("config-json", "default", root_written.dump(2));
    out.seed("config-json", "rootless", rootless_written.dump(2));
    out.seed("config-json", "rich", with_extras(root).dump(2));
    out.seed("config-json", "rich-compact", with_extras(rootless).dump());

    Json profile(runtime::detail::default_seccomp_profile());
    for (const Json& s : {profile, rich_seccomp()})
        must(runtime::compile_seccomp(must(runtime::detail::parse_seccomp(s, "seccomp"),
                                           "a seccomp seed does not parse")),
             "a seccomp seed does not compile");
    out.seed("seccomp", "default", profile.dump());
    out.seed("seccomp", "rich", rich_seccomp().dump());
    out.seed("resources", "default", root["linux"]["resources"].dump());
    out.seed("resources", "full", full_resources().dump());

    std::string state_root = out.work("state");
    runtime::StateStore store(state_root);
    runtime::ContainerState s;
    s.id = "c1";
    s.oci_version = "1.2.0";
    s.pid = 4242;
    s.start_time = 123456789;
    s.bundle = "/srv/bundles/c1";
    s.rootfs = "/srv/bundles/c1/rootfs";
    s.created = "2024-01-02T03:04:05.678901234Z";
    s.owner = "root";
    s.annotations = {{"org.example.key", "value"}};
    s.cgroup = Json{{"driver", "v2"}, {"root", "/sys/fs/cgroup"}, {"path", "/wmrun/c1"}};
    must(mkdir_all(store.dir(s.id)), "mkdir");
    must(store.save(s), "save state");
    out.seed("state-json", "created", must(read_file(store.dir(s.id) + "/state.json"), "read"));
    s.started = true;
    s.hibernated = true;
    s.rootless = true;
    s.systemd_cgroup = true;
    s.image_store = "/var/lib/wmrun";
    s.cgroup = Json{{"driver", "v1"},
                    {"path", "/wmrun/c1"},
                    {"dirs", {{"memory", "/sys/fs/cgroup/memory/wmrun/c1"}}},
                    {"unified_root", "/sys/fs/cgroup/unified"}};
    s.annotations.clear();
    must(store.save(s), "save state");
    std::string hibernated = must(read_file(store.dir(s.id) + "/state.json"), "read");
    out.seed("state-json", "hibernated", hibernated);
    // Found by this target: a pid that is a float too big for any integer (get<int> of it was
    // undefined behaviour).
    Json huge_pid = must(parse_json(hibernated, "state"), "parse state");
    huge_pid["pid"] = 4.243e90;
    out.regression("state-json", "pid-float-4e90", huge_pid.dump());
}

}  // namespace wmrun::fuzz::seeds
