// The configurable limits (wmrun/snapshot/limits.hpp) and the checks on what a manifest, an
// index or a config may say: each refusal names the limit or the field, and a refused create
// or receive leaves the repository as it was.
#include <catch2/catch.hpp>

#include <zstd.h>

#include "manifest.hpp"
#include "repo_fixture.hpp"
#include "repo_internal.hpp"
#include "stream_fixture.hpp"
#include "wmrun/snapshot/stream.hpp"

using namespace wmrun::snapshot;
using namespace snaptest;

namespace {

std::string manifest_with(const std::string& tree_json, const std::string& extra = "") {
    return R"({"hostname":"h","parent":"","source":"",)" + extra + R"("time_ns":1,"tree":[)" +
           tree_json + R"(],"version":1})";
}

// A value nested `depth` arrays deep under an unknown key of the manifest's root object, which
// is one level itself.
std::string nested(int depth) {
    return manifest_with(
        "", R"("x":)" + std::string(size_t(depth), '[') + std::string(size_t(depth), ']') + ",");
}

std::string send_to_string(Repository& repo, const std::string& id) {
    TempDir t;
    std::string path = t / "stream";
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    auto sent = send_snapshot(repo, id, fd);
    ::close(fd);
    REQUIRE(sent);
    auto data = wmrun::read_file(path);
    REQUIRE(data);
    return *data;
}

// A small tree whose manifest is a few KiB.
void files(const std::string& dir, int n) {
    for (int i = 0; i < n; ++i)
        write(dir + "/file-" + std::to_string(i), random_string(3000, uint32_t(i)));
}

Repository reopen(const TempDir& t, const Limits& limits) {
    auto repo = Repository::open(t / "repo", limits);
    REQUIRE(repo);
    return std::move(*repo);
}

}  // namespace

TEST_CASE("manifest nesting is counted from the root and refused one level past the limit") {
    CHECK(parse_manifest_json(nested(31), "ok", 32));
    auto deep = parse_manifest_json(nested(32), "deep", 32);
    REQUIRE_FALSE(deep);
    CHECK(deep.error().message().find("nested deeper than the limit of 32 (--max-json-depth)") !=
          std::string::npos);
    // Objects count as arrays do, and the limit is the caller's.
    std::string obj = R"("x":)";
    for (int i = 0; i < 9; ++i)
        obj += R"({"k":)";
    obj += "1" + std::string(9, '}') + ",";
    CHECK(parse_manifest_json(manifest_with("", obj), "objects", 10));
    CHECK_FALSE(parse_manifest_json(manifest_with("", obj), "objects", 9));
    // The entries' own levels count too: root, tree, entry, extents, one extent.
    std::string file = R"({"extents":[[0,1]],"gid":0,"mode":420,"mtime_ns":0,"path":"f",)"
                       R"("size":1,"type":"file","uid":0})";
    CHECK(parse_manifest_json(manifest_with(file), "file", 5));
    CHECK_FALSE(parse_manifest_json(manifest_with(file), "file", 4));
}

TEST_CASE("a manifest's strings must be UTF-8 and a file's extents inside the file") {
    auto bad_utf8 = parse_manifest_json(manifest_with("", "\"tags\":[\"\xff\"],"), "m");
    REQUIRE_FALSE(bad_utf8);
    CHECK(bad_utf8.error().message().find("not UTF-8") != std::string::npos);
    // A surrogate encoded directly (CESU-8) is not UTF-8 either.
    CHECK_FALSE(parse_manifest_json(manifest_with("", "\"tags\":[\"\xed\xa0\x80\"],"), "m"));
    CHECK(parse_manifest_json(manifest_with("", "\"tags\":[\"caf\xc3\xa9\"],"), "m"));

    auto entry = [](const std::string& extents, const std::string& size) {
        return R"({"extents":)" + extents + R"(,"gid":0,"mode":420,"mtime_ns":0,)" +
               R"("path":"a\nb","size":)" + size + R"(,"type":"file","uid":0})";
    };
    CHECK(parse_manifest_json(manifest_with(entry("[[0,5],[10,6]]", "16")), "m"));
    const std::pair<const char*, const char*> bad_files[] = {
        {"[[0,5],[10,7]]", "16"},              // past the end
        {"[[10,5],[0,5]]", "16"},              // out of order
        {"[[0,10],[5,5]]", "16"},              // overlapping
        {"[[18446744073709551615,2]]", "16"},  // wraps
        {"[[0,1]]", "18446744073709551615"}};  // not an off_t
    for (auto [extents, size] : bad_files) {
        INFO(extents << " " << size);
        auto r = parse_manifest_json(manifest_with(entry(extents, size)), "m");
        REQUIRE_FALSE(r);
        std::string msg = r.error().message();
        CHECK(msg.find("entry \"a\\x0ab\"") != std::string::npos);  // escaped: one line
        CHECK(msg.find('\n') == std::string::npos);
    }
}

TEST_CASE("create refuses a manifest over the limit and leaves nothing behind") {
    TempDir t, src;
    open_new(t);
    files(src.path(), 40);
    Repository small = reopen(t, {.max_manifest_size = 4096});
    auto created = small.create(src.path());
    REQUIRE_FALSE(created);
    std::string msg = created.error().message();
    CHECK(msg.find("is over the limit of 4 KiB (--max-manifest-size)") != std::string::npos);
    CHECK(count_files(t / "repo/packs") == 0);
    CHECK(count_files(t / "repo/index") == 0);
    CHECK(count_files(t / "repo/snapshots") == 0);
    CHECK(count_files(t / "repo/tmp") == 0);

    // Written with a larger limit, the manifest is then refused by a reader with the small
    // one, which names the file; non-UTF-8 tags are refused before anything is read.
    Repository big = reopen(t, {});
    auto made = big.create(src.path());
    REQUIRE(made);
    auto listed = small.list();
    REQUIRE_FALSE(listed);
    CHECK(listed.error().message().find("snapshots/" + made->id) != std::string::npos);
    CHECK(listed.error().message().find("(--max-manifest-size)") != std::string::npos);
    auto tagged = big.create(src.path(), {.tags = {"ok", "bad\xff"}});
    REQUIRE_FALSE(tagged);
    CHECK(tagged.error().message().find("not UTF-8") != std::string::npos);
}

TEST_CASE("a frame without a declared size is cut off one byte past the manifest limit") {
    // A frame header may leave the content size out (as streamed compression does).
    std::string text(3 << 20, ' ');
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
    ZSTD_inBuffer in{text.data(), text.size(), 0};
    ZSTD_outBuffer out{frame.data(), frame.size(), 0};
    REQUIRE(ZSTD_compressStream2(c, &out, &in, ZSTD_e_end) == 0);
    ZSTD_freeCCtx(c);
    frame.resize(out.pos);
    REQUIRE(ZSTD_getFrameContentSize(frame.data(), frame.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
    auto cut = decompress_manifest(frame, 1 << 20, "read", "f");
    REQUIRE_FALSE(cut);
    CHECK(cut.error().message() ==
          "read: f: manifest of more than 1048576 bytes is over the limit of 1 MiB "
          "(--max-manifest-size)");
    auto whole = decompress_manifest(frame, 3 << 20, "read", "f");
    REQUIRE(whole);
    CHECK(*whole == text);
    // A frame whose header declares less or more than it holds is refused.
    CHECK_FALSE(decompress_manifest(frame.substr(0, frame.size() - 3), 3 << 20, "read", "f"));
    CHECK_FALSE(decompress_manifest(frame + "x", 3 << 20, "read", "f"));
}

TEST_CASE("receive holds a stream to the record and manifest limits, and commits nothing") {
    TempDir a_dir, b_dir, src;
    Repository a = open_new(a_dir);
    open_new(b_dir);
    files(src.path(), 40);
    write(src / "big", random_string(600 << 10, 99));  // chunks of up to 1 MiB
    auto made = a.create(src.path());
    REQUIRE(made);
    std::string stream = send_to_string(a, made->id);

    const std::tuple<Limits, const char*, const char*> limited[] = {
        {{.max_stream_record = 64 << 10},
         "(CHNK)",
         "over the limit of 64 KiB (--max-stream-record)"},
        {{.max_manifest_size = 2048},
         "record 2 (MANI)",
         "over the limit of 2 KiB (--max-manifest-size)"},
        {{.max_json_depth = 4},
         "stream manifest (record 2)",
         "nested deeper than the limit of 4 (--max-json-depth)"}};
    for (const auto& [limits, where, what] : limited) {
        INFO(what);
        Repository b = reopen(b_dir, limits);
        auto r = receive_string(b, stream);
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find(where) != std::string::npos);
        CHECK(r.error().message().find(what) != std::string::npos);
        require_unchanged(b, 0, 0, 0);
    }
    Repository b = reopen(b_dir, {});
    REQUIRE(receive_string(b, stream));
}

TEST_CASE("index entries with impossible lengths, flags or offsets are refused on open") {
    TempDir t;
    open_new(t);
    struct Case {
        uint64_t offset;
        uint32_t stored, raw, flags;
        const char* why;
    };
    for (const Case& c :
         {Case{8, 100, 0xffffffff, 1, "raw length past the largest chunk"},
          Case{8, 0xffffffff, 1000, 1, "stored length does not fit"},
          Case{8, 10, 20, 0, "stored length does not fit"}, Case{8, 10, 10, 6, "unknown flags"},
          Case{0, 10, 10, 0, "offset out of range"},
          Case{~uint64_t(0) - 4, 10, 10, 0, "offset out of range"}}) {
        INFO(c.why);
        std::string idx = "WMIDX001";
        put_id(idx, checksum128("chunk", 5));
        put_id(idx, checksum128("pack", 4));
        put_u64(idx, c.offset);
        put_u32(idx, c.stored);
        put_u32(idx, c.raw);
        put_u32(idx, c.flags);
        put_u32(idx, 0);
        put_u64(idx, 1);
        put_id(idx, checksum128(idx.data(), idx.size()));
        std::string path = t / "repo/index/bad.idx";
        ::unlink(path.c_str());
        REQUIRE(wmrun::write_file_atomic(path, idx));
        auto opened = Repository::open(t / "repo");
        REQUIRE_FALSE(opened);
        CHECK(opened.error().message().find("entry 0: " + std::string(c.why)) != std::string::npos);
    }
}

TEST_CASE("a config nested past the JSON limit or with parameters init refuses is refused") {
    TempDir t;
    open_new(t);
    auto config = wmrun::read_file(t / "repo/config");
    REQUIRE(config);
    std::string deep = *config;
    deep.insert(deep.rfind('}'), R"(,"x":[[[[[[[[1]]]]]]]])");
    REQUIRE(wmrun::write_file_atomic(t / "repo/config", deep, 0600));
    CHECK(Repository::open(t / "repo"));
    auto refused = Repository::open(t / "repo", {.max_json_depth = 8});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message().find("nested deeper than the limit of 8") != std::string::npos);

    const std::tuple<const char*, const char*, const char*> bad_configs[] = {
        {"\"level\": 3", "\"level\": 22", "compression level"},
        {"\"pack_size\": 16777216", "\"pack_size\": 0", "pack size"}};
    for (auto [from, to, why] : bad_configs) {
        std::string bad = *config;
        REQUIRE(bad.find(from) != std::string::npos);
        bad.replace(bad.find(from), std::string(from).size(), to);
        REQUIRE(wmrun::write_file_atomic(t / "repo/config", bad, 0600));
        auto opened = Repository::open(t / "repo");
        REQUIRE_FALSE(opened);
        CHECK(opened.error().message().find(why) != std::string::npos);
    }
}
