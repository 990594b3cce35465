#include <catch2/catch.hpp>

#include <filesystem>

#include "image_builder.hpp"
#include "wmrun/overlay/layout.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
using wmrun::Json;

namespace {

std::string message_of(const auto& r) {
    return r ? std::string() : r.error().message();
}

Tar small_layer(const std::string& content) {
    return make_tar({dir("etc"), file("etc/hello", content)});
}

}  // namespace

TEST_CASE("a layout resolves an image by ref name", "[layout]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto one = b.add_image({small_layer("one")}, Compression::gzip,
                           {{"config", {{"WorkingDir", "/one"}}}});
    auto two = b.add_image({small_layer("two")}, Compression::gzip,
                           {{"config", {{"WorkingDir", "/two"}}}});
    b.write_index({descriptor_json(one, "1.0"), descriptor_json(two, "2.0")});

    auto l = Layout::open(b.dir());
    REQUIRE(l);
    auto img = l->resolve({.ref = "2.0"});
    REQUIRE(img);
    CHECK(img->manifest_descriptor.digest == two.digest);
    CHECK(img->config.config.working_dir == "/two");
    CHECK(img->ref_name == "2.0");
    CHECK(img->config.diff_ids.size() == 1);

    auto missing = l->resolve({.ref = "3.0"});
    CHECK(message_of(missing).find("no image named \"3.0\" (names: 1.0, 2.0)") !=
          std::string::npos);
    // Two images and no name: ambiguous.
    CHECK(message_of(l->resolve({})).find("choose one by name") != std::string::npos);
}

TEST_CASE("linux/amd64 is picked from a nested index", "[layout]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto amd = b.add_image({small_layer("amd")}, Compression::gzip, Json::object(), "amd64");
    auto arm = b.add_image({small_layer("arm")}, Compression::gzip, Json::object(), "arm64");
    Json nested = {
        {"schemaVersion", 2},
        {"mediaType", media_type::index},
        {"manifests", {descriptor_json(arm, "", "arm64"), descriptor_json(amd, "", "amd64")}}};
    auto idx = b.add_blob(std::string(media_type::index), nested.dump());
    b.write_index({descriptor_json(idx, "latest")});

    auto l = Layout::open(b.dir());
    REQUIRE(l);
    auto img = l->resolve({.ref = "latest"});
    REQUIRE(img);
    CHECK(img->manifest_descriptor.digest == amd.digest);
    CHECK(img->ref_name == "latest");
    auto arm_img = l->resolve({.ref = "latest", .architecture = "arm64"});
    REQUIRE(arm_img);
    CHECK(arm_img->manifest_descriptor.digest == arm.digest);
    CHECK(message_of(l->resolve({.architecture = "s390x"})).find("no linux/s390x image") !=
          std::string::npos);
}

TEST_CASE("corrupt layouts are rejected naming the file", "[layout]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto m = b.add_image({small_layer("x")}, Compression::gzip);
    b.write_index({descriptor_json(m, "x")});

    SECTION("missing oci-layout") {
        std::filesystem::remove(b.dir() + "/oci-layout");
        CHECK(message_of(Layout::open(b.dir())).find("oci-layout") != std::string::npos);
    }
    SECTION("wrong layout version") {
        write_text(b.dir() + "/oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
        CHECK(message_of(Layout::open(b.dir())).find("imageLayoutVersion") != std::string::npos);
    }
    SECTION("manifest blob altered") {
        std::string path = b.dir() + "/blobs/sha256/" + m.digest.hex;
        std::string text = read_text(path);
        text[text.size() / 2] ^= 1;
        write_text(path, text);
        auto r = Layout::open(b.dir())->resolve({});
        CHECK(message_of(r).find("digest mismatch") != std::string::npos);
        CHECK(message_of(r).find(m.digest.hex) != std::string::npos);
    }
    SECTION("manifest blob truncated") {
        std::string path = b.dir() + "/blobs/sha256/" + m.digest.hex;
        write_text(path, read_text(path).substr(1));
        CHECK(message_of(Layout::open(b.dir())->resolve({})).find("descriptor says") !=
              std::string::npos);
    }
    SECTION("diff_ids do not match the layers") {
        auto bad = b.add_image({small_layer("y")}, Compression::gzip,
                               {{"rootfs", {{"diff_ids", Json::array()}}}});
        b.write_index({descriptor_json(bad, "bad")});
        CHECK(message_of(Layout::open(b.dir())->resolve({})).find("rootfs.diff_ids has 0") !=
              std::string::npos);
    }
    SECTION("config for another platform") {
        auto arm = b.add_image({small_layer("y")}, Compression::gzip, Json::object(), "arm64");
        b.write_index({descriptor_json(arm, "arm")});
        CHECK(message_of(Layout::open(b.dir())->resolve({})).find("linux/arm64, not") !=
              std::string::npos);
    }
}

TEST_CASE("an oci-archive tar is read as a layout", "[layout]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto m = b.add_image({small_layer("x")}, Compression::zstd);
    b.write_index({descriptor_json(m, "app:1")});
    tar_directory(b.dir(), s / "image.tar");
    std::filesystem::create_directories(s / "tmp");

    std::string extracted;
    {
        auto a = ArchiveLayout::extract(s / "image.tar", s / "tmp");
        REQUIRE(a);
        extracted = a->layout().dir();
        auto img = a->layout().resolve({.ref = "app:1"});
        REQUIRE(img);
        CHECK(img->manifest_descriptor.digest == m.digest);
        CHECK(std::filesystem::exists(extracted));
    }
    CHECK(!std::filesystem::exists(extracted));  // the temp dir goes with the object

    write_text(s / "evil.tar", make_tar({file("../escape", "x")}, Compression::none).blob);
    CHECK(message_of(ArchiveLayout::extract(s / "evil.tar", s / "tmp")).find("..") !=
          std::string::npos);
    write_text(s / "link.tar", make_tar({sym_link("blobs", "/etc")}, Compression::none).blob);
    CHECK(!ArchiveLayout::extract(s / "link.tar", s / "tmp"));
    CHECK(std::filesystem::is_empty(s / "tmp"));
    CHECK(!std::filesystem::exists(s / "escape"));
}
