#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "../skip.hpp"
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
    REQUIRE(fss);
    if (fss->find("\toverlay\n") == std::string::npos) return "the kernel has no overlayfs";
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
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
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
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
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
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
    TwoLayerImage img(WhiteoutMode::rootless);
    auto m = img.store->mount_container("two", "c3");
    REQUIRE(m);
    CHECK(tree(m->target()) == kMerged);
}

TEST_CASE("mount errors carry the kernel's reason", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
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

TEST_CASE("forty layers mount with lowerdir+ and with one short lowerdir value", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
    // 40 x "/proc/self/fd/NN" would not fit one 255-byte value; the fd numbers alone do.
    bool single = GENERATE(false, true);
    INFO("single lowerdir value: " << single);
    Scratch s;
    LayoutBuilder b(s / "layout");
    std::vector<Tar> layers;
    for (int i = 0; i < 40; ++i) {
        std::vector<Member> m = {dir("l"), file("l/" + std::to_string(i), std::to_string(i)),
                                 file("top", std::to_string(i))};
        if (i == 39) m.push_back(file("l/.wh.0", ""));
        layers.push_back(make_tar(m));
    }
    auto manifest = b.add_image(layers, Compression::gzip);
    b.write_index({descriptor_json(manifest, "deep")});
    auto store = Store::open(s / "store");
    REQUIRE(store);
    REQUIRE(store->import(b.dir(), {}));
    char cwd_before[4096];
    REQUIRE(::getcwd(cwd_before, sizeof cwd_before) != nullptr);
    auto m = store->mount_container("deep", "c40", {.single_lowerdir = single});
    REQUIRE(m);
    char cwd_after[4096];
    REQUIRE(::getcwd(cwd_after, sizeof cwd_after) != nullptr);
    CHECK(std::string(cwd_after) == cwd_before);  // the process's cwd never moved
    CHECK(read_text(m->target() + "/top") == "39");
    CHECK(read_text(m->target() + "/l/1") == "1");
    CHECK(!fs::exists(m->target() + "/l/0"));
    CHECK(std::distance(fs::directory_iterator(m->target() + "/l"), fs::directory_iterator()) ==
          39);
}

TEST_CASE("a container's volume layer outlives its mount until removed", "[mount]") {
    if (auto why = cannot_mount(); !why.empty()) WMRUN_SKIP(why);
    TwoLayerImage img(WhiteoutMode::root);
    std::string dir = img.store->container_dir("c4");
    {
        auto m = img.store->mount_container("two", "c4");
        REQUIRE(m);
        write_text(m->target() + "/kept", "k");
        // The same id cannot be mounted twice.
        auto again = img.store->mount_container("two", "c4");
        REQUIRE(!again);
        CHECK(again.error().err == EBUSY);
        m->release();
    }
    auto layers = img.store->container_layers();
    REQUIRE(layers);
    CHECK(layers->size() == 2);
    REQUIRE(img.store->unmount_container("c4"));
    CHECK(!fs::exists(dir + "/merged"));
    CHECK(read_text(dir + "/upper/kept") == "k");
    // gc keeps the layers a volume layer is a diff against, even with the image gone.
    REQUIRE(img.store->remove("two"));
    auto kept = img.store->gc();
    REQUIRE(kept);
    CHECK(kept->layers_removed == 0);
    {
        // Mounting again resumes on the same upper dir.
        auto m = img.store->mount_container("two", "c4");
        CHECK(!m);  // the image record is gone: nothing to resolve the layers from
    }
    REQUIRE(img.store->remove_container("c4"));
    CHECK(!fs::exists(dir));
    CHECK(img.store->remove_container("c4").error().err == ENOENT);
    auto gone = img.store->gc();
    REQUIRE(gone);
    CHECK(gone->layers_removed == 2);
}
