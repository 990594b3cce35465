// Manifest files: WMSNAP01, one zstd frame of the JSON (manifest_json.cpp), keyed checksum.
#include "manifest.hpp"

#include <zstd.h>

#include <cstring>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMSNAP01";

}  // namespace

Result<std::string> write_manifest(const std::string& repo, const KeyedHasher& hasher,
                                   const Manifest& m) {
    std::string text = manifest_json(m);
    // resize_and_overwrite: the buffers of a manifest run to megabytes, and zero-filling them
    // first would cost as much as a no-change snapshot's walk of a small tree.
    std::string out;
    size_t bound = ZSTD_compressBound(text.size());
    size_t n = 0;
    out.resize_and_overwrite(kMagic.size() + bound, [&](char* p, size_t size) {
        std::memcpy(p, kMagic.data(), kMagic.size());
        n = ZSTD_compress(p + kMagic.size(), size - kMagic.size(), text.data(), text.size(), 3);
        return ZSTD_isError(n) ? size_t(0) : kMagic.size() + n;
    });
    if (ZSTD_isError(n)) return fail("compress manifest", repo, ZSTD_getErrorName(n));
    ChunkId sum = hasher(text.data(), text.size());
    put_id(out, sum);
    std::string id = sum.hex();
    WM_CHECK(write_repo_file(repo, "snapshots/" + id, out));
    return id;
}

Result<Manifest> read_manifest(const std::string& repo, const KeyedHasher& hasher,
                               const std::string& id) {
    std::string path = repo + "/snapshots/" + id;
    std::string data = WM_TRY(read_file(path));
    if (data.size() < kMagic.size() + 16 || !data.starts_with(kMagic))
        return fail("read snapshot", path, "bad header");
    const char* frame = data.data() + kMagic.size();
    size_t frame_len = data.size() - kMagic.size() - 16;
    unsigned long long raw_len = ZSTD_getFrameContentSize(frame, frame_len);
    if (raw_len == ZSTD_CONTENTSIZE_ERROR || raw_len == ZSTD_CONTENTSIZE_UNKNOWN ||
        raw_len > (1ull << 34))
        return fail("read snapshot", path, "bad zstd frame");
    std::string text;
    size_t n = 0;
    text.resize_and_overwrite(size_t(raw_len), [&](char* p, size_t size) {
        n = ZSTD_decompress(p, size, frame, frame_len);
        return ZSTD_isError(n) ? size_t(0) : n;
    });
    if (ZSTD_isError(n) || n != raw_len) return fail("read snapshot", path, "decompress failed");
    ChunkId sum = hasher(text.data(), text.size());
    if (std::memcmp(sum.bytes.data(), data.data() + data.size() - 16, 16) != 0 || sum.hex() != id)
        return fail("read snapshot", path, "checksum mismatch");
    return parse_manifest_json(text, path);
}

}  // namespace wmrun::snapshot
