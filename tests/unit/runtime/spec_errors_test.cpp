// parse_spec / load_spec: each rule of config.md and config-linux.md, and that every error
// names the JSON field it is about.
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "wmrun/runtime/spec.hpp"

namespace fs = std::filesystem;
using namespace wmrun;
using namespace wmrun::runtime;

namespace {

Json valid_doc() {
    return Json::parse(R"({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {
            "cwd": "/",
            "args": ["sh"],
            "env": ["PATH=/bin", "EMPTY="],
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]
        },
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]
            },
            "resources": {"memory": {"limit": 1048576}}
        }
    })");
}

// The message of the error parse_spec gives after `edit` changed the valid document.
template <class Edit>
std::string error_after(Edit edit) {
    Json doc = valid_doc();
    edit(doc);
    auto s = parse_spec(doc);
    if (s) return "(accepted)";
    CHECK(s.error().path.empty());  // the field is the op, so message() is "<field>: <why>"
    return s.error().message();
}

template <class Edit>
bool accepted_after(Edit edit) {
    Json doc = valid_doc();
    edit(doc);
    auto s = parse_spec(doc);
    if (!s) UNSCOPED_INFO(s.error().message());
    return bool(s);
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "wmrun-spec-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("the base document of these tests is valid") {
    auto s = parse_spec(valid_doc());
    REQUIRE(s);
    CHECK(s->process->capabilities->bounding == std::vector<int>{0, 5});
    CHECK(s->process->rlimits.at(0).resource == RLIMIT_NOFILE);
    CHECK(s->linux_->seccomp->syscalls.at(0).args.at(0).op == "SCMP_CMP_EQ");
    CHECK(s->linux_->resources->memory->limit == 1048576);
}

TEST_CASE("namespaces: known types, no duplicates, absolute paths") {
    CHECK(error_after([](Json& d) { d["linux"]["namespaces"][2]["type"] = "netns"; }) ==
          "linux.namespaces[2].type: unknown namespace \"netns\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["namespaces"].push_back({{"type", "pid"}});
          }) == "linux.namespaces[3].type: duplicate namespace \"pid\"");
    CHECK(error_after([](Json& d) { d["linux"]["namespaces"][0]["path"] = "proc/1/ns/pid"; }) ==
          "linux.namespaces[0].path: must be an absolute path, not \"proc/1/ns/pid\"");
    CHECK(error_after([](Json& d) { d["linux"]["namespaces"][0].erase("type"); }) ==
          "linux.namespaces[0].type: is required");
    Json doc = valid_doc();
    doc["linux"]["namespaces"][0]["path"] = "/proc/1/ns/pid";
    auto s = parse_spec(doc);
    REQUIRE(s);
    REQUIRE(s->linux_->find_namespace(NamespaceType::pid));
    CHECK(s->linux_->find_namespace(NamespaceType::pid)->path == "/proc/1/ns/pid");
    CHECK(s->linux_->find_namespace(NamespaceType::network) == nullptr);
    CHECK_FALSE(s->linux_->has_namespace(NamespaceType::user));
}

TEST_CASE("namespace names and clone flags") {
    CHECK(std::string(namespace_name(NamespaceType::network)) == "network");
    CHECK(std::string(namespace_name(NamespaceType::mount)) == "mount");
    CHECK(namespace_clone_flag(NamespaceType::mount) == CLONE_NEWNS);
    CHECK(namespace_clone_flag(NamespaceType::user) == CLONE_NEWUSER);
    CHECK(namespace_clone_flag(NamespaceType::time) == CLONE_NEWTIME);
    CHECK(namespace_clone_flag(NamespaceType::cgroup) == CLONE_NEWCGROUP);
}

TEST_CASE("top level: ociVersion, root, unknown fields") {
    CHECK(error_after([](Json& d) { d.erase("ociVersion"); }) == "ociVersion: is required");
    CHECK(error_after([](Json& d) { d["ociVersion"] = "1.0"; }) ==
          "ociVersion: must be a SemVer 2.0.0 version, not \"1.0\"");
    CHECK(error_after([](Json& d) { d["ociVersion"] = 1; }) == "ociVersion: must be a string");
    CHECK(accepted_after([](Json& d) { d["ociVersion"] = "1.1.0-rc.1+build.5"; }));
    CHECK(error_after([](Json& d) { d.erase("root"); }) == "root: is required");
    CHECK(error_after([](Json& d) { d["root"].erase("path"); }) == "root.path: is required");
    CHECK(error_after([](Json& d) { d["root"]["readonly"] = "yes"; }) ==
          "root.readonly: must be a boolean");
    CHECK(error_after([](Json& d) { d["hostname"] = 7; }) == "hostname: must be a string");
    CHECK(error_after([](Json& d) {
              d["annotations"] = {{"a", 1}};
          }) == "annotations.a: must be a string");
    // config.md: unknown properties MUST be ignored; null reads as absent, as runc reads it.
    CHECK(accepted_after([](Json& d) {
        d["org.example.extension"] = {{"anything", 1}};
        d["linux"]["someFutureField"] = true;
        d["hostname"] = nullptr;
    }));
    CHECK(parse_spec(Json::array()).error().message() == "config: must be a JSON object");
}

TEST_CASE("process: cwd, args, env, user, console") {
    CHECK(error_after([](Json& d) { d["process"]["cwd"] = "tmp"; }) ==
          "process.cwd: must be an absolute path, not \"tmp\"");
    CHECK(error_after([](Json& d) { d["process"].erase("cwd"); }) == "process.cwd: is required");
    CHECK(error_after([](Json& d) { d["process"]["args"] = Json::array(); }) ==
          "process.args: must have at least one entry");
    CHECK(error_after([](Json& d) { d["process"].erase("args"); }) == "process.args: is required");
    CHECK(error_after([](Json& d) { d["process"]["args"][0] = 5; }) ==
          "process.args[0]: must be a string");
    CHECK(error_after([](Json& d) { d["process"]["env"][1] = "NOVALUE"; }) ==
          "process.env[1]: must be NAME=value, not \"NOVALUE\"");
    CHECK(error_after([](Json& d) { d["process"]["env"][0] = "=x"; }) ==
          "process.env[0]: variable name must not be empty");
    CHECK(error_after([](Json& d) { d["process"]["terminal"] = 1; }) ==
          "process.terminal: must be a boolean");
    CHECK(error_after([](Json& d) {
              d["process"]["user"] = {{"uid", -1}};
          }) == "process.user.uid: must be an integer between 0 and 4294967295");
    CHECK(error_after([](Json& d) {
              d["process"]["user"] = {{"uid", 1.5}};
          }) == "process.user.uid: must be an integer");
    CHECK(error_after([](Json& d) {
              d["process"]["user"]["additionalGids"] = {1, "2"};
          }) == "process.user.additionalGids[1]: must be an integer");
    CHECK(error_after([](Json& d) {
              d["process"]["consoleSize"] = {{"height", 10}};
          }) == "process.consoleSize.width: is required");
    CHECK(error_after([](Json& d) { d["process"]["oomScoreAdj"] = 1001; }) ==
          "process.oomScoreAdj: must be between -1000 and 1000");
    Json doc = valid_doc();
    doc["process"]["user"] = {{"uid", 1000}, {"gid", 100}, {"umask", 18}};
    doc["process"]["consoleSize"] = {{"height", 25}, {"width", 80}};
    auto s = parse_spec(doc);
    REQUIRE(s);
    CHECK(s->process->user.uid == 1000);
    CHECK(s->process->user.gid == 100);
    CHECK(s->process->user.umask == 022);
    CHECK(s->process->console_size->width == 80);
    CHECK(s->process->env.at(1) == "EMPTY=");
}

TEST_CASE("process: capabilities and rlimits") {
    CHECK(error_after([](Json& d) { d["process"]["capabilities"]["bounding"][1] = "CAP_FOO"; }) ==
          "process.capabilities.bounding[1]: unknown capability \"CAP_FOO\"");
    CHECK(error_after([](Json& d) { d["process"]["capabilities"]["ambient"] = {"chown"}; }) ==
          "process.capabilities.ambient[0]: unknown capability \"chown\"");
    CHECK(error_after([](Json& d) { d["process"]["capabilities"]["effective"] = {"cap_kill"}; }) ==
          "process.capabilities.effective[0]: unknown capability \"cap_kill\"");
    CHECK(accepted_after([](Json& d) {
        d["process"]["capabilities"]["permitted"] = {"CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"};
    }));
    CHECK(error_after([](Json& d) { d["process"]["rlimits"][0]["type"] = "RLIMIT_FOO"; }) ==
          "process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\"");
    CHECK(error_after([](Json& d) {
              d["process"]["rlimits"].push_back(
                  {{"type", "RLIMIT_NOFILE"}, {"soft", 1}, {"hard", 2}});
          }) == "process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\"");
    CHECK(error_after([](Json& d) { d["process"]["rlimits"][0].erase("hard"); }) ==
          "process.rlimits[0].hard: is required");
    CHECK(error_after([](Json& d) { d["process"]["rlimits"][0]["soft"] = -1; }) ==
          "process.rlimits[0].soft: must be an integer between 0 and 18446744073709551615");
    // soft above hard is setrlimit's to refuse: neither the schema nor config.md forbids it.
    CHECK(accepted_after([](Json& d) { d["process"]["rlimits"][0]["soft"] = 4096; }));
}

TEST_CASE("process: scheduler, ioPriority, execCPUAffinity") {
    CHECK(error_after([](Json& d) {
              d["process"]["scheduler"] = {{"policy", "SCHED_FAST"}};
          }) == "process.scheduler.policy: unknown scheduler policy \"SCHED_FAST\"");
    CHECK(error_after([](Json& d) {
              d["process"]["scheduler"] = {{"policy", "SCHED_FIFO"}, {"flags", {"X"}}};
          }) == "process.scheduler.flags[0]: unknown scheduler flag \"X\"");
    CHECK(error_after([](Json& d) {
              d["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_X"}};
          }) == "process.ioPriority.class: unknown I/O priority class \"IOPRIO_CLASS_X\"");
    CHECK(error_after([](Json& d) {
              d["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 8}};
          }) == "process.ioPriority.priority: must be between 0 and 7");
    CHECK(error_after([](Json& d) {
              d["process"]["execCPUAffinity"] = {{"final", "0-3;7"}};
          }) == "process.execCPUAffinity.final: must be a CPU list like \"0-3,7\", not \"0-3;7\"");
    Json doc = valid_doc();
    doc["process"]["scheduler"] = {{"policy", "SCHED_DEADLINE"}, {"runtime", 1000}};
    doc["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}, {"priority", 7}};
    auto s = parse_spec(doc);
    REQUIRE(s);
    CHECK(s->process->scheduler->policy_value == 6);
    CHECK(s->process->scheduler->runtime == 1000);
    CHECK(s->process->io_priority->class_value == 3);
}

TEST_CASE("mounts") {
    CHECK(error_after([](Json& d) { d["mounts"][0].erase("destination"); }) ==
          "mounts[0].destination: is required");
    CHECK(error_after([](Json& d) { d["mounts"][0]["options"] = "ro"; }) ==
          "mounts[0].options: must be an array");
    CHECK(error_after([](Json& d) {
              d["mounts"][0]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1}, {"size", 1}}};
          }) == "mounts[0].gidMappings: is required when uidMappings is set");
    CHECK(error_after([](Json& d) {
              d["mounts"][0]["options"] = {"bind", "idmap"};
          }) == "mounts[0].options: idmap needs uidMappings and gidMappings or a user namespace");
    // config.md: a relative destination is deprecated but allowed on Linux.
    CHECK(accepted_after([](Json& d) { d["mounts"][0]["destination"] = "proc"; }));
}

TEST_CASE("hooks") {
    CHECK(error_after([](Json& d) {
              d["hooks"]["poststop"] = {{{"path", "cleanup.sh"}}};
          }) == "hooks.poststop[0].path: must be an absolute path, not \"cleanup.sh\"");
    CHECK(error_after([](Json& d) {
              d["hooks"]["createRuntime"] = {{{"path", "/bin/true"}, {"timeout", 0}}};
          }) == "hooks.createRuntime[0].timeout: must be greater than zero");
    CHECK(error_after([](Json& d) {
              d["hooks"]["prestart"] = {{{"path", "/bin/true"}, {"env", {"X"}}}};
          }) == "hooks.prestart[0].env[0]: must be NAME=value, not \"X\"");
    CHECK(error_after([](Json& d) {
              d["hooks"]["startContainer"] = {{{"args", {"x"}}}};
          }) == "hooks.startContainer[0].path: is required");
}

TEST_CASE("linux: devices, mappings, paths, sysctl") {
    auto dev = [](Json& d, Json device) { d["linux"]["devices"] = Json::array({device}); };
    CHECK(error_after([&](Json& d) {
              dev(d, {{"type", "x"}, {"path", "/dev/x"}});
          }) == "linux.devices[0].type: must be \"c\", \"b\", \"u\" or \"p\", not \"x\"");
    CHECK(error_after([&](Json& d) {
              dev(d, {{"type", "c"}, {"path", "dev/null"}, {"major", 1}, {"minor", 3}});
          }) == "linux.devices[0].path: must be an absolute path, not \"dev/null\"");
    CHECK(error_after([&](Json& d) {
              dev(d, {{"type", "c"}, {"path", "/dev/null"}, {"minor", 3}});
          }) == "linux.devices[0].major: is required");
    CHECK(accepted_after([&](Json& d) { dev(d, {{"type", "p"}, {"path", "/dev/fifo"}}); }));
    CHECK(error_after([](Json& d) {
              d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}}};
          }) == "linux.uidMappings[0].size: is required");
    CHECK(error_after([](Json& d) {
              d["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
          }) == "linux.uidMappings: needs a user namespace in linux.namespaces");
    CHECK(error_after([](Json& d) {
              d["linux"]["maskedPaths"] = {"/proc/kcore", "proc/keys"};
          }) == "linux.maskedPaths[1]: must be an absolute path, not \"proc/keys\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["sysctl"] = {{"net.ipv4.ip_forward", 1}};
          }) == "linux.sysctl.net.ipv4.ip_forward: must be a string");
    CHECK(error_after([](Json& d) { d["linux"]["rootfsPropagation"] = "recursive"; }) ==
          "linux.rootfsPropagation: must be private, shared, slave or unbindable, not "
          "\"recursive\"");
    Json doc = valid_doc();
    doc["linux"]["namespaces"].push_back({{"type", "user"}});
    doc["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    doc["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    doc["linux"]["devices"] = {
        {{"type", "c"}, {"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}, {"fileMode", 438}}};
    auto s = parse_spec(doc);
    REQUIRE(s);
    CHECK(s->linux_->gid_mappings.at(0).size == 65536);
    CHECK(s->linux_->devices.at(0).major == 10);
    CHECK(s->linux_->devices.at(0).file_mode == 0666);
}

TEST_CASE("linux: timeOffsets, personality, memoryPolicy, netDevices, intelRdt") {
    CHECK(error_after([](Json& d) {
              d["linux"]["namespaces"].push_back({{"type", "time"}});
              d["linux"]["timeOffsets"] = {{"realtime", {{"secs", 1}}}};
          }) ==
          "linux.timeOffsets.realtime: unknown clock (must be \"monotonic\" or \"boottime\")");
    CHECK(error_after([](Json& d) {
              d["linux"]["timeOffsets"] = {{"monotonic", {{"secs", 1}}}};
          }) == "linux.timeOffsets: needs a time namespace in linux.namespaces");
    CHECK(error_after([](Json& d) {
              d["linux"]["personality"] = {{"domain", "LINUX64"}};
          }) == "linux.personality.domain: must be \"LINUX\" or \"LINUX32\", not \"LINUX64\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["memoryPolicy"] = {{"mode", "MPOL_FOO"}};
          }) == "linux.memoryPolicy.mode: unknown memory policy mode \"MPOL_FOO\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["memoryPolicy"] = {{"mode", "MPOL_BIND"}};
          }) == "linux.memoryPolicy.nodes: is required for MPOL_BIND");
    CHECK(error_after([](Json& d) {
              d["linux"]["memoryPolicy"] = {{"mode", "MPOL_LOCAL"}, {"flags", {"MPOL_F_X"}}};
          }) == "linux.memoryPolicy.flags[0]: unknown memory policy flag \"MPOL_F_X\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["netDevices"] = {{"eth0", {{"name", "a/b"}}}};
          }) == "linux.netDevices.eth0.name: invalid network interface name \"a/b\"");
    CHECK(error_after([](Json& d) {
              d["linux"]["intelRdt"] = {{"memBwSchema", "L3:0=ff"}};
          }) == "linux.intelRdt.memBwSchema: must start with \"MB:\" and be one line");
    Json doc = valid_doc();
    doc["linux"]["namespaces"].push_back({{"type", "time"}});
    doc["linux"]["timeOffsets"] = {{"monotonic", {{"secs", -5}, {"nanosecs", 10}}}};
    doc["linux"]["memoryPolicy"] = {{"mode", "MPOL_INTERLEAVE"}, {"nodes", "0-1"}};
    doc["linux"]["netDevices"] = {{"ens4", Json::object()}, {"eth1", {{"name", "net%d"}}}};
    doc["linux"]["personality"] = {{"domain", "LINUX32"}};
    auto s = parse_spec(doc);
    REQUIRE(s);
    CHECK(s->linux_->time_offsets.at("monotonic").secs == -5);
    CHECK(s->linux_->memory_policy->nodes == "0-1");
    REQUIRE(s->linux_->net_devices.size() == 2);
    CHECK(s->linux_->net_devices[0].host_name == "ens4");
    CHECK(s->linux_->net_devices[0].name == "ens4");
    CHECK(s->linux_->net_devices[1].name == "net%d");
    CHECK(s->linux_->personality->domain == "LINUX32");
}

TEST_CASE("linux.seccomp") {
    auto sc = [](Json& d) -> Json& { return d["linux"]["seccomp"]; };
    CHECK(error_after([&](Json& d) { sc(d)["syscalls"][0]["args"][0]["op"] = "SCMP_CMP_FOO"; }) ==
          "linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator \"SCMP_CMP_FOO\"");
    CHECK(error_after([&](Json& d) { sc(d)["syscalls"][0]["args"][0]["index"] = 6; }) ==
          "linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5");
    CHECK(error_after([&](Json& d) { sc(d)["defaultAction"] = "SCMP_ACT_DENY"; }) ==
          "linux.seccomp.defaultAction: unknown seccomp action \"SCMP_ACT_DENY\"");
    CHECK(error_after([&](Json& d) { sc(d).erase("defaultAction"); }) ==
          "linux.seccomp.defaultAction: is required");
    CHECK(error_after([&](Json& d) {
              sc(d)["architectures"] = {"SCMP_ARCH_X86_64", "x86"};
          }) == "linux.seccomp.architectures[1]: unknown seccomp architecture \"x86\"");
    CHECK(error_after([&](Json& d) { sc(d)["flags"] = {"SECCOMP_FILTER_FLAG_NOPE"}; }) ==
          "linux.seccomp.flags[0]: unknown seccomp flag \"SECCOMP_FILTER_FLAG_NOPE\"");
    CHECK(error_after([&](Json& d) { sc(d)["syscalls"][0]["names"] = Json::array(); }) ==
          "linux.seccomp.syscalls[0].names: must have at least one entry");
    CHECK(error_after([&](Json& d) { sc(d)["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY"; }) ==
          "linux.seccomp.listenerPath: is required when an action is SCMP_ACT_NOTIFY");
    CHECK(accepted_after([&](Json& d) {
        sc(d)["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY";
        sc(d)["listenerPath"] = "/run/agent.sock";
        sc(d)["listenerMetadata"] = "x";
    }));
    CHECK(error_after([&](Json& d) { sc(d)["listenerMetadata"] = "x"; }) ==
          "linux.seccomp.listenerMetadata: needs listenerPath");
    CHECK(error_after([&](Json& d) { sc(d)["defaultErrnoRet"] = 1; }) ==
          "linux.seccomp.defaultErrnoRet: is not allowed with action SCMP_ACT_ALLOW");
    CHECK(error_after([&](Json& d) {
              sc(d)["syscalls"][0]["action"] = "SCMP_ACT_KILL";
              sc(d)["syscalls"][0]["errnoRet"] = 1;
          }) == "linux.seccomp.syscalls[0].errnoRet: is not allowed with action SCMP_ACT_KILL");
    Json doc = valid_doc();
    doc["linux"]["seccomp"]["syscalls"][0]["errnoRet"] = 38;
    auto s = parse_spec(doc);
    REQUIRE(s);
    CHECK(s->linux_->seccomp->syscalls.at(0).errno_ret == 38u);
    CHECK(s->linux_->seccomp->syscalls.at(0).args.at(0).value == 9);
}

TEST_CASE("load_spec names config.json in its errors") {
    TempDir dir;
    std::string config = (dir.path / "config.json").string();
    auto missing = load_spec(dir.path.string());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message() == "open: " + config + ": no such file or directory");

    std::ofstream(config) << "{\"ociVersion\": ";
    auto malformed = load_spec(dir.path.string());
    REQUIRE_FALSE(malformed);
    CHECK(malformed.error().message().rfind("parse JSON: " + config + ": ", 0) == 0);
    CHECK(malformed.error().message().find("syntax error") != std::string::npos);

    Json doc = valid_doc();
    doc["process"]["cwd"] = "relative";
    std::ofstream(config, std::ios::trunc) << doc.dump();
    auto invalid = load_spec(dir.path.string() + "/");
    REQUIRE_FALSE(invalid);
    CHECK(invalid.error().message() ==
          config + ": process.cwd: must be an absolute path, not \"relative\"");

    // Found by tests/fuzz (resources): a number past double's range threw nlohmann's
    // out_of_range out of parse_json, and wmrun died in std::terminate.
    std::ofstream(config, std::ios::trunc)
        << R"({"linux": {"resources": {"memory": {"limit": 9999999E999}}}})";
    auto overflow = load_spec(dir.path.string());
    REQUIRE_FALSE(overflow);
    CHECK(overflow.error().message() ==
          "parse JSON: " + config + ": number overflow parsing '9999999E999'");

    std::ofstream(config, std::ios::trunc) << valid_doc().dump();
    auto ok = load_spec(dir.path.string());
    REQUIRE(ok);
    CHECK(ok->raw == valid_doc());
}
