#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "image_builder.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/store.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
namespace fs = std::filesystem;

namespace {

// Why a mount test cannot run here, or "" when it can.
std::string cannot_mount() {
    if (::geteuid() != 0) return "needs root";
    auto fss = wmrun::read_file("/proc/filesystems");
    if (!fss || fss->find("\toverlay\n") == std::string::npos) return "no overlayfs";
    return {};
}

// path -> file content, "<dir>" or "-> target", for the whole tree.
std::map<std::string, std::string> tree(const std::string& root) {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(root)) {
        std::string rel = fs::relative(e.path(), root).string();
        if (e.is_symlink())
            out[rel] = "-> " + fs::read_symlink(e.path()).string();
        else if (e.is_directory())
            out[rel] = "<dir>";
        else
            out[rel] = read_text(e.path());
    }
    return out;
}

struct TwoLayerImage {
    Scratch s;
    std::optional<Store> store;
    TwoLayerImage(WhiteoutMode mode) {
        LayoutBuilder b(s / "layout");
        Tar lower = make_tar({dir("etc"), file("etc/a", "a1"), file("etc/b", "b1"), dir("cache"),
                              file("cache/x", "x"), dir("cache/sub"), file("cache/sub/y", "y"),
                              dir("keep"), file("keep/k", "k"), sym_link("link", "etc/a")});
        Tar upper = make_tar({dir("etc"), file("etc/a", "a2"), file("etc/.wh.b", ""), dir("cache"),
                              file("cache/.wh..wh..opq", ""), file("cache/z", "z"),
                              file("new", "n"), file(".wh.link", "")});
        auto m = b.add_image({lower, upper}, Compression::gzip);
        b.write_index({descriptor_json(m, "two")});
        store = *Store::open(s / "store", mode);
        REQUIRE(store->import(b.dir(), {}));
    }
};

const std::map<std::string, std::string> kMerged = {
    {"etc", "<dir>"},  {"etc/a", "a2"}, {"cache", "<dir>"}, {"cache/z", "z"},
    {"keep", "<dir>"}, {"keep/k", "k"}, {"new", "n"}};

}  // namespace

TEST_CASE("a container's overlay shows the layers applied in order", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    bool single = GENERATE(false, true);
    INFO("single lowerdir value: " << single);
    TwoLayerImage img(WhiteoutMode::root);
    std::string merged = img.store->container_dir("c1") + "/merged";
    {
        auto m = img.store->mount_container("two", "c1", {.single_lowerdir = single});
        REQUIRE(m);
        CHECK(m->target() == merged);
        CHECK(tree(merged) == kMerged);
        write_text(merged + "/etc/written", "w");
        fs::remove(merged + "/keep/k");
        CHECK(read_text(img.store->container_dir("c1") + "/upper/etc/written") == "w");
        // The lower layers are untouched by writes and deletions.
        auto stored = img.store->get("two");
        CHECK(read_text(stored->layer_dirs[0] + "/keep/k") == "k");
    }
    // The owner unmounted it: merged is an empty directory again.
    CHECK(fs::is_empty(merged));
}

TEST_CASE("a released mount stays until unmounted by name", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    TwoLayerImage img(WhiteoutMode::root);
    std::string target;
    {
        auto m = img.store->mount_container("two", "c2");
        REQUIRE(m);
        target = m->release();
    }
    CHECK(read_text(target + "/etc/a") == "a2");
    REQUIRE(unmount_overlay(target));
    CHECK(fs::is_empty(target));
}

TEST_CASE("rootless layers mount with userxattr", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    TwoLayerImage img(WhiteoutMode::rootless);
    auto m = img.store->mount_container("two", "c3");
    REQUIRE(m);
    CHECK(tree(m->target()) == kMerged);
}

TEST_CASE("mount errors carry the kernel's reason", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    Scratch s;
    for (auto d : {"l", "u", "t"})
        fs::create_directories(s / d);
    // The work dir must be on the upper's filesystem; /proc is not.
    OverlaySpec spec{{s / "l"}, s / "u", "/proc", s / "t"};
    auto r = mount_overlay(spec);
    REQUIRE(!r);
    CHECK(r.error().message().find(s / "t") != std::string::npos);
    CHECK(fs::is_empty(s / "t"));
}
