// create's two phases: the walk, then the read of changed files between before_read and
// after_read (where a running container is held frozen).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>

#include "repo_fixture.hpp"
#include "wmrun/snapshot/repository.hpp"

using namespace wmrun::snapshot;
using namespace snaptest;

namespace {

bool has_path(Repository& repo, const std::string& a, const std::string& b,
              const std::string& path) {
    auto d = repo.diff(a, b);
    REQUIRE(d);
    return std::count(d->added.begin(), d->added.end(), path) > 0;
}

}  // namespace

TEST_CASE("the read phase runs between the hooks and sees writes made after the walk") {
    TempDir src, t;
    write(src / "steady", random_string(100 << 10, 11));
    write(src / "later", "before\n");
    write(src / "doomed", "x");
    REQUIRE(::link((src / "doomed").c_str(), (src / "doomed2").c_str()) == 0);
    Repository repo = open_new(t);
    auto first = repo.create(src.path());
    REQUIRE(first);

    // The walk took "later" as unchanged and "doomed" as changed; both change before the read.
    write(src / "doomed", "y");
    REQUIRE(::unlink((src / "doomed2").c_str()) == 0);
    REQUIRE(::link((src / "doomed").c_str(), (src / "doomed2").c_str()) == 0);
    int before = 0, after = 0;
    CreateOptions opt;
    opt.parent = first->id;
    opt.before_read = [&]() -> wmrun::Result<> {
        ++before;
        CHECK(after == 0);
        write(src / "later", "after the walk\n");
        REQUIRE(::unlink((src / "doomed").c_str()) == 0);
        REQUIRE(::unlink((src / "doomed2").c_str()) == 0);
        return {};
    };
    opt.after_read = [&]() -> wmrun::Result<> {
        ++after;
        return {};
    };
    auto second = repo.create(src.path(), opt);
    REQUIRE(second);
    CHECK(before == 1);
    CHECK(after == 1);
    CHECK(second->files_unchanged == 1);  // steady
    CHECK(second->files_changed == 2);    // later (found by the re-stat), doomed
    CHECK(second->bytes_read == std::string("after the walk\n").size());
    // The file removed after the walk is dropped with its second name, with a note.
    REQUIRE(second->notes.size() == 1);
    CHECK(second->notes[0].find("doomed") != std::string::npos);

    REQUIRE(repo.restore(second->id, t / "out"));
    CHECK(wmrun::read_file(t / "out/later").value() == "after the walk\n");
    CHECK(wmrun::read_file(t / "out/steady").value() == wmrun::read_file(src / "steady").value());
    CHECK(::access((t / "out/doomed").c_str(), F_OK) == -1);
    CHECK(::access((t / "out/doomed2").c_str(), F_OK) == -1);
    auto d = repo.diff(first->id, second->id);
    REQUIRE(d);
    CHECK(std::count(d->removed.begin(), d->removed.end(), "doomed2") == 1);
}

TEST_CASE("an error of either hook fails create and commits nothing") {
    TempDir src, t;
    write(src / "f", "data");
    Repository repo = open_new(t);
    int after = 0;
    CreateOptions opt;
    opt.before_read = [] { return wmrun::fail("freeze", "c1", "refused"); };
    opt.after_read = [&]() -> wmrun::Result<> {
        ++after;
        return {};
    };
    auto r = repo.create(src.path(), opt);
    REQUIRE_FALSE(r);
    CHECK(r.error().detail == "refused");
    CHECK(after == 0);  // nothing was frozen, so nothing is thawed

    opt.before_read = [] { return wmrun::Result<>{}; };
    opt.after_read = [&] { return wmrun::fail("thaw", "c1", "stuck"); };
    r = repo.create(src.path(), opt);
    REQUIRE_FALSE(r);
    CHECK(r.error().detail == "stuck");
    auto list = repo.list();
    REQUIRE(list);
    CHECK(list->empty());
}

TEST_CASE("include takes only the named top-level entries") {
    TempDir src, t;
    REQUIRE(::mkdir((src / "upper").c_str(), 0755) == 0);
    REQUIRE(::mkdir((src / "work").c_str(), 0700) == 0);
    write(src / "upper/a", "a");
    write(src / "work/junk", "j");
    write(src / "config.json", "{}");
    Repository repo = open_new(t);
    auto empty = repo.create(t / "repo/tmp");
    REQUIRE(empty);
    auto r = repo.create(src.path(), {.include = {"upper", "volumes"}});
    REQUIRE(r);
    CHECK(r->files_new == 1);
    CHECK(r->dirs == 1);
    CHECK(has_path(repo, empty->id, r->id, "upper/a"));
    CHECK_FALSE(has_path(repo, empty->id, r->id, "work/junk"));
    CHECK_FALSE(has_path(repo, empty->id, r->id, "config.json"));
}
