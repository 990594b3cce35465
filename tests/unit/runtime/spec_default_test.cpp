// default_spec: runc's template, valid by our own parser, and the rootless variant.
#include <catch2/catch.hpp>

#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "../skip.hpp"
#include "wmrun/runtime/spec.hpp"

namespace fs = std::filesystem;
using namespace wmrun;
using namespace wmrun::runtime;

namespace {

bool cgroup2_unified() {
    struct statfs st {};
    return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

std::vector<std::string> namespace_names(const Spec& s) {
    std::vector<std::string> out;
    for (const auto& ns : s.linux_->namespaces)
        out.push_back(namespace_name(ns.type));
    return out;
}

const Mount* find_mount(const Spec& s, const std::string& dest) {
    for (const auto& m : s.mounts)
        if (m.destination == dest) return &m;
    return nullptr;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

// `runc spec [--rootless]` output, or nullopt when runc is not installed.
std::optional<OrderedJson> runc_spec(bool rootless) {
    if (std::system("command -v runc >/dev/null 2>&1") != 0) return std::nullopt;
    std::string tmpl = (fs::temp_directory_path() / "wmrun-runc-spec-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    std::string cmd = "cd '" + tmpl + "' && runc spec" + (rootless ? " --rootless" : "");
    int rc = std::system(cmd.c_str());
    std::optional<OrderedJson> out;
    if (rc == 0) out = OrderedJson::parse(std::ifstream(tmpl + "/config.json"));
    fs::remove_all(tmpl);
    REQUIRE(rc == 0);
    return out;
}

}  // namespace

TEST_CASE("the default spec is runc's template and parses") {
    OrderedJson doc = default_spec(false, 0, 0);
    auto s = parse_spec(Json::parse(doc.dump()));
    INFO((s ? std::string() : s.error().message()));
    REQUIRE(s);
    CHECK(s->oci_version == "1.2.0");
    CHECK(s->process->args == std::vector<std::string>{"sh"});
    CHECK(s->process->terminal);
    CHECK(s->process->cwd == "/");
    CHECK(s->process->no_new_privileges);
    CHECK(s->process->capabilities->bounding ==
          std::vector<int>{CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE});
    CHECK(s->process->capabilities->inheritable.empty());
    CHECK(s->process->rlimits.at(0).resource == RLIMIT_NOFILE);
    CHECK(s->process->rlimits.at(0).hard == 1024);
    CHECK(s->root->path == "rootfs");
    CHECK(s->root->readonly);
    CHECK(s->hostname == "runc");
    REQUIRE(s->mounts.size() == 7);
    CHECK(s->mounts[0].destination == "/proc");
    CHECK(find_mount(*s, "/sys")->type == "sysfs");
    CHECK(has(find_mount(*s, "/dev/pts")->options, "gid=5"));
    std::vector<std::string> ns = {"pid", "network", "ipc", "uts", "mount"};
    if (cgroup2_unified()) ns.push_back("cgroup");
    CHECK(namespace_names(*s) == ns);
    CHECK(s->linux_->uid_mappings.empty());
    CHECK(has(s->linux_->masked_paths, "/proc/kcore"));
    CHECK(s->linux_->masked_paths.size() == 10);
    CHECK(has(s->linux_->readonly_paths, "/proc/sysrq-trigger"));
    REQUIRE(s->linux_->resources);
    REQUIRE(s->linux_->resources->devices.size() == 1);
    CHECK_FALSE(s->linux_->resources->devices[0].allow);
    CHECK(s->linux_->resources->devices[0].access == "rwm");
    // Key order as runc writes it, so a diff against runc's file is empty.
    CHECK(doc.begin().key() == "ociVersion");
    CHECK(doc["process"].begin().key() == "terminal");
}

TEST_CASE("the rootless default maps the caller to root in a user namespace") {
    OrderedJson doc = default_spec(true, 1000, 1001);
    auto s = parse_spec(Json::parse(doc.dump()));
    INFO((s ? std::string() : s.error().message()));
    REQUIRE(s);
    CHECK(s->linux_->has_namespace(NamespaceType::user));
    CHECK_FALSE(s->linux_->has_namespace(NamespaceType::network));
    CHECK(namespace_names(*s).back() == "user");
    REQUIRE(s->linux_->uid_mappings.size() == 1);
    CHECK(s->linux_->uid_mappings[0].container_id == 0);
    CHECK(s->linux_->uid_mappings[0].host_id == 1000);
    CHECK(s->linux_->uid_mappings[0].size == 1);
    REQUIRE(s->linux_->gid_mappings.size() == 1);
    CHECK(s->linux_->gid_mappings[0].host_id == 1001);
    const Mount* sys = find_mount(*s, "/sys");
    REQUIRE(sys);
    CHECK(sys->type == "none");
    CHECK(sys->source == "/sys");
    CHECK(sys->options.at(0) == "rbind");
    CHECK(has(sys->options, "ro"));
    CHECK_FALSE(has(find_mount(*s, "/dev/pts")->options, "gid=5"));
    CHECK_FALSE(s->linux_->resources);
}

TEST_CASE("the default spec matches `runc spec` field for field") {
    for (bool rootless : {false, true}) {
        INFO("rootless " << rootless);
        auto runc = runc_spec(rootless);
        if (!runc) WMRUN_SKIP("runc is not installed");
        OrderedJson ours = default_spec(rootless, geteuid(), getegid());
        // The intended differences: we declare the spec version we implement, and add a
        // seccomp profile (default_seccomp_test.cpp checks it).
        (*runc)["ociVersion"] = ours["ociVersion"];
        ours["linux"].erase("seccomp");
        CHECK(ours.dump(1) == runc->dump(1));
    }
}
