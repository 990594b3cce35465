#include <catch2/catch.hpp>

#include "wmrun/overlay/image.hpp"

using namespace wmrun::overlay;
using wmrun::Json;

namespace {

const std::string kHex(64, 'b');

Json desc(const std::string& type) {
    return {{"mediaType", type}, {"digest", "sha256:" + kHex}, {"size", 12}};
}

std::string message_of(const auto& r) {
    return r ? std::string() : r.error().message();
}

}  // namespace

TEST_CASE("manifests parse into structs", "[image]") {
    Json m = {{"schemaVersion", 2},
              {"mediaType", media_type::manifest},
              {"config", desc(std::string(media_type::config))},
              {"layers", {desc(std::string(media_type::layer_gzip))}},
              {"annotations", {{"a", "b"}}}};
    auto r = parse_manifest(m.dump(), "m.json");
    REQUIRE(r);
    CHECK(r->config.media_type == media_type::config);
    CHECK(r->config.size == 12);
    REQUIRE(r->layers.size() == 1);
    CHECK(r->layers[0].digest.hex == kHex);
    CHECK(r->annotations.at("a") == "b");
}

TEST_CASE("manifest errors name the document and field", "[image]") {
    Json m = {{"schemaVersion", 2},
              {"config", desc(std::string(media_type::config))},
              {"layers", {desc(std::string(media_type::layer_gzip))}}};
    Json bad = m;
    bad["schemaVersion"] = 1;
    CHECK(message_of(parse_manifest(bad.dump(), "m.json")) ==
          "parse image manifest: m.json: schemaVersion: must be 2");
    bad = m;
    bad["layers"][0]["size"] = -1;
    CHECK(message_of(parse_manifest(bad.dump(), "m.json")).find("layers[0].size") !=
          std::string::npos);
    bad = m;
    bad["layers"][0]["digest"] = "sha256:123";
    CHECK(message_of(parse_manifest(bad.dump(), "m.json")).find("layers[0].digest") !=
          std::string::npos);
    bad = m;
    bad["mediaType"] = media_type::index;
    CHECK(message_of(parse_manifest(bad.dump(), "m.json")).find("mediaType") != std::string::npos);
    bad = m;
    bad.erase("config");
    CHECK(message_of(parse_manifest(bad.dump(), "m.json")).find("config: is required") !=
          std::string::npos);
    CHECK(!parse_manifest("{not json", "m.json"));
    CHECK(!parse_manifest("[]", "m.json"));
}

TEST_CASE("indexes parse platforms and annotations", "[image]") {
    Json d = desc(std::string(media_type::manifest));
    d["platform"] = {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}};
    d["annotations"] = {{std::string(ref_name_annotation), "1.0"}};
    Json idx = {{"schemaVersion", 2}, {"manifests", {d}}};
    auto r = parse_index(idx.dump(), "index.json");
    REQUIRE(r);
    REQUIRE(r->manifests.size() == 1);
    REQUIRE(r->manifests[0].platform);
    CHECK(r->manifests[0].platform->variant == "v8");
    CHECK(r->manifests[0].ref_name() == "1.0");
    idx["manifests"][0]["platform"].erase("os");
    CHECK(message_of(parse_index(idx.dump(), "index.json")).find("manifests[0].platform.os") !=
          std::string::npos);
}

TEST_CASE("image configs parse the run settings", "[image]") {
    Json c = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config",
               {{"User", "1000:1000"},
                {"ExposedPorts", {{"80/tcp", Json::object()}}},
                {"Env", {"PATH=/bin", "A=b=c"}},
                {"Entrypoint", {"/bin/app"}},
                {"Cmd", nullptr},
                {"Volumes", {{"/data", Json::object()}}},
                {"WorkingDir", "/srv"},
                {"Labels", {{"k", "v"}}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + kHex}}}}};
    auto r = parse_image_config(c.dump(), "config");
    REQUIRE(r);
    CHECK(r->config.user == "1000:1000");
    CHECK(r->config.exposed_ports == std::vector<std::string>{"80/tcp"});
    CHECK(r->config.env.size() == 2);
    CHECK(r->config.entrypoint == std::vector<std::string>{"/bin/app"});
    CHECK(r->config.cmd.empty());  // null counts as absent
    CHECK(r->config.volumes == std::vector<std::string>{"/data"});
    CHECK(r->config.working_dir == "/srv");
    CHECK(r->config.labels.at("k") == "v");
    REQUIRE(r->diff_ids.size() == 1);

    Json bad = c;
    bad["config"]["Env"] = {"NOEQUALS"};
    CHECK(message_of(parse_image_config(bad.dump(), "cfg")).find("config.Env[0]") !=
          std::string::npos);
    bad = c;
    bad["rootfs"]["diff_ids"] = {"sha256:zz"};
    CHECK(message_of(parse_image_config(bad.dump(), "cfg")).find("rootfs.diff_ids[0]") !=
          std::string::npos);
    bad = c;
    bad["config"]["Cmd"] = "sh";
    CHECK(message_of(parse_image_config(bad.dump(), "cfg")).find("config.Cmd") !=
          std::string::npos);
}

TEST_CASE("layer media types map to compressions", "[image]") {
    CHECK(*layer_compression(media_type::layer_tar, "x") == Compression::none);
    CHECK(*layer_compression(media_type::layer_gzip, "x") == Compression::gzip);
    CHECK(*layer_compression(media_type::layer_zstd, "x") == Compression::zstd);
    CHECK(!layer_compression("application/vnd.oci.image.layer.v1.tar+bzip2", "x"));
}

TEST_CASE("image volumes that cover or leave the rootfs are refused naming them", "[image]") {
    for (const char* bad :
         {"/..", "/../x", "//", "/./", "/", "", ".", "/a/../..", "/a/..", "a/../../etc"}) {
        INFO(bad);
        auto r = check_volume_path(bad, "img");
        CHECK(message_of(r).find("\"" + std::string(bad) + "\"") != std::string::npos);
    }
    CHECK(!check_volume_path(std::string("/data\0/..", 9), "img"));
    for (const char* good : {"/data", "/var/lib/db/", "/a/./b", "rel/dir", "/..data", "/a.."})
        CHECK(check_volume_path(good, "img"));

    Json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Volumes", {{"/data", Json::object()}, {"/..", Json::object()}}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}}};
    auto r = parse_image_config(config.dump(), "config.json");
    CHECK(message_of(r) ==
          "parse image config: config.json: config.Volumes: \"/..\": \"..\" in a volume path");
}
