// parse_spec against the runtime-spec's own example configs (schema-tests/config/{good,bad}).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "wmrun/runtime/spec.hpp"

namespace fs = std::filesystem;
using namespace wmrun;
using namespace wmrun::runtime;

namespace {

fs::path schema_tests_dir() {
    if (const char* d = std::getenv("OCI_SCHEMA_TESTS")) return d;
    // Run by hand from the build dir of /work/main: shared/ sits beside the repository.
    return fs::path(WMRUN_SOURCE_ROOT) / "../shared/oci/runtime-spec/schema-tests";
}

// Non-Linux platform sections: such a config is not for this runtime.
bool is_linux_config(const Json& doc) {
    for (const char* other : {"windows", "solaris", "vm", "zos", "freebsd"})
        if (doc.contains(other) && !doc.contains("linux")) return false;
    return true;
}

std::vector<fs::path> json_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("every good Linux config of the runtime-spec parses") {
    auto dir = schema_tests_dir() / "config" / "good";
    REQUIRE(fs::is_directory(dir));
    auto files = json_files(dir);
    REQUIRE(files.size() >= 5);
    for (const auto& file : files) {
        INFO(file.string());
        auto doc = read_json_file(file.string());
        REQUIRE(doc);
        if (!is_linux_config(*doc)) continue;
        auto spec = parse_spec(*doc);
        INFO((spec ? std::string() : spec.error().message()));
        CHECK(spec);
        if (spec) CHECK(spec->raw == *doc);
    }
}

TEST_CASE("every bad config of the runtime-spec is rejected, naming the field") {
    auto dir = schema_tests_dir() / "config" / "bad";
    REQUIRE(fs::is_directory(dir));
    // What each known file is bad for; a file added later must at least be rejected.
    const std::map<std::string, std::string> expected = {
        {"invalid-json.json", "parse JSON: "},
        {"linux-hugepage.json",
         "linux.resources.hugepageLimits[0].pageSize: must be a size like \"2MB\" or \"1GB\", "
         "not \"64kB\""},
        {"linux-netdevice.json", "linux.netDevices.eth0.name: must be a string"},
        {"linux-rdma.json", "linux.resources.rdma.mlx5_1.hcaHandles: must be an integer"},
    };
    auto files = json_files(dir);
    REQUIRE(files.size() >= expected.size());
    for (const auto& file : files) {
        INFO(file.string());
        auto doc = read_json_file(file.string());
        std::string message;
        if (!doc) {
            message = doc.error().message();
        } else {
            auto spec = parse_spec(*doc);
            REQUIRE_FALSE(spec);
            message = spec.error().message();
        }
        auto it = expected.find(file.filename().string());
        if (it != expected.end()) CHECK(message.find(it->second) == 0);
    }
}

TEST_CASE("the spec example converts into the typed model") {
    auto doc = read_json_file((schema_tests_dir() / "config/good/spec-example.json").string());
    REQUIRE(doc);
    auto s = parse_spec(*doc);
    REQUIRE(s);
    CHECK(s->oci_version == "0.5.0-dev");
    REQUIRE(s->root);
    CHECK(s->root->path == "rootfs");
    CHECK(s->root->readonly);
    CHECK(s->hostname == "slartibartfast");
    CHECK(s->domainname == "foobarbaz.test");
    REQUIRE(s->process);
    CHECK(s->process->user.uid == 1);
    CHECK(s->process->user.additional_gids == std::vector<gid_t>{5, 6});
    REQUIRE(s->process->capabilities);
    CHECK(s->process->capabilities->ambient == std::vector<int>{10});  // CAP_NET_BIND_SERVICE
    REQUIRE(s->process->rlimits.size() == 2);
    CHECK(s->process->rlimits[1].resource == RLIMIT_NOFILE);
    CHECK(s->mounts.size() == 7);
    CHECK(s->mounts[1].options.size() == 4);
    CHECK(s->hooks.prestart.size() == 2);
    CHECK(s->hooks.poststart.at(0).timeout == 5);
    CHECK(s->annotations.at("com.example.key2") == "value2");
    REQUIRE(s->linux_);
    const Linux& l = *s->linux_;
    CHECK(l.namespaces.size() == 8);
    CHECK(l.has_namespace(NamespaceType::time));
    CHECK(l.uid_mappings.at(0).host_id == 1000);
    CHECK(l.devices.at(0).file_mode == 0666);
    CHECK(l.devices.at(1).type == 'b');
    CHECK(l.time_offsets.at("boottime").secs == 604800);
    CHECK(l.sysctl.at("net.core.somaxconn") == "256");
    CHECK(l.rootfs_propagation == "slave");
    REQUIRE(l.seccomp);
    CHECK(l.seccomp->syscalls.at(0).names == std::vector<std::string>{"getcwd", "chmod"});
    REQUIRE(l.resources);
    CHECK(l.resources->memory->limit == 536870912);
    CHECK(l.resources->memory->kernel == -1);
    CHECK(l.resources->cpu->cpus == "2-3");
    CHECK(l.resources->pids->limit == 32771);
    CHECK(l.resources->hugepage_limits.at(0).limit == 9223372036854772000ull);
    CHECK(l.resources->block_io->weight_devices.at(1).leaf_weight == std::nullopt);
    CHECK(l.resources->block_io->throttle_write_iops.at(0).rate == 300);
    CHECK(l.resources->network->priorities.at(1).priority == 1000);
    CHECK(l.resources->devices.at(0).type == 'a');
    CHECK_FALSE(l.resources->devices.at(0).major);
}
