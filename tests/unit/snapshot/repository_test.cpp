#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "../skip.hpp"
#include "repo_fixture.hpp"
#include "wmrun/snapshot/repository.hpp"

using namespace wmrun::snapshot;
using namespace snaptest;

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
    if (!is_root()) WMRUN_SKIP("needs root for owners, devices and trusted.* xattrs");
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

TEST_CASE("an unchanged file keeps the parent's xattrs, a new xattr is seen without a read") {
    TempDir src, t;
    write(src / "kept", "same bytes");
    write(src / "tagged", "same bytes too");
    REQUIRE(::lsetxattr((src / "kept").c_str(), "user.k", "1", 1, 0) == 0);
    Repository repo = open_new(t);
    auto first = repo.create(src.path());
    REQUIRE(first);

    // Only an xattr changes: the content is not read again, the new value is recorded.
    REQUIRE(::lsetxattr((src / "tagged").c_str(), "user.t", "2", 1, 0) == 0);
    auto second = repo.create(src.path(), {.parent = first->id});
    REQUIRE(second);
    CHECK(second->files_unchanged == 1);
    CHECK(second->files_changed == 1);
    REQUIRE(repo.restore(second->id, t / "out"));
    char v[8] = {};
    CHECK(::lgetxattr((t / "out/kept").c_str(), "user.k", v, sizeof v) == 1);
    CHECK(v[0] == '1');
    CHECK(::lgetxattr((t / "out/tagged").c_str(), "user.t", v, sizeof v) == 1);
    CHECK(v[0] == '2');
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
    CHECK(restored.error().message().find("1 damaged files") != std::string::npos);
    // Everything else is restored all the same, and the damaged file is named.
    CHECK(wmrun::read_file(t / "out/z-healthy.bin").value() == random_string(100 << 10, 6));
    auto partial = repo.restore(snap->id, t / "out2", {.allow_damaged = true});
    REQUIRE(partial);
    CHECK(partial->damaged_files == std::vector<std::string>{"a-victim.bin"});
    CHECK(partial->files == 2);
    CHECK(wmrun::read_file(t / "out2/z-healthy.bin").value() == random_string(100 << 10, 6));
    std::string victim = wmrun::read_file(t / "out2/a-victim.bin").value();
    REQUIRE(victim.size() == 2u << 20);
    CHECK(victim != random_string(2 << 20, 5));
}

// Restore writes regular files on worker threads (WMRUN_RESTORE_WORKERS sets how many, 0 for
// none): whatever their number, the tree is the same and damage is reported in manifest order,
// with every name of a damaged inode.
TEST_CASE("restore gives the same tree and the same damage report with any number of writers") {
    TempDir src, t;
    write(src / "a-victim.bin", random_string(2 << 20, 5));
    REQUIRE(::link((src / "a-victim.bin").c_str(), (src / "b-link").c_str()) == 0);
    for (int i = 0; i < 300; ++i) {
        std::string dir = src / ("m" + std::to_string(i % 7));
        std::filesystem::create_directories(dir);
        write(dir + "/f" + std::to_string(i), random_string(size_t(i) * 97, 100 + i), 0600 + i % 3);
    }
    write(src / "z-big.bin", random_string(3 << 20, 6));
    Repository repo = open_new(t);
    auto snap = repo.create(src.path(), {.threads = 1});  // one worker: blobs in walk order
    REQUIRE(snap);
    std::string intact = t / "intact";
    REQUIRE(repo.restore(snap->id, intact));
    require_same_tree(src.path(), intact);

    std::string pack;
    for (const auto& e : std::filesystem::recursive_directory_iterator(t / "repo/packs"))
        if (e.is_regular_file() && (pack.empty() || e.path().string() < pack)) pack = e.path();
    int fd = ::open(pack.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char byte;
    REQUIRE(::pread(fd, &byte, 1, 1000) == 1);  // inside a-victim.bin's first chunk
    byte ^= 0x40;
    REQUIRE(::pwrite(fd, &byte, 1, 1000) == 1);
    ::close(fd);

    for (const char* workers : {"0", "1", "3"}) {
        INFO("writers: " << workers);
        REQUIRE(::setenv("WMRUN_RESTORE_WORKERS", workers, 1) == 0);
        std::string out = t / (std::string("out") + workers);
        auto failed = repo.restore(snap->id, out + "-strict");
        REQUIRE_FALSE(failed);
        CHECK(failed.error().message().find("does not match") != std::string::npos);
        CHECK(failed.error().message().find("2 damaged files") != std::string::npos);
        auto r = repo.restore(snap->id, out, {.allow_damaged = true});
        REQUIRE(r);
        CHECK(r->damaged_files == std::vector<std::string>{"a-victim.bin", "b-link"});
        CHECK(r->files == 302);
        for (const auto& e : std::filesystem::recursive_directory_iterator(src.path())) {
            std::string rel = std::filesystem::relative(e.path(), src.path());
            if (!e.is_regular_file() || rel == "a-victim.bin" || rel == "b-link") continue;
            INFO(rel);
            CHECK(wmrun::read_file(out + "/" + rel).value() == wmrun::read_file(e.path()).value());
        }
        std::string victim = wmrun::read_file(out + "/b-link").value();
        CHECK(victim.size() == 2u << 20);
        CHECK(victim != random_string(2 << 20, 5));
    }
    ::unsetenv("WMRUN_RESTORE_WORKERS");
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

    REQUIRE(repo.forget({first->id}));
    auto listed = repo.list();
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().id == second->id);
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

// A prune killed after writing its new pack but before the index leaves that pack as an
// orphan; the next prune rewrites the same live chunks into a byte-identical pack (pack ids
// are content hashes) and must not then delete it as the orphan.
TEST_CASE("prune after an interrupted prune keeps the pack it rewrote identically") {
    namespace fs = std::filesystem;
    TempDir src, t;
    write(src / "keep", random_string(300 << 10, 7));
    write(src / "drop", random_string(600 << 10, 8));
    Repository repo = open_new(t);
    REQUIRE(repo.create(src.path(), {.threads = 1}));
    REQUIRE(::unlink((src / "drop").c_str()) == 0);
    auto second = repo.create(src.path());
    REQUIRE(second);
    auto all = repo.list();
    REQUIRE(all);
    REQUIRE(repo.forget({all->front().id}));

    auto packs = [&] {
        std::set<std::string> out;
        for (const auto& e : fs::recursive_directory_iterator(t / "repo/packs"))
            if (e.is_regular_file()) out.insert(e.path().string().substr(t.path().size()));
        return out;
    };
    fs::copy(t / "repo", t / "before", fs::copy_options::recursive);
    auto old_packs = packs();
    REQUIRE(repo.prune());
    std::vector<std::string> rewritten;
    for (const auto& p : packs())
        if (!old_packs.contains(p)) rewritten.push_back(p);
    REQUIRE(rewritten.size() == 1);
    std::string pack = wmrun::read_file(t.path() + rewritten[0]).value();

    // Back to the state before, plus the rewritten pack as the orphan of a killed prune.
    REQUIRE(wmrun::remove_all(t / "repo"));
    fs::rename(t / "before", t / "repo");
    REQUIRE(wmrun::mkdir_all(fs::path(t.path() + rewritten[0]).parent_path()));
    write(t.path() + rewritten[0], pack, 0444);
    auto reopened = Repository::open(t / "repo");
    REQUIRE(reopened);
    REQUIRE(reopened->prune());
    auto v = reopened->verify();
    REQUIRE(v);
    CHECK(v->ok());
    REQUIRE(reopened->restore(second->id, t / "out"));
    CHECK(wmrun::read_file(t / "out/keep").value() == wmrun::read_file(src / "keep").value());
}
