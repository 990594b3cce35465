// Hostile images against the store's limits (docs/image-store.md, "Limits"): decompression
// bombs, sparse claims, oversized and deeply nested documents. Each must be refused with an
// error naming the limit and leave nothing in the store.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "image_builder.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/overlay/unpack.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
using wmrun::Json;
namespace fs = std::filesystem;

namespace {

std::string message_of(const auto& r) {
    return r ? std::string() : r.error().message();
}

// Nothing of a refused import may stay: no record, blob, layer, temp name or extracted archive.
void check_store_empty(const std::string& store) {
    for (const char* sub : {"images", "layers", "blobs/sha256", "blobs/sha512", "tmp"}) {
        INFO(sub);
        CHECK(fs::is_empty(store + "/" + sub));
    }
}

// A layout "bomb:1" whose one layer is `blob` with the given diff-id.
Descriptor bomb_image(LayoutBuilder& b, const StreamedLayer& layer, Compression c) {
    Descriptor l = b.add_blob(media_type_for(c), layer.blob);
    Json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.diff_id.str()}}}}};
    Descriptor cd = b.add_blob(std::string(media_type::config), config.dump());
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", media_type::manifest},
                     {"config", descriptor_json(cd)},
                     {"layers", {descriptor_json(l)}}};
    Descriptor m = b.add_blob(std::string(media_type::manifest), manifest.dump());
    b.write_index({descriptor_json(m, "bomb:1")});
    return l;
}

// `depth` arrays inside each other.
std::string nested(int depth) {
    return std::string(static_cast<std::size_t>(depth), '[') +
           std::string(static_cast<std::size_t>(depth), ']');
}

}  // namespace

TEST_CASE("a gzip bomb of 1 GiB of zeros is refused with the default limits", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto layer = zeros_layer("zeros", std::uint64_t{1} << 30, Compression::gzip);
    REQUIRE(layer.blob.size() < (2u << 20));  // about 1 MiB: 1000 times smaller
    Descriptor l = bomb_image(b, layer, Compression::gzip);
    auto store = Store::open(s / "store");
    REQUIRE(store);
    auto r = store->import(b.dir(), {});
    REQUIRE(!r);
    std::string msg = message_of(r);
    INFO(msg);
    CHECK(msg.find("bomb:1") != std::string::npos);        // the image
    CHECK(msg.find(l.digest.str()) != std::string::npos);  // the layer
    CHECK(msg.find("100 times") != std::string::npos);     // the limit
    CHECK(msg.find("--max-layer-ratio") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("a sparse file is counted at its apparent size", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    // 4 KiB of data and a sparse map claiming 1 TiB: a small tar stream, a huge file.
    auto layer = zeros_layer("hole", std::uint64_t{1} << 40, Compression::none, true);
    REQUIRE(layer.blob.size() < (64u << 10));
    Descriptor l = bomb_image(b, layer, Compression::none);
    auto store = Store::open(s / "store");
    auto r = store->import(b.dir(), {});
    REQUIRE(!r);
    std::string msg = message_of(r);
    INFO(msg);
    CHECK(msg.find(l.digest.str()) != std::string::npos);
    CHECK(msg.find("hole") != std::string::npos);  // the member that went past
    CHECK(msg.find("limit") != std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("oversized documents are refused before they are parsed", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto layer = make_tar({file("f", "x")});
    auto store = Store::open(s / "store");
    REQUIRE(store);
    std::string big(5u << 20, 'x');  // past the 4 MiB containerd and podman allow

    SECTION("a manifest") {
        auto m = b.add_image({layer}, Compression::gzip);
        Json manifest = Json::parse(read_text(b.dir() + "/blobs/sha256/" + m.digest.hex));
        manifest["annotations"] = {{"pad", big}};
        auto padded = b.add_blob(std::string(media_type::manifest), manifest.dump());
        b.write_index({descriptor_json(padded, "big")});
        std::string msg = message_of(store->import(b.dir(), {}));
        INFO(msg);
        CHECK(msg.find(padded.digest.hex) != std::string::npos);
        CHECK(msg.find("4194304") != std::string::npos);
    }
    SECTION("a config") {
        auto m =
            b.add_image({layer}, Compression::gzip, {{"config", {{"Labels", {{"pad", big}}}}}});
        b.write_index({descriptor_json(m, "big")});
        std::string msg = message_of(store->import(b.dir(), {}));
        INFO(msg);
        CHECK(msg.find("4194304") != std::string::npos);
    }
    SECTION("index.json") {
        auto m = b.add_image({layer}, Compression::gzip);
        Json d = descriptor_json(m, "big");
        d["annotations"]["pad"] = big;
        b.write_index({d});
        std::string msg = message_of(store->import(b.dir(), {}));
        INFO(msg);
        CHECK(msg.find("index.json") != std::string::npos);
        CHECK(msg.find("4194304") != std::string::npos);
    }
    SECTION("oci-layout") {
        auto m = b.add_image({layer}, Compression::gzip);
        b.write_index({descriptor_json(m, "big")});
        write_text(b.dir() + "/oci-layout",
                   Json{{"imageLayoutVersion", "1.0.0"}, {"pad", big}}.dump());
        std::string msg = message_of(store->import(b.dir(), {}));
        INFO(msg);
        CHECK(msg.find("oci-layout") != std::string::npos);
        CHECK(msg.find("limit") != std::string::npos);
    }
    check_store_empty(s / "store");
}

TEST_CASE("a deeply nested config is refused naming the limit", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    // 100 levels: under base's general bound (128), past the one for image documents (64).
    auto m = b.add_image({make_tar({file("f", "x")})}, Compression::gzip,
                         {{"history", Json::parse(nested(100))}});
    b.write_index({descriptor_json(m, "deep")});
    auto store = Store::open(s / "store");
    std::string msg = message_of(store->import(b.dir(), {}));
    INFO(msg);
    CHECK(msg.find("nested deeper than the limit of 64") != std::string::npos);
    CHECK(msg.find("parse image config") != std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("a compressed oci-archive that expands past its budget is refused", "[limits]") {
    Scratch s;
    // A tar.gz of 256 MiB of zeros named like a blob: an archive is a compressed stream too.
    auto bomb = zeros_layer("blobs/sha256/junk", std::uint64_t{256} << 20, Compression::gzip);
    write_text(s / "image.tar.gz", bomb.blob);
    auto store = Store::open(s / "store");
    auto r = store->import(s / "image.tar.gz", {.name = "x"});
    std::string msg = message_of(r);
    INFO(msg);
    CHECK(msg.find("image.tar.gz") != std::string::npos);
    CHECK(msg.find("--max-layer-ratio") != std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("a zstd bomb of 256 MiB is refused with the default limits", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto layer = zeros_layer("zeros", std::uint64_t{256} << 20, Compression::zstd);
    REQUIRE(layer.blob.size() < (64u << 10));  // zstd packs zeros far tighter than gzip
    Descriptor l = bomb_image(b, layer, Compression::zstd);
    auto store = Store::open(s / "store");
    std::string msg = message_of(store->import(b.dir(), {}));
    INFO(msg);
    CHECK(msg.find(l.digest.str()) != std::string::npos);
    // Under 64 MiB any layer may expand (the ratio's floor): the budget is the floor.
    CHECK(msg.find("more than 67108864 bytes") != std::string::npos);
    CHECK(msg.find("--max-layer-ratio") != std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("lowered limits refuse a layer at the limit they name", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    auto store = Store::open(s / "store");
    REQUIRE(store);
    ImportOptions opt;

    SECTION("size: 256 MiB of zeros past a 64 MiB --max-layer-size") {
        auto layer = zeros_layer("zeros", std::uint64_t{256} << 20, Compression::gzip);
        Descriptor l = bomb_image(b, layer, Compression::gzip);
        opt.limits.layer.max_bytes = 64u << 20;
        std::string msg = message_of(store->import(b.dir(), opt));
        INFO(msg);
        CHECK(msg.find("import image bomb:1") != std::string::npos);
        CHECK(msg.find(l.digest.str()) != std::string::npos);
        CHECK(msg.find("more than 67108864 bytes") != std::string::npos);
        CHECK(msg.find("the limit is --max-layer-size 67108864") != std::string::npos);
    }
    SECTION("ratio: 16 MiB of zeros past 100 times its blob, with a 1 MiB floor") {
        auto layer = zeros_layer("zeros", std::uint64_t{16} << 20, Compression::gzip);
        Descriptor l = bomb_image(b, layer, Compression::gzip);
        opt.limits.layer.ratio_floor = 1u << 20;
        std::string msg = message_of(store->import(b.dir(), opt));
        INFO(msg);
        CHECK(msg.find(l.digest.str()) != std::string::npos);
        CHECK(msg.find("more than " + std::to_string(100 * layer.blob.size()) + " bytes") !=
              std::string::npos);
        CHECK(msg.find("100 times the compressed size of " + std::to_string(l.size)) !=
              std::string::npos);
    }
    SECTION("entries: 11 members past --max-layer-entries 10") {
        std::vector<Member> members;
        for (int i = 0; i < 11; ++i)
            members.push_back(file("f" + std::to_string(i), "x"));
        auto m = b.add_image({make_tar(members)}, Compression::gzip);
        b.write_index({descriptor_json(m, "many")});
        opt.limits.layer.max_entries = 10;
        std::string msg = message_of(store->import(b.dir(), opt));
        INFO(msg);
        CHECK(msg.find("more than 10 members at \"f10\"") != std::string::npos);
        CHECK(msg.find("--max-layer-entries 10") != std::string::npos);
    }
    SECTION("document size: a manifest past --max-manifest-size") {
        auto m = b.add_image({make_tar({file("f", "x")})}, Compression::gzip);
        b.write_index({descriptor_json(m, "small")});
        opt.limits.max_document_bytes = static_cast<std::size_t>(m.size) - 1;
        std::string msg = message_of(store->import(b.dir(), opt));
        INFO(msg);
        CHECK(msg.find(m.digest.hex) != std::string::npos);
        CHECK(msg.find("--max-manifest-size") != std::string::npos);
    }
    check_store_empty(s / "store");
}

TEST_CASE("a layer exactly at its size limit unpacks, one byte less refuses it", "[limits]") {
    Scratch s;
    fs::create_directories(s / "layers");
    Tar t = make_tar({dir("d"), file("d/f", std::string(100000, 'x'))}, Compression::none);
    write_text(s / "blob", t.blob);
    Descriptor d{media_type_for(Compression::none), digest_of(t.blob),
                 static_cast<std::int64_t>(t.blob.size())};
    UnpackOptions opt;
    opt.limits.max_bytes = t.plain.size();  // the tar stream is the larger of the two counts
    auto ok = unpack_layer(s / "blob", d, digest_of(t.plain), s / "layers", opt);
    INFO(message_of(ok));
    REQUIRE(ok);
    fs::remove_all(ok->path);
    opt.limits.max_bytes = t.plain.size() - 1;
    auto r = unpack_layer(s / "blob", d, digest_of(t.plain), s / "layers", opt);
    CHECK(message_of(r).find("--max-layer-size") != std::string::npos);
    CHECK(fs::is_empty(s / "layers"));  // the refused layer's temp dir is gone
}

TEST_CASE("a member path past PATH_MAX is refused before it is walked", "[limits]") {
    Scratch s;
    fs::create_directories(s / "layers");
    std::string long_path;
    while (long_path.size() <= 5000)
        long_path += "abcdefghijklmnopqrstuvwxyz/";
    Tar t = make_tar({file(long_path + "f", "x")}, Compression::gzip);
    write_text(s / "blob", t.blob);
    Descriptor d{media_type_for(Compression::gzip), digest_of(t.blob),
                 static_cast<std::int64_t>(t.blob.size())};
    auto r = unpack_layer(s / "blob", d, digest_of(t.plain), s / "layers");
    std::string msg = message_of(r);
    INFO(msg);
    CHECK(msg.find("bytes, past the limit of 4096") != std::string::npos);
    CHECK(msg.size() < 1000);  // the path is cut in the message
    CHECK(fs::is_empty(s / "layers"));
}

TEST_CASE("a layer unpacks from a memfd into a directory the caller made", "[limits]") {
    Scratch s;
    fs::create_directories(s / "root");
    Tar t = make_tar(
        {dir("etc"), file("etc/hosts", "127.0.0.1 localhost\n"), sym_link("etc/link", "hosts")},
        Compression::zstd);
    wmrun::UniqueFd mem(::memfd_create("layer", MFD_CLOEXEC));
    REQUIRE(mem);
    REQUIRE(wmrun::write_all(mem.get(), t.blob, "memfd"));
    REQUIRE(::lseek(mem.get(), 0, SEEK_SET) == 0);
    auto root = wmrun::open_file(s / "root", O_RDONLY | O_DIRECTORY);
    REQUIRE(root);
    Descriptor d{media_type_for(Compression::zstd), digest_of(t.blob),
                 static_cast<std::int64_t>(t.blob.size())};
    auto r = unpack_layer_into(mem.get(), d, digest_of(t.plain), root->get());
    INFO(message_of(r));
    REQUIRE(r);
    CHECK(r->uncompressed_bytes == t.plain.size());
    CHECK(read_text(s / "root/etc/hosts") == "127.0.0.1 localhost\n");
    CHECK(fs::read_symlink(s / "root/etc/link") == "hosts");
    // Only the scratch dir's root/ (and the blob-less scratch) holds anything.
    CHECK(std::distance(fs::directory_iterator(s.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a nested index named thousands of times is read once", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    // Six levels, each an index listing the one below 50 times; at the bottom only an arm64
    // image. Walked without memory this is 50^6 reads; each index is read once instead.
    auto arm =
        b.add_image({make_tar({file("f", "x")})}, Compression::gzip, Json::object(), "arm64");
    Json below = descriptor_json(arm, "", "arm64");
    for (int level = 0; level < 6; ++level) {
        Json idx = {{"schemaVersion", 2},
                    {"mediaType", media_type::index},
                    {"manifests", Json(std::vector<Json>(50, below))}};
        below = descriptor_json(b.add_blob(std::string(media_type::index), idx.dump()));
    }
    b.write_index({below});
    auto store = Store::open(s / "store");
    std::string msg = message_of(store->import(b.dir(), {.name = "x"}));
    INFO(msg);
    CHECK(msg.find("no linux/amd64 image") != std::string::npos);
}

TEST_CASE("more layers than overlayfs stacks are refused before any is read", "[limits]") {
    Scratch s;
    LayoutBuilder b(s / "layout");
    std::vector<Tar> layers(501, make_tar({dir("d")}));
    auto m = b.add_image(layers, Compression::gzip);
    b.write_index({descriptor_json(m, "tall")});
    auto store = Store::open(s / "store");
    std::string msg = message_of(store->import(b.dir(), {}));
    INFO(msg);
    CHECK(msg.find("501 layers; overlayfs stacks at most 500") != std::string::npos);
    check_store_empty(s / "store");
}

TEST_CASE("a zstd frame asking for a 2 GiB window is refused, not allocated", "[limits]") {
    Scratch s;
    fs::create_directories(s / "layers");
    // Magic, a frame header with Window_Descriptor 0xa8 (windowLog 31), an empty last block.
    const std::string frame("\x28\xb5\x2f\xfd\x00\xa8\x01\x00\x00", 9);
    write_text(s / "blob", frame);
    Descriptor d{media_type_for(Compression::zstd), digest_of(frame),
                 static_cast<std::int64_t>(frame.size())};
    auto r = unpack_layer(s / "blob", d, digest_of(""), s / "layers");
    CHECK(message_of(r).find("too much memory") != std::string::npos);
    CHECK(fs::is_empty(s / "layers"));
}
