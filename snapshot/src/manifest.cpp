// Manifest files: WMSNAP01, one zstd frame of the JSON (manifest_json.cpp), keyed checksum.
#include "manifest.hpp"

#include <fcntl.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMSNAP01";
constexpr size_t kChecksumSize = 16;
constexpr std::string_view kSizeFlag = "--max-manifest-size";

// Largest file a manifest within `limit` can be (ZSTD_COMPRESSBOUND, saturating).
uint64_t max_file_size(uint64_t limit) {
    uint64_t bound = limit + limit / 128 + (128 << 10) + kMagic.size() + kChecksumSize;
    return bound < limit ? UINT64_MAX : bound;
}

struct DCtx {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ~DCtx() { ZSTD_freeDCtx(d); }
};

}  // namespace

Result<std::string> manifest_text(const Manifest& m, const Limits& limits) {
    std::string text = manifest_json(m);
    if (text.size() > limits.max_manifest_size)
        return fail(
            "write snapshot", "manifest",
            over_limit(std::to_string(text.size()) + " bytes", limits.max_manifest_size, kSizeFlag),
            EFBIG);
    return text;
}

Result<std::string> write_manifest(const std::string& repo, const KeyedHasher& hasher,
                                   const std::string& text, const std::string& received_id) {
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
    std::string id = received_id.empty() ? sum.hex() : received_id;
    WM_CHECK(write_repo_file(repo, "snapshots/" + id, out));
    return id;
}

Result<std::string> decompress_manifest(std::string_view frame, uint64_t limit,
                                        const std::string& op, const std::string& name) {
    unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) return fail(op, name, "bad zstd frame");
    const bool known = declared != ZSTD_CONTENTSIZE_UNKNOWN;
    auto too_large = [&](const std::string& size) {
        return fail(op, name, over_limit("manifest of " + size, limit, kSizeFlag), EFBIG);
    };
    if (known && declared > limit) return too_large(std::to_string(declared) + " bytes");
    // The output starts at what the frame's own bytes can plausibly expand to (manifests
    // compress about 4:1) and doubles as output really comes, one byte past the limit at
    // most. A truthful declared size is reached at once, and zstd then decodes in one pass.
    const uint64_t hard_cap = std::min<uint64_t>(limit, SIZE_MAX / 4) + 1;
    uint64_t first = std::min<uint64_t>(frame.size(), SIZE_MAX / 64) * 16 + (64 << 10);
    if (known) first = std::min<uint64_t>(first, declared + 1);
    first = std::min(first, hard_cap);
    DCtx ctx;
    std::string text;
    size_t used = 0;
    ZSTD_inBuffer in{frame.data(), frame.size(), 0};
    for (;;) {
        if (used == text.size()) {
            if (used == hard_cap) return too_large("more than " + std::to_string(limit) + " bytes");
            size_t next = size_t(used == 0 ? first : std::min<uint64_t>(hard_cap, used * 2));
            resize_uninitialized(text, next);
        }
        ZSTD_outBuffer out{text.data(), text.size(), used};
        size_t left = ZSTD_decompressStream(ctx.d, &out, &in);
        used = out.pos;
        if (ZSTD_isError(left))
            return fail(op, name,
                        std::string("cannot decompress the manifest: ") + ZSTD_getErrorName(left));
        if (left == 0) break;  // the frame is complete
        if (in.pos == in.size && out.pos < out.size)
            return fail(op, name, "the manifest's zstd frame is truncated");
    }
    if (used > limit) return too_large("more than " + std::to_string(limit) + " bytes");
    if (in.pos != in.size) return fail(op, name, "data after the manifest's zstd frame");
    if (known && used != declared)
        return fail(op, name, "the manifest's length does not match its zstd frame header");
    text.resize(used);
    return text;
}

Result<Manifest> decode_manifest_file(std::string_view data, const KeyedHasher& hasher,
                                      const std::string& id, const std::string& name,
                                      const Limits& limits) {
    if (data.size() < kMagic.size() + kChecksumSize || !data.starts_with(kMagic))
        return fail("read snapshot", name, "bad header");
    std::string_view frame =
        data.substr(kMagic.size(), data.size() - kMagic.size() - kChecksumSize);
    std::string text =
        WM_TRY(decompress_manifest(frame, limits.max_manifest_size, "read snapshot", name));
    ChunkId sum = hasher(text.data(), text.size());
    if (std::memcmp(sum.bytes.data(), data.data() + data.size() - kChecksumSize, kChecksumSize) !=
        0)
        return fail("read snapshot", name, "checksum mismatch");
    Manifest m = WM_TRY(parse_manifest_json(text, name, limits.max_json_depth));
    // A received snapshot is stored under the id its sender gave it, which its text records.
    if (sum.hex() != id && m.origin_snapshot != id)
        return fail("read snapshot", name, "checksum mismatch");
    return m;
}

Result<Manifest> read_manifest(const std::string& repo, const KeyedHasher& hasher,
                               const std::string& id, const Limits& limits) {
    std::string path = repo + "/snapshots/" + id;
    UniqueFd fd = WM_TRY(open_file(path, O_RDONLY | O_CLOEXEC));
    // One byte past the largest possible file is enough to refuse it.
    uint64_t max = max_file_size(limits.max_manifest_size);
    std::string data =
        WM_TRY(read_fd(fd.get(), path, size_t(std::min<uint64_t>(max, SIZE_MAX - 1)) + 1));
    if (data.size() > max)
        return fail("read snapshot", path,
                    over_limit("a file larger than any manifest within the limit compresses to",
                               limits.max_manifest_size, kSizeFlag),
                    EFBIG);
    return decode_manifest_file(data, hasher, id, path, limits);
}

std::string tree_path(std::string_view path) {
    while (path.starts_with('/'))
        path.remove_prefix(1);
    while (path.ends_with('/'))
        path.remove_suffix(1);
    return path == "." ? "" : std::string(path);
}

bool path_under(std::string_view path, std::string_view prefix) {
    if (prefix.empty()) return true;
    return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace wmrun::snapshot
