// cgroups::parse_resources: every section of linux.resources, and its errors as parse_spec
// reports them (the field path starts at linux.resources).
#include <catch2/catch.hpp>

#include "wmrun/cgroups/resources.hpp"
#include "wmrun/runtime/spec.hpp"

using namespace wmrun;

namespace {

std::string resources_error(const Json& resources) {
    Json doc = {{"ociVersion", "1.0.0"},
                {"root", {{"path", "rootfs"}}},
                {"linux", {{"resources", resources}}}};
    auto s = runtime::parse_spec(doc);
    if (s) return "(accepted)";
    return s.error().message();
}

}  // namespace

TEST_CASE("every linux.resources section converts") {
    Json doc = Json::parse(R"({
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                    {"allow": true, "type": "b", "major": 8, "access": "m"}],
        "memory": {"limit": -1, "reservation": 100, "swap": 200, "kernelTCP": 5,
                   "swappiness": 60, "disableOOMKiller": true, "checkBeforeUpdate": false},
        "cpu": {"shares": 512, "quota": 50000, "burst": 10000, "period": 100000,
                "realtimeRuntime": 1, "realtimePeriod": 2, "cpus": "0-1", "mems": "0", "idle": 1},
        "pids": {"limit": -1},
        "blockIO": {"weight": 500, "leafWeight": 300,
                    "weightDevice": [{"major": 8, "minor": 0, "leafWeight": 10}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 4}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3}},
        "unified": {"memory.high": "1G", "io.weight": "default 100"}
    })");
    auto r = cgroups::parse_resources(doc, "linux.resources");
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r);
    REQUIRE(r->devices.size() == 3);
    CHECK(r->devices[0].type == 'a');
    CHECK_FALSE(r->devices[0].allow);
    CHECK(r->devices[1].major == 1);
    CHECK(r->devices[1].minor == 3);
    CHECK(r->devices[2].type == 'b');
    CHECK_FALSE(r->devices[2].minor);
    CHECK(r->memory->limit == -1);
    CHECK(r->memory->swap == 200);
    CHECK(r->memory->kernel == std::nullopt);
    CHECK(r->memory->kernel_tcp == 5);
    CHECK(r->memory->swappiness == 60u);
    CHECK(r->memory->disable_oom_killer == true);
    CHECK(r->memory->use_hierarchy == std::nullopt);
    CHECK(r->memory->check_before_update == false);
    CHECK(r->cpu->shares == 512u);
    CHECK(r->cpu->quota == 50000);
    CHECK(r->cpu->burst == 10000);
    CHECK(r->cpu->period == 100000u);
    CHECK(r->cpu->realtime_period == 2u);
    CHECK(r->cpu->cpus == "0-1");
    CHECK(r->cpu->idle == 1);
    CHECK(r->pids->limit == -1);
    CHECK(r->block_io->weight == 500);
    CHECK(r->block_io->weight_devices.at(0).leaf_weight == 10);
    CHECK_FALSE(r->block_io->weight_devices.at(0).weight);
    CHECK(r->block_io->throttle_read_bps.at(0).rate == 1);
    CHECK(r->block_io->throttle_write_bps.at(0).rate == 2);
    CHECK(r->block_io->throttle_read_iops.at(0).rate == 3);
    CHECK(r->block_io->throttle_write_iops.at(0).minor == 16);
    CHECK(r->hugepage_limits.at(0).page_size == "2MB");
    CHECK(r->network->class_id == 1048577u);
    CHECK(r->network->priorities.at(0).name == "eth0");
    CHECK(r->rdma.at("mlx5_1").hca_handles == 3u);
    CHECK_FALSE(r->rdma.at("mlx5_1").hca_objects);
    CHECK(r->unified.at("io.weight") == "default 100");
}

TEST_CASE("an empty resources object sets nothing") {
    auto r = cgroups::parse_resources(Json::object(), "linux.resources");
    REQUIRE(r);
    CHECK(r->devices.empty());
    CHECK_FALSE(r->memory);
    CHECK_FALSE(r->cpu);
    CHECK_FALSE(r->pids);
    CHECK_FALSE(r->block_io);
    CHECK_FALSE(r->network);
    CHECK(r->unified.empty());
    CHECK(cgroups::parse_resources(Json::array(), "r").error().message() == "r: must be an object");
}

TEST_CASE("linux.resources errors name the field") {
    CHECK(resources_error({{"memory", {{"limit", "1G"}}}}) ==
          "linux.resources.memory.limit: must be an integer");
    CHECK(resources_error({{"memory", {{"swappiness", -1}}}}) ==
          "linux.resources.memory.swappiness: must be an integer between 0 and "
          "18446744073709551615");
    CHECK(resources_error({{"memory", {{"disableOOMKiller", 1}}}}) ==
          "linux.resources.memory.disableOOMKiller: must be a boolean");
    CHECK(resources_error({{"devices", {{{"access", "rwm"}}}}}) ==
          "linux.resources.devices[0].allow: is required");
    CHECK(resources_error({{"devices", {{{"allow", true}, {"type", "p"}}}}}) ==
          "linux.resources.devices[0].type: must be \"a\", \"c\" or \"b\", not \"p\"");
    CHECK(resources_error({{"devices", {{{"allow", true}, {"access", "rwx"}}}}}) ==
          "linux.resources.devices[0].access: must be made of \"r\", \"w\" and \"m\", not \"rwx\"");
    CHECK(resources_error({{"cpu", {{"quota", 1000}, {"burst", 2000}}}}) ==
          "linux.resources.cpu.burst: must not be larger than quota (1000)");
    CHECK(resources_error({{"cpu", {{"shares", -2}}}}) ==
          "linux.resources.cpu.shares: must be an integer between 0 and 18446744073709551615");
    CHECK(resources_error({{"cpu", {{"cpus", 3}}}}) ==
          "linux.resources.cpu.cpus: must be a string");
    CHECK(resources_error({{"pids", {{"limit", 1.5}}}}) ==
          "linux.resources.pids.limit: must be an integer");
    CHECK(resources_error({{"blockIO", {{"weight", 70000}}}}) ==
          "linux.resources.blockIO.weight: must be an integer between 0 and 65535");
    CHECK(resources_error({{"blockIO", {{"weightDevice", {{{"major", 8}, {"minor", 0}}}}}}}) ==
          "linux.resources.blockIO.weightDevice[0]: must have at least one of weight and "
          "leafWeight");
    CHECK(resources_error(
              {{"blockIO", {{"throttleWriteIOPSDevice", {{{"major", 8}, {"rate", 1}}}}}}}) ==
          "linux.resources.blockIO.throttleWriteIOPSDevice[0].minor: is required");
    CHECK(resources_error({{"hugepageLimits", {{{"pageSize", "2MB"}}}}}) ==
          "linux.resources.hugepageLimits[0].limit: is required");
    CHECK(resources_error({{"network", {{"priorities", {{{"name", "eth0"}}}}}}}) ==
          "linux.resources.network.priorities[0].priority: is required");
    CHECK(resources_error({{"network", {{"classID", 4294967296}}}}) ==
          "linux.resources.network.classID: must be an integer between 0 and 4294967295");
    CHECK(resources_error({{"rdma", {{"mlx4_0", Json::object()}}}}) ==
          "linux.resources.rdma.mlx4_0: must have at least one of hcaHandles and hcaObjects");
    CHECK(resources_error({{"unified", {{"memory.max", 100}}}}) ==
          "linux.resources.unified.memory.max: must be a string");
    // Unknown members are ignored, as config.md asks.
    CHECK(resources_error({{"oomScoreAdj", 100}, {"memory", {{"futureKnob", 1}}}}) == "(accepted)");
}

TEST_CASE("0 leaves a field alone, as runc's update reads docker's zeros") {
    auto r = cgroups::parse_resources(Json::parse(R"({
        "memory": {"limit": 100663296, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
                "realtimePeriod": 0, "cpus": "", "mems": ""},
        "blockIO": {"weight": 0, "leafWeight": 0},
        "pids": {"limit": 0}})"),
                                      "r");
    REQUIRE(r);
    CHECK(r->memory->limit == 100663296);
    CHECK_FALSE(r->memory->reservation);
    CHECK_FALSE(r->memory->swap);
    CHECK_FALSE(r->memory->kernel);
    CHECK_FALSE(r->memory->kernel_tcp);
    CHECK_FALSE(r->cpu->shares);
    CHECK_FALSE(r->cpu->quota);
    CHECK_FALSE(r->cpu->period);
    CHECK_FALSE(r->cpu->realtime_runtime);
    CHECK_FALSE(r->cpu->realtime_period);
    CHECK_FALSE(r->block_io->weight);
    CHECK_FALSE(r->block_io->leaf_weight);
    CHECK_FALSE(r->pids->limit);
    // Fields where 0 is a setting of its own stay.
    auto idle = cgroups::parse_resources(
        Json::parse(R"({"cpu": {"idle": 0, "burst": 0}, "memory": {"swappiness": 0}})"), "r");
    REQUIRE(idle);
    CHECK(idle->cpu->idle == 0);
    CHECK(idle->cpu->burst == 0);
    CHECK(idle->memory->swappiness == 0);
}

TEST_CASE("values the kernel would refuse are refused before anything is written") {
    CHECK(resources_error({{"cpu", {{"quota", 999}}}}) ==
          "linux.resources.cpu.quota: must be -1 (no limit) or at least 1000 (us)");
    CHECK(resources_error({{"cpu", {{"quota", -1}, {"period", 999}}}}) ==
          "linux.resources.cpu.period: must be 1000 to 1000000 (us)");
    CHECK(resources_error({{"cpu", {{"period", 1000001}}}}) ==
          "linux.resources.cpu.period: must be 1000 to 1000000 (us)");
    CHECK(resources_error({{"memory", {{"swappiness", 101}}}}) ==
          "linux.resources.memory.swappiness: must be 0 to 100");
    CHECK(resources_error({{"memory", {{"limit", -2}}}}) ==
          "linux.resources.memory.limit: must be -1 (unlimited) or a byte count");
    CHECK(resources_error({{"memory", {{"limit", 2048}, {"swap", 1024}}}}) ==
          "linux.resources.memory.swap: memory+swap must not be below the memory limit (2048)");
    CHECK(resources_error({{"memory", {{"limit", -1}, {"swap", -1}}}, {"cpu", {{"quota", -1}}}}) ==
          "(accepted)");
}
