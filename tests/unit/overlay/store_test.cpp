#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "image_builder.hpp"
#include "wmrun/overlay/store.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
namespace fs = std::filesystem;

namespace {

std::string message_of(const auto& r) {
    return r ? std::string() : r.error().message();
}

std::size_t count(const std::string& dir) {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

Tar base_layer() {
    return make_tar({dir("etc"), file("etc/os", "base")});
}

}  // namespace

TEST_CASE("images import, list, get and remove", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    Tar app = make_tar({dir("app"), file("app/run", "run", 0755)});
    auto m = b.add_image({base_layer(), app}, Compression::gzip,
                         {{"config", {{"Entrypoint", {"/app/run"}}}}});
    b.write_index({descriptor_json(m, "app:1.0")});

    auto store = Store::open(s / "store");
    REQUIRE(store);
    std::vector<ImportProgress> seen;
    auto rec =
        store->import(b.dir(), {.progress = [&](const ImportProgress& p) { seen.push_back(p); }});
    REQUIRE(rec);
    CHECK(rec->name == "app:1.0");
    CHECK(rec->manifest.digest == m.digest);
    REQUIRE(!seen.empty());
    CHECK(seen.back().layers_done == 2);
    CHECK(seen.back().layers_total == 2);
    CHECK(seen.back().bytes_done == seen.back().bytes_total);
    CHECK(seen.back().bytes_total > 0);

    auto list = store->list();
    REQUIRE(list);
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].name == "app:1.0");

    auto img = store->get("app:1.0");
    REQUIRE(img);
    CHECK(img->config.config.entrypoint == std::vector<std::string>{"/app/run"});
    REQUIRE(img->layer_dirs.size() == 2);
    CHECK(read_text(img->layer_dirs[0] + "/etc/os") == "base");
    CHECK(read_text(img->layer_dirs[1] + "/app/run") == "run");
    CHECK(fs::exists(store->blob_path(m.digest)));
    CHECK(fs::exists(store->blob_path(img->manifest.layers[1].digest)));

    // Importing again under another name shares blobs and layers: nothing is unpacked again.
    struct stat before {};
    REQUIRE(::stat((img->layer_dirs[0] + "/etc/os").c_str(), &before) == 0);
    REQUIRE(store->import(b.dir(), {.name = "copy"}));
    struct stat after {};
    REQUIRE(::stat((img->layer_dirs[0] + "/etc/os").c_str(), &after) == 0);
    CHECK(before.st_ino == after.st_ino);
    CHECK(count(s / "store/layers") == 2);
    CHECK(store->list()->size() == 2);

    REQUIRE(store->remove("copy"));
    CHECK(store->list()->size() == 1);
    CHECK(message_of(store->remove("copy")).find("no such image") != std::string::npos);
    CHECK(message_of(store->get("nope")).find("no such image") != std::string::npos);
}

TEST_CASE("an oci-archive imports like a directory, with odd names kept safe", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto m = b.add_image({base_layer()}, Compression::zstd);
    b.write_index({descriptor_json(m)});
    tar_directory(b.dir(), s / "image.tar");
    auto store = Store::open(s / "store");
    REQUIRE(store);
    CHECK(message_of(store->import(s / "image.tar", {})).find("give it a name") !=
          std::string::npos);
    auto rec = store->import(s / "image.tar", {.name = "../registry.example/ns/app:2"});
    INFO(message_of(rec));
    REQUIRE(rec);
    CHECK(count(s / "store/images") == 1);
    CHECK(!fs::exists(s / "registry.example"));
    CHECK(store->get("../registry.example/ns/app:2"));
    CHECK(fs::is_empty(s / "store/tmp"));  // the extracted archive is gone
}

TEST_CASE("a corrupt layer aborts the import without a record", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto m = b.add_image({base_layer()}, Compression::gzip);
    b.write_index({descriptor_json(m, "bad")});
    // Damage the layer blob in place.
    auto l = Layout::open(b.dir())->resolve({});
    REQUIRE(l);
    std::string blob = b.dir() + "/blobs/sha256/" + l->manifest.layers[0].digest.hex;
    std::string data = read_text(blob);
    data[data.size() / 2] ^= 0x40;
    write_text(blob, data);

    auto store = Store::open(s / "store");
    auto r = store->import(b.dir(), {});
    REQUIRE(!r);
    CHECK(message_of(r).find(l->manifest.layers[0].digest.hex) != std::string::npos);
    CHECK(fs::is_empty(s / "store/images"));
    CHECK(fs::is_empty(s / "store/layers"));
    CHECK(!fs::exists(store->blob_path(l->manifest.layers[0].digest)));
}

TEST_CASE("gc removes what no image or container uses", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    Tar one = make_tar({file("one", "1")});
    Tar two = make_tar({file("two", "2")});
    auto a = b.add_image({base_layer(), one}, Compression::gzip);
    auto c = b.add_image({base_layer(), two}, Compression::gzip);
    b.write_index({descriptor_json(a, "a"), descriptor_json(c, "c")});
    auto store = Store::open(s / "store");
    REQUIRE(store->import(b.dir(), {.select = {.ref = "a"}}));
    REQUIRE(store->import(b.dir(), {.select = {.ref = "c"}}));
    CHECK(count(s / "store/layers") == 3);
    CHECK(count(s / "store/blobs/sha256") == 7);  // 2 manifests, 2 configs, 3 layers

    auto nothing = store->gc();
    REQUIRE(nothing);
    CHECK(nothing->blobs_removed == 0);
    CHECK(nothing->layers_removed == 0);

    REQUIRE(store->remove("c"));
    Digest two_id = digest_of(two.plain);
    auto kept = store->gc({two_id});  // a container still runs on c's top layer
    REQUIRE(kept);
    CHECK(kept->blobs_removed == 3);  // c's manifest, config and top layer blob
    CHECK(kept->layers_removed == 0);
    CHECK(fs::exists(store->layer_path(two_id)));

    auto gone = store->gc();
    REQUIRE(gone);
    CHECK(gone->layers_removed == 1);
    CHECK(!fs::exists(store->layer_path(two_id)));
    CHECK(fs::exists(store->layer_path(digest_of(base_layer().plain))));
    CHECK(store->get("a"));
}

TEST_CASE("one bad layer among many leaves nothing in the store", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    std::vector<Tar> layers;
    for (int i = 0; i < 6; ++i)
        layers.push_back(
            make_tar({dir("d" + std::to_string(i)),
                      file("d" + std::to_string(i) + "/f", std::string(1 << 16, 'x'))}));
    auto m = b.add_image(layers, Compression::gzip);
    b.write_index({descriptor_json(m, "bad")});
    auto l = Layout::open(b.dir())->resolve({});
    REQUIRE(l);
    std::string blob = b.dir() + "/blobs/sha256/" + l->manifest.layers[3].digest.hex;
    std::string data = read_text(blob);
    data[data.size() / 2] ^= 0x40;
    write_text(blob, data);

    auto store = Store::open(s / "store");
    auto r = store->import(b.dir(), {});
    REQUIRE(!r);
    CHECK(message_of(r).find(l->manifest.layers[3].digest.hex) != std::string::npos);
    // Layers are staged and committed together: the good ones, the manifest and the config
    // are not in the store either, nor any temp name.
    CHECK(fs::is_empty(s / "store/images"));
    CHECK(fs::is_empty(s / "store/layers"));
    CHECK(fs::is_empty(s / "store/blobs/sha256"));
}

TEST_CASE("each blob is read once: repeated layers, a missing blob, a missing layer", "[store]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    Tar empty = make_tar({dir("etc")});
    auto m = b.add_image({base_layer(), empty, empty}, Compression::gzip);
    b.write_index({descriptor_json(m, "rep")});
    auto store = Store::open(s / "store");
    REQUIRE(store);
    REQUIRE(store->import(b.dir(), {}));
    auto img = store->get("rep");
    REQUIRE(img);
    REQUIRE(img->layer_dirs.size() == 3);
    CHECK(img->layer_dirs[1] == img->layer_dirs[2]);
    CHECK(count(s / "store/layers") == 2);
    CHECK(count(s / "store/blobs/sha256") == 4);  // manifest, config, two layer blobs

    const Descriptor& base_blob = img->manifest.layers[0];
    std::string layer_dir = img->layer_dirs[0];
    struct stat before {};
    REQUIRE(::stat(layer_dir.c_str(), &before) == 0);

    SECTION("a blob missing from the store is copied; its layer is not unpacked again") {
        fs::remove(store->blob_path(base_blob.digest));
        REQUIRE(store->import(b.dir(), {}));
        CHECK(read_text(store->blob_path(base_blob.digest)) ==
              read_text(b.dir() + "/blobs/sha256/" + base_blob.digest.hex));
        struct stat after {};
        REQUIRE(::stat(layer_dir.c_str(), &after) == 0);
        CHECK(after.st_ino == before.st_ino);
    }
    SECTION("a layer missing from the store is unpacked from the store's blob") {
        fs::remove_all(layer_dir);
        // The layout's copy is damaged: only the store's verified copy can give the layer.
        std::string src = b.dir() + "/blobs/sha256/" + base_blob.digest.hex;
        std::string data = read_text(src);
        data[data.size() / 2] ^= 0x40;
        write_text(src, data);
        auto r = store->import(b.dir(), {});
        REQUIRE(r);
        CHECK(read_text(layer_dir + "/etc/os") == "base");
    }
    CHECK(count(s / "store/blobs/sha256") == 4);
    CHECK(count(s / "store/layers") == 2);
}
