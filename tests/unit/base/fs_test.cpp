#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "../skip.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/mount.hpp"
#include "wmrun/base/process.hpp"

using namespace wmrun;

TEST_CASE("write_file_atomic replaces content and leaves no temp file") {
    char tmpl[] = "/tmp/wmrun-fs-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/state.json";
    REQUIRE(write_file_atomic(path, "one", 0600));
    REQUIRE(write_file_atomic(path, "two", 0600));
    auto text = read_file(path);
    REQUIRE(text);
    CHECK(*text == "two");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK_FALSE(path_exists(path + ".tmp-" + std::to_string(::getpid())));
    REQUIRE(remove_all(dir));
    CHECK_FALSE(path_exists(dir));
}

TEST_CASE("read_one_record_file reads files of every size whole, and stops at its limit") {
    char tmpl[] = "/tmp/wmrun-fs-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    // Around the first read's 4 KiB and the doubling after it.
    for (std::size_t size : {0, 1, 4095, 4096, 4097, 12288, 12289, 300000}) {
        std::string data(size, '\0');
        for (std::size_t i = 0; i < size; ++i)
            data[i] = static_cast<char>('a' + i % 26);
        REQUIRE(write_file_atomic(dir + "/f", data, 0600));
        auto text = read_one_record_file(dir + "/f");
        REQUIRE(text);
        CHECK(*text == data);
        auto fd = open_file(dir + "/f", O_RDONLY);
        REQUIRE(fd);
        auto head = read_file_fd(fd->get(), "f", 5000);
        REQUIRE(head);
        CHECK(*head == data.substr(0, 5000));
    }
    // A one-record pseudo-file: the same text as the read-to-EOF path gives.
    auto stat = read_one_record_file("/proc/self/stat");
    REQUIRE(stat);
    CHECK(stat->starts_with(std::to_string(::getpid()) + " ("));
    CHECK(stat->ends_with("\n"));
    REQUIRE(remove_all(dir));
}

TEST_CASE("read errors carry the operation, the path and errno") {
    auto r = read_file("/nonexistent/wmrun/file");
    REQUIRE_FALSE(r);
    CHECK(r.error().err == ENOENT);
    CHECK(r.error().message() == "open: /nonexistent/wmrun/file: no such file or directory");
}

TEST_CASE("parse_json names the file and the position of a syntax error") {
    auto r = parse_json("{\"a\": }", "/b/config.json");
    REQUIRE_FALSE(r);
    CHECK(r.error().message().rfind("parse JSON: /b/config.json: ", 0) == 0);
    CHECK(r.error().message().find("column 7") != std::string::npos);
}

TEST_CASE("parse_json refuses deep nesting and oversized documents before building them") {
    // 100k levels would exhaust the stack in any recursive walk over the DOM.
    std::string deep(100000, '[');
    auto r = parse_json(deep, "stream header");
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "parse JSON: stream header: nested deeper than the limit of 128");
    std::string ok = std::string(128, '[') + std::string(128, ']');
    CHECK(parse_json(ok, "x"));
    auto big = parse_json(std::string(40, ' ') + "{}", "config.json", JsonLimits{32, 8});
    REQUIRE_FALSE(big);
    CHECK(big.error().err == EFBIG);
    CHECK(big.error().message().find("larger than the limit of 32 bytes") != std::string::npos);
}

TEST_CASE("read_json_file stops reading past the size limit") {
    char tmpl[] = "/tmp/wmrun-fs-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/big.json";
    REQUIRE(write_file_atomic(path, "[" + std::string(1 << 20, ' ') + "]"));
    auto r = read_json_file(path, JsonLimits{4096, 8});
    REQUIRE_FALSE(r);
    CHECK(r.error().err == EFBIG);
    CHECK(read_json_file(path));
    REQUIRE(remove_all(dir));
}

TEST_CASE("stat start time survives command names with spaces and parentheses") {
    std::string stat =
        "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
        "987654 1000 100 18446744073709551615";
    auto t = parse_stat_start_time(stat);
    REQUIRE(t);
    CHECK(*t == 987654u);
    auto self = process_start_time(::getpid());
    REQUIRE(self);
    CHECK(process_alive(::getpid(), *self));
    CHECK_FALSE(process_alive(::getpid(), *self + 1));
}

TEST_CASE("log lines have runc's text and JSON forms") {
    CHECK(log::format_line(log::Format::json, log::Level::error, "boom \"x\"", "T") ==
          R"({"level":"error","msg":"boom \"x\"","time":"T"})");
    CHECK(log::format_line(log::Format::text, log::Level::warning, "a b", "T") ==
          R"(time="T" level=warning msg="a b")");
}

TEST_CASE("MountGuard unmounts on destruction and not after release") {
    if (::geteuid() != 0) WMRUN_SKIP("needs root to mount");
    char tmpl[] = "/tmp/wmrun-mount-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto mounted = [&] {
        struct stat a {
        }, b{};
        ::stat(dir.c_str(), &a);
        ::stat((dir + "/..").c_str(), &b);
        return a.st_dev != b.st_dev;
    };
    REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr) == 0);
    { MountGuard guard(dir); }
    CHECK_FALSE(mounted());
    REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr) == 0);
    std::string kept;
    {
        MountGuard guard(dir);
        kept = guard.release();
    }
    CHECK(mounted());
    CHECK(unmount_path(kept));
    CHECK_FALSE(mounted());
    ::rmdir(dir.c_str());
}
