#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "image_builder.hpp"
#include "wmrun/overlay/unpack.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    Scratch s;
    std::string layers = s / "layers";
    Fixture() { fs::create_directories(layers); }

    wmrun::Result<UnpackResult> unpack(const Tar& t, Compression c,
                                       WhiteoutMode mode = WhiteoutMode::root) {
        Descriptor d{media_type_for(c), digest_of(t.blob),
                     static_cast<std::int64_t>(t.blob.size())};
        return unpack_blob(t.blob, d, digest_of(t.plain), mode);
    }
    wmrun::Result<UnpackResult> unpack_blob(const std::string& blob, const Descriptor& d,
                                            const Digest& diff_id,
                                            WhiteoutMode mode = WhiteoutMode::root) {
        write_text(s / "blob", blob);
        return unpack_layer(s / "blob", d, diff_id, layers, {.mode = mode});
    }
    bool layers_empty() const { return fs::is_empty(layers); }
};

std::string xattr(const std::string& path, const char* name) {
    char buf[256];
    ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
    return n < 0 ? std::string("<none>") : std::string(buf, static_cast<std::size_t>(n));
}

struct stat lstat_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

std::string message_of(const auto& r) {
    return r ? std::string() : r.error().message();
}

}  // namespace

TEST_CASE("a layer unpacks with its metadata", "[unpack]") {
    Fixture f;
    Member owned = file("bin/tool", "#!/bin/sh\n", 04755);
    owned.uid = 1000;
    owned.gid = 2000;
    owned.mtime = 1600000000;
    owned.xattrs = {{"user.note", "hi"}, {"trusted.overlay.redirect", "/etc"}};
    Member dev{"dev/null", 'c', {}, {}, 0666};
    dev.rdev = makedev(1, 3);
    Member old_dir = dir("old", 0750);
    old_dir.mtime = 1500000000;
    auto tar = make_tar({dir("bin"), owned, hard_link("bin/tool2", "bin/tool"),
                         sym_link("bin/sh", "tool"), sym_link("etc/localtime", "/usr/share/tz"),
                         dev, Member{"run/fifo", 'p', {}, {}, 0600}, old_dir, file("old/x", "x")},
                        Compression::gzip);
    auto r = f.unpack(tar, Compression::gzip);
    REQUIRE(r);
    CHECK(!r->already_present);
    CHECK(r->path == f.layers + "/" + digest_of(tar.plain).hex);
    CHECK(r->uncompressed_bytes == tar.plain.size());
    CHECK(r->compressed_bytes == tar.blob.size());

    auto st = lstat_of(r->path + "/bin/tool");
    CHECK((st.st_mode & 07777) == 04755);  // set-id bit survives the chown
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 2000);
    CHECK(st.st_mtime == 1600000000);
    CHECK(read_text(r->path + "/bin/tool") == "#!/bin/sh\n");
    CHECK(xattr(r->path + "/bin/tool", "user.note") == "hi");
    // overlayfs's own xattrs never come from an image.
    CHECK(xattr(r->path + "/bin/tool", "trusted.overlay.redirect") == "<none>");
    CHECK(lstat_of(r->path + "/bin/tool2").st_ino == st.st_ino);
    CHECK(fs::read_symlink(r->path + "/bin/sh") == "tool");
    CHECK(fs::read_symlink(r->path + "/etc/localtime") == "/usr/share/tz");
    auto d = lstat_of(r->path + "/dev/null");
    CHECK(S_ISCHR(d.st_mode));
    CHECK(d.st_rdev == makedev(1, 3));
    CHECK(S_ISFIFO(lstat_of(r->path + "/run/fifo").st_mode));
    auto od = lstat_of(r->path + "/old");
    CHECK((od.st_mode & 07777) == 0750);
    CHECK(od.st_mtime == 1500000000);  // set after its children were written
    CHECK((lstat_of(r->path).st_mode & 07777) == 0755);
    CHECK(fs::directory_iterator(f.layers) != fs::directory_iterator());
    CHECK(std::distance(fs::directory_iterator(f.layers), fs::directory_iterator()) == 1);
}

TEST_CASE("every layer compression gives the same tree and diff-id", "[unpack]") {
    for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
        Fixture f;
        auto tar = make_tar({dir("a"), file("a/b", std::string(100000, 'z'))}, c);
        auto r = f.unpack(tar, c);
        INFO(message_of(r));
        REQUIRE(r);
        CHECK(read_text(r->path + "/a/b") == std::string(100000, 'z'));
        auto small = make_tar({dir("etc"), file("etc/os", "base")}, c);
        auto rs = f.unpack(small, c);
        INFO(message_of(rs));
        REQUIRE(rs);
    }
}

TEST_CASE("a layer already present is not unpacked again", "[unpack]") {
    Fixture f;
    auto tar = make_tar({file("a", "1")});
    auto first = f.unpack(tar, Compression::gzip);
    REQUIRE(first);
    auto ino = lstat_of(first->path + "/a").st_ino;
    auto again = f.unpack(tar, Compression::gzip);
    REQUIRE(again);
    CHECK(again->already_present);
    CHECK(lstat_of(first->path + "/a").st_ino == ino);
}

TEST_CASE("whiteouts become overlayfs whiteouts", "[unpack]") {
    Fixture f;
    auto tar =
        make_tar({dir("etc"), file("etc/.wh.gone", ""), dir("var/cache"),
                  file("var/cache/.wh..wh..opq", ""), file("keep", "k"), file(".wh.keep", "")});
    SECTION("root") {
        auto r = f.unpack(tar, Compression::gzip);
        REQUIRE(r);
        auto st = lstat_of(r->path + "/etc/gone");
        CHECK(S_ISCHR(st.st_mode));
        CHECK(st.st_rdev == makedev(0, 0));
        CHECK(!fs::exists(r->path + "/etc/.wh.gone"));
        CHECK(xattr(r->path + "/var/cache", "trusted.overlay.opaque") == "y");
        CHECK(!fs::exists(r->path + "/var/cache/.wh..wh..opq"));
        // A whiteout does not hide a file of its own layer.
        CHECK(read_text(r->path + "/keep") == "k");
    }
    SECTION("rootless") {
        auto r = f.unpack(tar, Compression::gzip, WhiteoutMode::rootless);
        REQUIRE(r);
        CHECK(S_ISCHR(lstat_of(r->path + "/etc/gone").st_mode));
        CHECK(xattr(r->path + "/var/cache", "user.overlay.opaque") == "y");
        CHECK(xattr(r->path + "/var/cache", "trusted.overlay.opaque") == "<none>");
        Member dev{"dev/sda", 'b', {}, {}, 0600};
        dev.rdev = makedev(8, 0);
        Fixture g;
        auto rejected = g.unpack(make_tar({dev}), Compression::gzip, WhiteoutMode::rootless);
        CHECK(message_of(rejected).find("device nodes need root") != std::string::npos);
        CHECK(g.layers_empty());
    }
}

TEST_CASE("hostile layers are rejected and leave nothing behind", "[unpack]") {
    Fixture f;
    std::string outside = f.s / "outside";
    fs::create_directories(outside);
    auto expect_rejected = [&](std::vector<Member> members, const std::string& why) {
        auto r = f.unpack(make_tar(members), Compression::gzip);
        INFO(why);
        REQUIRE(!r);
        CHECK(message_of(r).find(why) != std::string::npos);
        CHECK(f.layers_empty());
        CHECK(fs::is_empty(outside));
    };
    expect_rejected({file("../outside/x", "x")}, "\"..\" in archive path");
    expect_rejected({file("a/../../outside/x", "x")}, "\"..\" in archive path");
    expect_rejected({file(outside + "/x", "x")}, "absolute path");
    expect_rejected({sym_link("up", "../outside")}, "leads out of the layer");
    expect_rejected({dir("a"), sym_link("a/up", "../../x")}, "leads out of the layer");
    expect_rejected({sym_link("link", outside), file("link/x", "x")}, "goes through a symlink");
    expect_rejected({sym_link("link", outside), dir("link/sub")}, "goes through a symlink");
    expect_rejected({hard_link("h", "../outside/x")}, "\"..\" in archive path");
    expect_rejected({hard_link("h", "nothere")}, "not in the layer");
    expect_rejected({sym_link("etc", "/etc"), hard_link("h", "etc/passwd")},
                    "goes through a symlink");
    expect_rejected({dir("d"), hard_link("h", "d")}, "hardlink to a directory");
}

TEST_CASE("corrupt blobs are rejected and leave nothing behind", "[unpack]") {
    Fixture f;
    auto tar = make_tar({file("a", std::string(200000, 'q')), file("b", "b")});
    Descriptor good{media_type_for(Compression::gzip), digest_of(tar.blob),
                    static_cast<std::int64_t>(tar.blob.size())};
    Digest diff = digest_of(tar.plain);

    SECTION("digest mismatch") {
        Descriptor d = good;
        d.digest = digest_of("something else");
        CHECK(message_of(f.unpack_blob(tar.blob, d, diff)).find("digest mismatch") !=
              std::string::npos);
    }
    SECTION("blob shorter than its descriptor") {
        auto r = f.unpack_blob(tar.blob.substr(0, tar.blob.size() / 2), good, diff);
        REQUIRE(!r);
    }
    SECTION("truncated stream whose descriptor matches it") {
        std::string cut = tar.blob.substr(0, tar.blob.size() / 2);
        Descriptor d{good.media_type, digest_of(cut), static_cast<std::int64_t>(cut.size())};
        REQUIRE(!f.unpack_blob(cut, d, diff));
    }
    SECTION("diff-id mismatch") {
        CHECK(message_of(f.unpack_blob(tar.blob, good, digest_of("other")))
                  .find("diff-id mismatch") != std::string::npos);
    }
    SECTION("media type says gzip, content is plain tar") {
        Descriptor d{good.media_type, digest_of(tar.plain),
                     static_cast<std::int64_t>(tar.plain.size())};
        CHECK(message_of(f.unpack_blob(tar.plain, d, diff)).find("not compressed as") !=
              std::string::npos);
    }
    SECTION("blob is not a tar") {
        std::string junk(4096, 'j');
        Descriptor d{media_type_for(Compression::none), digest_of(junk), 4096};
        REQUIRE(!f.unpack_blob(junk, d, digest_of(junk)));
    }
    CHECK(f.layers_empty());
}
