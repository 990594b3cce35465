#include "wmrun/overlay/unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "layer_writer.hpp"
#include "unpack_stream.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/temp_dir.hpp"

namespace wmrun::overlay {

namespace {

struct ArchiveDeleter {
    void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

// Large reads: a layer is tens of MiB, and each read is one syscall and one hasher update.
constexpr std::size_t kBufSize = 1024 * 1024;

// The compressed blob as read from its file: every byte passes the verifier and, when the
// store's copy is being made, goes to it from the same buffer.
struct BlobSource {
    int fd;
    int copy_fd;
    BlobVerifier verifier;
    const UnpackOptions* opt;
    std::string where;
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(kBufSize);
    std::optional<Error> error;

    ssize_t read_some() {
        if (opt->cancel && opt->cancel->load(std::memory_order_relaxed)) {
            error = Error{"unpack layer", where, ECANCELED, "cancelled"};
            return -1;
        }
        for (;;) {
            ssize_t n = ::read(fd, buf.get(), kBufSize);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                error = Error{"read", where, errno, {}};
                return -1;
            }
            if (auto r = verifier.update(buf.get(), static_cast<std::size_t>(n)); !r) {
                error = r.error();
                return -1;
            }
            if (copy_fd >= 0 && n > 0) {
                auto w = write_all(copy_fd, {buf.get(), static_cast<std::size_t>(n)}, where);
                if (!w) {
                    error = w.error();
                    return -1;
                }
            }
            if (opt->on_bytes) opt->on_bytes(verifier.bytes());
            return n;
        }
    }
};

la_ssize_t blob_read(archive* a, void* client, const void** out) {
    auto* src = static_cast<BlobSource*>(client);
    ssize_t n = src->read_some();
    if (n < 0) {
        archive_set_error(a, EIO, "%s", src->error->message().c_str());
        return -1;
    }
    *out = src->buf.get();
    return n;
}

// The uncompressed tar stream, pulled out of the decompressing reader: its sha256 is the
// layer's diff-id (config.md "rootfs.diff_ids"). Its length is checked against the layer's
// budget before the bytes are passed on, so a bomb stops at the budget, not at its end.
struct TarSource {
    archive* raw;
    const detail::UnpackMeter* meter;
    Hasher diff{DigestAlgorithm::sha256};
    std::uint64_t bytes = 0;
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(kBufSize);
    std::optional<Error> error;
};

la_ssize_t tar_read(archive* a, void* client, const void** out) {
    auto* src = static_cast<TarSource*>(client);
    la_ssize_t n = archive_read_data(src->raw, src->buf.get(), kBufSize);
    if (n < 0) {
        archive_set_error(a, archive_errno(src->raw), "%s", archive_error_string(src->raw));
        return -1;
    }
    if (auto r = src->meter->check_stream(src->bytes, static_cast<std::uint64_t>(n)); !r) {
        src->error = r.error();
        archive_set_error(a, EFBIG, "%s", src->error->message().c_str());
        return -1;
    }
    src->diff.update(src->buf.get(), static_cast<std::size_t>(n));
    src->bytes += static_cast<std::uint64_t>(n);
    *out = src->buf.get();
    return n;
}

int filter_code(Compression c) {
    switch (c) {
        case Compression::gzip:
            return ARCHIVE_FILTER_GZIP;
        case Compression::zstd:
            return ARCHIVE_FILTER_ZSTD;
        case Compression::none:
            break;
    }
    return ARCHIVE_FILTER_NONE;
}

Result<> unpack_stream(BlobSource& blob, const Descriptor& layer, Compression comp,
                       const Digest& diff_id, int rootfd, const UnpackOptions& opt,
                       const std::string& where, UnpackResult& res) {
    detail::UnpackMeter meter(opt.limits.layer_budget(static_cast<std::uint64_t>(layer.size)),
                              opt.limits.max_entries, "layer " + layer.digest.str(), where);
    ArchivePtr raw(archive_read_new());
    if (!raw) return fail("unpack layer", where, "out of memory");
    TarSource tar_src{raw.get(), &meter};
    // Whatever libarchive or the writer says, a failure of our own readers (digest, size, I/O,
    // a limit) is the cause.
    auto own_error = [&]() -> std::optional<Error> {
        if (blob.error) return with_context(*blob.error, "unpack layer");
        return tar_src.error;
    };
    auto archive_fail = [&](archive* a) -> std::unexpected<Error> {
        if (auto e = own_error()) return std::unexpected(*e);
        const char* msg = archive_error_string(a);
        return fail("unpack layer", where, msg ? msg : "archive error");
    };

    if (comp == Compression::gzip) archive_read_support_filter_gzip(raw.get());
    if (comp == Compression::zstd) archive_read_support_filter_zstd(raw.get());
    archive_read_support_format_raw(raw.get());
    if (archive_read_open(raw.get(), &blob, nullptr, blob_read, nullptr) != ARCHIVE_OK)
        return archive_fail(raw.get());
    archive_entry* e = nullptr;
    if (archive_read_next_header(raw.get(), &e) != ARCHIVE_OK) return archive_fail(raw.get());
    if (archive_filter_code(raw.get(), 0) != filter_code(comp))
        return fail("unpack layer", where,
                    "content is not compressed as its media type " + layer.media_type + " says");

    ArchivePtr tar(archive_read_new());
    if (!tar) return fail("unpack layer", where, "out of memory");
    archive_read_support_format_tar(tar.get());
    if (archive_read_open(tar.get(), &tar_src, nullptr, tar_read, nullptr) != ARCHIVE_OK)
        return archive_fail(tar.get());

    detail::LayerWriter writer(rootfd, opt.mode, meter, where);
    for (;;) {
        int r = archive_read_next_header(tar.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return archive_fail(tar.get());
        if (auto w = writer.apply(tar.get(), e); !w)
            return std::unexpected(own_error().value_or(w.error()));
    }
    // The tar reader stops at the end-of-archive blocks; the padding after them is part of the
    // uncompressed stream (and of the diff-id), and the rest of the blob part of its digest.
    const void* ignored = nullptr;
    for (;;) {
        la_ssize_t n = tar_read(tar.get(), &tar_src, &ignored);
        if (n < 0) return archive_fail(tar.get());
        if (n == 0) break;
    }
    for (;;) {
        ssize_t n = blob.read_some();
        if (n < 0) return std::unexpected(with_context(*blob.error, "unpack layer"));
        if (n == 0) break;
    }
    if (auto r = blob.verifier.finish(); !r)
        return std::unexpected(with_context(r.error(), "unpack layer"));
    Digest got = tar_src.diff.finish();
    if (got != diff_id)
        return fail("unpack layer", where,
                    "diff-id mismatch: uncompressed content is " + got.str() +
                        ", the config says " + diff_id.str());
    WM_CHECK(writer.finish());
    res.compressed_bytes = blob.verifier.bytes();
    res.uncompressed_bytes = tar_src.bytes;
    return {};
}

}  // namespace

namespace detail {

Result<UnpackResult> stream_layer(int blob_fd, const Descriptor& layer, const Digest& diff_id,
                                  StreamTargets to, const UnpackOptions& opt,
                                  const std::string& where) {
    UnpackResult res;
    BlobSource blob{blob_fd, to.copy_fd, BlobVerifier(layer.digest, layer.size, where), &opt,
                    where};
    if (to.root_fd >= 0) {
        if (diff_id.algorithm != DigestAlgorithm::sha256)
            return fail("unpack layer", where, "diff-id must be sha256");
        Compression comp = WM_TRY(layer_compression(layer.media_type, where));
        WM_CHECK(unpack_stream(blob, layer, comp, diff_id, to.root_fd, opt, where, res));
        return res;
    }
    for (;;) {
        ssize_t n = blob.read_some();
        if (n < 0) return std::unexpected(*blob.error);
        if (n == 0) break;
    }
    WM_CHECK(blob.verifier.finish());
    res.compressed_bytes = blob.verifier.bytes();
    return res;
}

}  // namespace detail

Result<UnpackResult> unpack_layer_into(int blob_fd, const Descriptor& layer, const Digest& diff_id,
                                       int root_fd, const UnpackOptions& opt,
                                       const std::string& where) {
    if (root_fd < 0) return fail("unpack layer", where, "no directory to unpack into", EBADF);
    return detail::stream_layer(blob_fd, layer, diff_id, {-1, root_fd}, opt, where);
}

Result<UnpackResult> unpack_layer(const std::string& blob_path, const Descriptor& layer,
                                  const Digest& diff_id, const std::string& layers_dir,
                                  const UnpackOptions& opt) {
    UnpackResult res;
    res.path = layers_dir + "/" + diff_id.hex;
    if (diff_id.algorithm != DigestAlgorithm::sha256)
        return fail("unpack layer", blob_path, "diff-id must be sha256");
    WM_CHECK(layer_compression(layer.media_type, blob_path));
    struct stat st {};
    if (::lstat(res.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        res.already_present = true;
        return res;
    }

    TempDir tmp = WM_TRY(TempDir::create(layers_dir, ".tmp-layer-"));
    {
        auto root = WM_TRY(open_file(tmp.path(), O_RDONLY | O_DIRECTORY));
        auto blob = WM_TRY(open_file(blob_path, O_RDONLY));
        auto got =
            WM_TRY(unpack_layer_into(blob.get(), layer, diff_id, root.get(), opt, blob_path));
        res.compressed_bytes = got.compressed_bytes;
        res.uncompressed_bytes = got.uncompressed_bytes;
        // One syncfs instead of an fsync per file: the layer becomes visible only after all of
        // its content is on disk.
        if (::syncfs(root.get()) < 0) return sys_error("syncfs", tmp.path());
    }
    if (::rename(tmp.path().c_str(), res.path.c_str()) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) return sys_error("rename", res.path);
        res.already_present = true;  // another import made it meanwhile; ours goes away
        return res;
    }
    tmp.release();
    auto dir = WM_TRY(open_file(layers_dir, O_RDONLY | O_DIRECTORY));
    if (::fsync(dir.get()) < 0) return sys_error("fsync", layers_dir);
    return res;
}

}  // namespace wmrun::overlay
