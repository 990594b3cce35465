// Test helpers shared by the repository and stream tests: a tree holding everything an
// overlay upper dir can hold, exact tree comparison, and a fresh repository.
#pragma once

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <cstring>
#include <random>

#include "tree_util.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace snaptest {

using wmrun::snapshot::InitOptions;
using wmrun::snapshot::Repository;

inline std::string random_string(size_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s)
        c = char(rng());
    return s;
}

inline void write(const std::string& path, const std::string& data, mode_t mode = 0644) {
    REQUIRE(wmrun::write_file_atomic(path, data, mode));
}

inline void set_mtime(const std::string& path, time_t sec, long nsec) {
    timespec ts[2] = {{0, UTIME_OMIT}, {sec, nsec}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

inline void set_xattr(const std::string& path, const std::string& name, const std::string& value) {
    REQUIRE(::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) == 0);
}

// Everything an overlay upper dir can hold (design.md, "Snapshots, migration, upgrade").
inline void build_tree(const TempDir& t) {
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

inline void require_same_tree(const std::string& a, const std::string& b) {
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

inline Repository open_new(const TempDir& t, InitOptions opts = {}) {
    REQUIRE(Repository::init(t / "repo", opts));
    auto repo = Repository::open(t / "repo");
    REQUIRE(repo);
    return std::move(*repo);
}

inline bool is_root() {
    return ::geteuid() == 0;
}

}  // namespace snaptest
