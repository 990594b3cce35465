// parse_spec against example configs in the shape of the runtime-spec's schema tests, written
// for these tests (fixtures/config/{good,bad}): every good one parses and keeps its document,
// every bad one is refused naming the field, and the full one converts field by field.
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

fs::path fixtures_dir() {
    return fs::path(WMRUN_SOURCE_ROOT) / "tests/unit/runtime/fixtures";
}

std::vector<fs::path> json_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("every good config parses and keeps its document") {
    auto dir = fixtures_dir() / "config" / "good";
    REQUIRE(fs::is_directory(dir));
    auto files = json_files(dir);
    REQUIRE(files.size() >= 5);
    for (const auto& file : files) {
        INFO(file.string());
        auto doc = read_json_file(file.string());
        REQUIRE(doc);
        auto spec = parse_spec(*doc);
        INFO((spec ? std::string() : spec.error().message()));
        CHECK(spec);
        if (spec) CHECK(spec->raw == *doc);
    }
}

TEST_CASE("every bad config is rejected, naming the field") {
    auto dir = fixtures_dir() / "config" / "bad";
    REQUIRE(fs::is_directory(dir));
    // What each file is bad for.
    const std::map<std::string, std::string> expected = {
        {"invalid-json.json", "parse JSON: "},
        {"hugepage-size.json",
         "linux.resources.hugepageLimits[0].pageSize: must be a size like \"2MB\" or \"1GB\", "
         "not \"4kB\""},
        {"net-device-name.json", "linux.netDevices.veth-a.name: must be a string"},
        {"rdma-handles.json", "linux.resources.rdma.mlx4_0.hcaHandles: must be an integer"},
        {"no-root-path.json", "root.path: "},
        {"capability-name.json", "process.capabilities.bounding"},
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
        REQUIRE(it != expected.end());
        INFO(message);
        CHECK(message.find(it->second) == 0);
    }
}

TEST_CASE("the full example converts into the typed model") {
    auto doc = read_json_file((fixtures_dir() / "config/good/full.json").string());
    REQUIRE(doc);
    auto s = parse_spec(*doc);
    REQUIRE(s);
    CHECK(s->oci_version == "1.2.1");
    REQUIRE(s->root);
    CHECK(s->root->path == "rootfs");
    CHECK(s->root->readonly);
    CHECK(s->hostname == "fixture-host");
    CHECK(s->domainname == "fixture.test");
    REQUIRE(s->process);
    CHECK(s->process->user.uid == 7);
    CHECK(s->process->user.gid == 8);
    CHECK(s->process->user.umask == 18u);
    CHECK(s->process->user.additional_gids == std::vector<gid_t>{9, 10});
    CHECK(s->process->cwd == "/srv");
    CHECK(s->process->oom_score_adj == 250);
    CHECK(s->process->no_new_privileges);
    REQUIRE(s->process->capabilities);
    CHECK(s->process->capabilities->ambient == std::vector<int>{10});  // CAP_NET_BIND_SERVICE
    CHECK(s->process->capabilities->effective == std::vector<int>{0});  // CAP_CHOWN
    REQUIRE(s->process->rlimits.size() == 2);
    CHECK(s->process->rlimits[0].resource == RLIMIT_CORE);
    CHECK(s->process->rlimits[1].resource == RLIMIT_NOFILE);
    CHECK(s->process->rlimits[1].soft == 2048);
    CHECK(s->mounts.size() == 6);
    CHECK(s->mounts[1].options.size() == 4);
    CHECK(s->mounts[4].source == "volumes/data");
    CHECK(s->hooks.prestart.size() == 1);
    CHECK(s->hooks.create_runtime.at(0).path == "/usr/bin/log-create");
    CHECK(s->hooks.poststart.at(0).timeout == 3);
    CHECK(s->hooks.poststop.at(0).env == std::vector<std::string>{"KEEP=0"});
    CHECK(s->annotations.at("org.example.tier") == "frontend");
    REQUIRE(s->linux_);
    const Linux& l = *s->linux_;
    CHECK(l.namespaces.size() == 8);
    CHECK(l.has_namespace(NamespaceType::time));
    CHECK(l.has_namespace(NamespaceType::cgroup));
    CHECK(l.uid_mappings.at(0).host_id == 2000);
    CHECK(l.gid_mappings.at(0).size == 65536);
    CHECK(l.devices.at(0).file_mode == 0640);
    CHECK(l.devices.at(1).type == 'b');
    CHECK(l.devices.at(1).minor == 16);
    CHECK(l.time_offsets.at("boottime").secs == 3600);
    CHECK(l.time_offsets.at("monotonic").secs == 120);
    CHECK(l.sysctl.at("net.core.somaxconn") == "512");
    CHECK(l.cgroups_path == "/fixtures/full");
    CHECK(l.rootfs_propagation == "slave");
    CHECK(l.masked_paths.size() == 2);
    CHECK(l.readonly_paths.at(1) == "/proc/sysrq-trigger");
    REQUIRE(l.seccomp);
    CHECK(l.seccomp->syscalls.at(0).names == std::vector<std::string>{"getcwd", "chmod"});
    CHECK(l.seccomp->syscalls.at(1).args.at(0).value == 8);
    REQUIRE(l.resources);
    CHECK(l.resources->memory->limit == 268435456);
    CHECK(l.resources->memory->kernel == -1);
    CHECK(l.resources->memory->swappiness == 10u);
    CHECK(l.resources->cpu->cpus == "0-1");
    CHECK(l.resources->cpu->quota == 50000);
    CHECK(l.resources->pids->limit == 128);
    CHECK(l.resources->hugepage_limits.at(0).limit == 8388608u);
    CHECK(l.resources->block_io->weight == 300);
    CHECK(l.resources->block_io->weight_devices.at(0).leaf_weight == 200);
    CHECK(l.resources->block_io->weight_devices.at(1).leaf_weight == std::nullopt);
    CHECK(l.resources->block_io->throttle_write_iops.at(0).rate == 200);
    CHECK(l.resources->network->priorities.at(1).priority == 10);
    CHECK(l.resources->devices.at(0).type == 'a');
    CHECK_FALSE(l.resources->devices.at(0).major);
    CHECK(l.resources->devices.at(1).major == 10);
}
