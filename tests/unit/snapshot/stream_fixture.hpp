// Test helpers shared by the stream and hostile-input tests: receiving a stream held in a
// string, and checking that a refused operation left the repository as it was.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "tree_util.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace snaptest {

inline wmrun::Result<wmrun::snapshot::ReceiveResult> receive_string(
    wmrun::snapshot::Repository& repo, const std::string& stream) {
    TempDir t;
    std::string path = t / "stream";
    REQUIRE(wmrun::write_file_atomic(path, stream));
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    auto r = wmrun::snapshot::receive_snapshot(repo, fd);
    ::close(fd);
    return r;
}

inline size_t count_files(const std::string& dir) {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
        n += e.is_regular_file();
    return n;
}

// The repository is exactly as before: same snapshots, no new packs or index files, nothing
// left in tmp/, and verify passes.
inline void require_unchanged(wmrun::snapshot::Repository& repo, size_t snapshots, size_t packs,
                              size_t indexes) {
    auto listed = repo.list();
    REQUIRE(listed);
    CHECK(listed->size() == snapshots);
    CHECK(count_files(repo.dir() + "/packs") == packs);
    CHECK(count_files(repo.dir() + "/index") == indexes);
    CHECK(count_files(repo.dir() + "/tmp") == 0);
    auto v = repo.verify();
    REQUIRE(v);
    CHECK(v->ok());
}

}  // namespace snaptest
