#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/path.hpp"

using namespace wmrun;

namespace {

struct Scratch {
    std::string dir;
    Scratch() {
        char tmpl[] = "/tmp/wmrun-path-test-XXXXXX";
        dir = ::mkdtemp(tmpl);
    }
    ~Scratch() { (void)remove_all(dir); }
};

std::string real_path_of(int fd) {
    char buf[4096];
    ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
    REQUIRE(n > 0);
    return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("clean_relative drops empty and dot components") {
    CHECK(clean_relative("/a//b/./c/") == "a/b/c");
    CHECK(clean_relative("/") == ".");
    CHECK(clean_relative("../x") == "../x");
}

TEST_CASE("an absolute symlink in the root resolves inside it") {
    Scratch s;
    std::string root = s.dir + "/root";
    REQUIRE(mkdir_all(root + "/etc"));
    REQUIRE(::symlink("/etc", (root + "/link").c_str()) == 0);
    auto rootfd = open_file(root, O_PATH | O_DIRECTORY);
    REQUIRE(rootfd);
    auto fd = open_in_root(rootfd->get(), "/link", O_PATH);
    REQUIRE(fd);
    CHECK(real_path_of(fd->get()) == root + "/etc");
}

TEST_CASE("dot-dot and relative symlinks cannot climb out of the root") {
    Scratch s;
    std::string root = s.dir + "/root";
    REQUIRE(mkdir_all(root));
    REQUIRE(::symlink("../../../../..", (root + "/up").c_str()) == 0);
    auto rootfd = open_file(root, O_PATH | O_DIRECTORY);
    REQUIRE(rootfd);
    auto fd = open_in_root(rootfd->get(), "/up", O_PATH);
    REQUIRE(fd);
    CHECK(real_path_of(fd->get()) == root);
    auto dotdot = open_in_root(rootfd->get(), "../../..", O_PATH);
    REQUIRE(dotdot);
    CHECK(real_path_of(dotdot->get()) == root);
}

TEST_CASE("mkdir_all_in_root follows a planted symlink only inside the root") {
    Scratch s;
    std::string root = s.dir + "/root";
    std::string outside = s.dir + "/outside";
    REQUIRE(mkdir_all(root));
    REQUIRE(mkdir_all(outside));
    // A hostile image points /mnt at a host directory.
    REQUIRE(::symlink(outside.c_str(), (root + "/mnt").c_str()) == 0);
    auto rootfd = open_file(root, O_PATH | O_DIRECTORY);
    REQUIRE(rootfd);
    auto made = mkdir_all_in_root(rootfd->get(), "/mnt/data/x");
    REQUIRE(made);
    CHECK(real_path_of(made->get()) == root + outside + "/data/x");
    CHECK_FALSE(path_exists(outside + "/data"));
}

TEST_CASE("ensure_in_root makes an empty file and refuses nothing inside") {
    Scratch s;
    std::string root = s.dir + "/root";
    REQUIRE(mkdir_all(root));
    auto rootfd = open_file(root, O_PATH | O_DIRECTORY);
    REQUIRE(rootfd);
    auto file = ensure_in_root(rootfd->get(), "/etc/resolv.conf", false);
    REQUIRE(file);
    struct stat st {};
    REQUIRE(::stat((root + "/etc/resolv.conf").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(st.st_size == 0);
    auto root_itself = ensure_in_root(rootfd->get(), "/", false);
    CHECK_FALSE(root_itself);
}
