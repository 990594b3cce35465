#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>

#include "tree_util.hpp"
#include "wmrun/snapshot/repository.hpp"

using namespace wmrun::snapshot;
using snaptest::TempDir;

namespace {

std::string random_string(size_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s)
        c = char(rng());
    return s;
}

void write(const std::string& path, const std::string& data, mode_t mode = 0644) {
    REQUIRE(wmrun::write_file_atomic(path, data, mode));
}

void set_mtime(const std::string& path, time_t sec, long nsec) {
    timespec ts[2] = {{0, UTIME_OMIT}, {sec, nsec}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

void set_xattr(const std::string& path, const std::string& name, const std::string& value) {
    REQUIRE(::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) == 0);
}

// Everything an overlay upper dir can hold (design.md, "Snapshots, migration, upgrade").
void build_tree(const TempDir& t) {
    const std::string r = t.path();
    write(r + "/small.txt", "hello\n");
    REQUIRE(::chown((r + "/small.txt").c_str(), 1000, 1001) == 0);
    set_xattr(r + "/small.txt", "user.note", "value\0with nul");
    write(r + "/big.bin", random_string(3 << 20, 1) + std::string(1 << 20, 'z'));
    {  // sparse: data, hole, data, trailing hole
        int fd = ::open((r + "/sparse.img").c_str(), O_CREAT | O_WRONLY, 0640);
        REQUIRE(fd >= 0);
        std::string block(4096, 's');
        REQUIRE(::pwrite(fd, block.data(), block.size(), 0) == 4096);
        REQUIRE(::pwrite(fd, block.data(), block.size(), 1 << 20) == 4096);
        REQUIRE(::ftruncate(fd, 8 << 20) == 0);
        ::close(fd);
    }
    REQUIRE(::mkdir((r + "/d").c_str(), 0750) == 0);
    REQUIRE(::mkdir((r + "/d/sub").c_str(), 0700) == 0);
    write(r + "/d/sub/deep.txt", "deep");
    REQUIRE(::link((r + "/big.bin").c_str(), (r + "/d/hard").c_str()) == 0);
    REQUIRE(::symlink("small.txt", (r + "/link").c_str()) == 0);
    REQUIRE(::symlink("/nonexistent/../x", (r + "/dangling").c_str()) == 0);
    REQUIRE(::mkfifo((r + "/fifo").c_str(), 0620) == 0);
    REQUIRE(::mknod((r + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::mknod((r + "/loop").c_str(), S_IFBLK | 0600, makedev(7, 0)) == 0);
    REQUIRE(::mknod((r + "/d/deleted").c_str(), S_IFCHR | 0000, makedev(0, 0)) == 0);  // whiteout
    REQUIRE(::mkdir((r + "/opaque").c_str(), 0755) == 0);
    set_xattr(r + "/opaque", "trusted.overlay.opaque", "y");
    write(r + "/opaque/inside", "x");
    write(r + "/suid", "#!/bin/sh\n", 0755);
    REQUIRE(::chmod((r + "/suid").c_str(), 04755) == 0);
    REQUIRE(::mkdir((r + "/sticky").c_str(), 0755) == 0);
    REQUIRE(::chmod((r + "/sticky").c_str(), 01777) == 0);
    write(r + "/cap", "binary", 0755);
    // vfs_cap_data v2: effective, CAP_NET_BIND_SERVICE permitted.
    const uint32_t cap[5] = {0x02000001, 1u << 10, 0, 0, 0};
    set_xattr(r + "/cap", "security.capability",
              std::string(reinterpret_cast<const char*>(cap), sizeof cap));
    write(r + "/bad\xff name", "not utf-8");
    write(r + "/empty", "");
    {
        int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string p = r + "/sock";
        std::strncpy(addr.sun_path, p.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(s);
    }
    set_mtime(r + "/small.txt", 1600000000, 123456789);
    set_mtime(r + "/link", 1500000000, 987654321);
    set_mtime(r + "/d/sub", 1400000000, 1);
    set_mtime(r + "/d", 1400000001, 2);
    set_mtime(r, 1300000000, 999999999);
}

void require_same_tree(const std::string& a, const std::string& b) {
    auto ta = snaptest::describe_tree(a), tb = snaptest::describe_tree(b);
    ta.erase("sock");  // sockets are not stored
    REQUIRE(ta.size() == tb.size());
    for (const auto& [path, node] : ta) {
        INFO(path);
        REQUIRE(tb.count(path));
        const auto& other = tb.at(path);
        CHECK(node.mode == other.mode);
        CHECK(node.uid == other.uid);
        CHECK(node.gid == other.gid);
        CHECK(node.mtime_ns == other.mtime_ns);
        CHECK(node.size == other.size);
        CHECK(node.rdev == other.rdev);
        CHECK(node.target == other.target);
        CHECK(node.link_group == other.link_group);
        CHECK(node.data == other.data);
        CHECK(node.xattrs == other.xattrs);
        CHECK(node.content == other.content);
    }
}

Repository open_new(const TempDir& t, InitOptions opts = {}) {
    REQUIRE(Repository::init(t / "repo", opts));
    auto repo = Repository::open(t / "repo");
    REQUIRE(repo);
    return std::move(*repo);
}

bool is_root() {
    return ::geteuid() == 0;
}

}  // namespace

TEST_CASE("init writes a config once and open reads it") {
    TempDir t;
    REQUIRE(Repository::init(t / "repo"));
    auto again = Repository::init(t / "repo");
    REQUIRE_FALSE(again);
    CHECK(again.error().err == EEXIST);
    CHECK(Repository::open(t / "repo"));
    CHECK_FALSE(Repository::open(t / "missing"));
    CHECK_FALSE(Repository::init(t / "bad", InitOptions{ChunkerParams{1 << 20, 1 << 18, 1 << 22}}));
}

TEST_CASE("a volume layer round-trips exactly and an unchanged second snapshot reads nothing") {
    if (!is_root()) {
        WARN("skipped: needs root for owners, devices and trusted.* xattrs");
        return;
    }
    TempDir src, t;
    build_tree(src);
    Repository repo = open_new(t);

    auto first = repo.create(src.path(), {.hostname = "h1"});
    REQUIRE(first);
    CHECK(first->files_new == 9);  // d/hard is a second name, not a file
    CHECK(first->bytes_read == (4u << 20) + 2 * 4096 + 6 + 4 + 1 + 10 + 6 + 9);
    CHECK(first->bytes_added < first->bytes_read);  // the 1 MiB of 'z' compresses
    REQUIRE(first->notes.size() == 1);
    CHECK(first->notes[0].find("sock") != std::string::npos);

    REQUIRE(repo.restore(first->id, t / "out"));
    require_same_tree(src.path(), t / "out");

    auto second = repo.create(src.path(), {.parent = first->id.substr(0, 8)});
    REQUIRE(second);
    CHECK(second->bytes_read == 0);
    CHECK(second->bytes_added == 0);
    CHECK(second->files_unchanged == first->files_new);
    CHECK(second->files_new + second->files_changed == 0);
    auto d = repo.diff(first->id, second->id);
    REQUIRE(d);
    CHECK(d->added.empty());
    CHECK(d->removed.empty());
    CHECK(d->changed.empty());

    REQUIRE(repo.restore(second->id, t / "out2"));
    require_same_tree(src.path(), t / "out2");
    CHECK_FALSE(repo.restore(second->id, t / "out2"));  // not empty

    auto list = repo.list();
    REQUIRE(list);
    REQUIRE(list->size() == 2);
    CHECK((*list)[0].id == first->id);
    CHECK((*list)[1].parent == first->id);
    auto v = repo.verify();
    REQUIRE(v);
    CHECK(v->ok());
    CHECK(v->chunks > 0);
}

TEST_CASE("a changed file is re-read, diff names it, and the rest comes from the parent") {
    TempDir src, t;
    write(src / "a", random_string(300 << 10, 2));
    write(src / "b", random_string(200 << 10, 3));
    write(src / "gone", "x");
    Repository repo = open_new(t);
    auto first = repo.create(src.path());
    REQUIRE(first);

    write(src / "b", random_string(200 << 10, 4));
    write(src / "c", "new");
    REQUIRE(::unlink((src / "gone").c_str()) == 0);
    auto second = repo.create(src.path(), {.parent = first->id});
    REQUIRE(second);
    CHECK(second->files_unchanged == 1);
    CHECK(second->files_changed == 1);
    CHECK(second->files_new == 1);
    CHECK(second->bytes_read == (200 << 10) + 3);
    auto d = repo.diff(first->id, second->id);
    REQUIRE(d);
    CHECK(d->added == std::vector<std::string>{"c"});
    CHECK(d->removed == std::vector<std::string>{"gone"});
    CHECK(std::count(d->changed.begin(), d->changed.end(), "b") == 1);
    CHECK(std::count(d->changed.begin(), d->changed.end(), "a") == 0);
    REQUIRE(repo.restore(second->id, t / "out"));
    CHECK(wmrun::read_file(t / "out/b").value() == wmrun::read_file(src / "b").value());
    CHECK(wmrun::read_file(t / "out/a").value() == wmrun::read_file(src / "a").value());
}

TEST_CASE("a flipped byte in a pack is reported as the damaged file") {
    TempDir src, t;
    write(src / "a-victim.bin", random_string(2 << 20, 5));
    write(src / "z-healthy.bin", random_string(100 << 10, 6));
    Repository repo = open_new(t);
    auto snap = repo.create(src.path(), {.threads = 1});  // one worker: blobs in walk order
    REQUIRE(snap);
    REQUIRE(repo.verify()->ok());

    std::vector<std::string> packs;
    for (const auto& e : std::filesystem::recursive_directory_iterator(t / "repo/packs"))
        if (e.is_regular_file()) packs.push_back(e.path());
    REQUIRE(packs.size() == 1);
    int fd = ::open(packs[0].c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char byte;
    REQUIRE(::pread(fd, &byte, 1, 1000) == 1);  // inside the first blob, after the header
    byte ^= 0x40;
    REQUIRE(::pwrite(fd, &byte, 1, 1000) == 1);
    ::close(fd);

    auto v = repo.verify();
    REQUIRE(v);
    CHECK_FALSE(v->ok());
    CHECK(v->damaged_packs.size() == 1);
    CHECK(v->damaged_chunks.size() == 1);
    REQUIRE(v->damaged_files.size() == 1);
    CHECK(v->damaged_files[0].path == "a-victim.bin");
    CHECK(v->damaged_files[0].snapshot == snap->id);
    auto restored = repo.restore(snap->id, t / "out");
    REQUIRE_FALSE(restored);
    CHECK(restored.error().message().find("does not match") != std::string::npos);
}

TEST_CASE("forget and prune free unused chunks, rewriting partly used packs") {
    TempDir src, t;
    write(src / "keep", random_string(300 << 10, 7));
    write(src / "drop", random_string(600 << 10, 8));
    Repository repo = open_new(t);
    auto first = repo.create(src.path());
    REQUIRE(first);
    REQUIRE(::unlink((src / "drop").c_str()) == 0);
    write(src / "added", random_string(100 << 10, 9));
    auto second = repo.create(src.path(), {.parent = first->id});
    REQUIRE(second);

    auto forgotten = repo.forget(1);
    REQUIRE(forgotten);
    CHECK(*forgotten == std::vector<std::string>{first->id});
    auto pruned = repo.prune();
    REQUIRE(pruned);
    CHECK(pruned->packs_rewritten == 1);  // "keep" and "drop" shared the first pack
    CHECK(pruned->chunks_removed >= 2);
    CHECK(pruned->bytes_freed >= (600u << 10));
    auto again = repo.prune();
    REQUIRE(again);
    CHECK(again->chunks_removed == 0);

    auto v = repo.verify();
    REQUIRE(v);
    CHECK(v->ok());
    REQUIRE(repo.restore(second->id, t / "out"));
    CHECK(wmrun::read_file(t / "out/keep").value() == wmrun::read_file(src / "keep").value());
    CHECK(wmrun::read_file(t / "out/added").value() == wmrun::read_file(src / "added").value());
}

TEST_CASE("the index is rebuilt from the packs") {
    TempDir src, t;
    write(src / "f", random_string(700 << 10, 10));
    Repository repo = open_new(t);
    auto snap = repo.create(src.path());
    REQUIRE(snap);
    for (const auto& e : std::filesystem::directory_iterator(t / "repo/index"))
        std::filesystem::remove(e.path());
    auto reopened = Repository::open(t / "repo");
    REQUIRE(reopened);
    CHECK_FALSE(reopened->restore(snap->id, t / "broken"));
    REQUIRE(reopened->rebuild_index());
    REQUIRE(reopened->restore(snap->id, t / "out"));
    CHECK(wmrun::read_file(t / "out/f").value() == wmrun::read_file(src / "f").value());
    CHECK(Repository::open(t / "repo")->verify()->ok());
}
