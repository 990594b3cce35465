// oci-archive: a tar whose members are an image layout (oci-layout, index.json, blobs/...).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "entry_path.hpp"
#include "unpack_meter.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/layout.hpp"

namespace wmrun::overlay {

namespace {

struct ArchiveDeleter {
    void operator()(archive* a) const { archive_read_free(a); }
};

std::string archive_message(archive* a) {
    const char* msg = archive_error_string(a);
    return msg ? msg : "archive error";
}

Result<> extract_member(archive* a, archive_entry* e, int rootfd, detail::UnpackMeter& meter,
                        const std::string& where) {
    std::string shown = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    WM_CHECK(meter.add_entry(shown));
    auto comps = WM_TRY(detail::split_member_path(shown, where));
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) != nullptr || (type != AE_IFDIR && type != AE_IFREG))
        return fail("extract oci-archive", where,
                    shown + ": only directories and regular files belong in an image layout");
    if (comps.empty()) return {};
    if (type == AE_IFDIR) {
        WM_CHECK(detail::open_dir_below(rootfd, comps, comps.size(), true, where));
        return {};
    }
    auto parent = WM_TRY(detail::open_dir_below(rootfd, comps, comps.size() - 1, true, where));
    UniqueFd fd(::openat(parent.get(), comps.back().c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return sys_error("create", where + ": " + shown);
    return detail::write_member_data(a, e, fd.get(), meter, where, shown);
}

}  // namespace

Result<ArchiveLayout> ArchiveLayout::extract(const std::string& tar_path,
                                             const std::string& temp_parent,
                                             const ImageLimits& limits) {
    auto tar = WM_TRY(open_file(tar_path, O_RDONLY));
    struct stat st {};
    if (::fstat(tar.get(), &st) < 0) return sys_error("stat", tar_path);
    if (!S_ISREG(st.st_mode)) return fail("extract oci-archive", tar_path, "not a regular file");
    detail::UnpackMeter meter(limits.layer.archive_budget(static_cast<std::uint64_t>(st.st_size)),
                              limits.layer.max_entries, "oci-archive", tar_path);
    ArchiveLayout out;
    out.dir_ = WM_TRY(TempDir::create(temp_parent, ".tmp-archive-"));
    auto root = WM_TRY(open_file(out.dir_.path(), O_RDONLY | O_DIRECTORY));
    std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
    if (!a) return fail("extract oci-archive", tar_path, "out of memory");
    // skopeo and buildah write plain tars; compressed ones are accepted too.
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_fd(a.get(), tar.get(), 256 * 1024) != ARCHIVE_OK)
        return fail("extract oci-archive", tar_path, archive_message(a.get()));
    archive_entry* e = nullptr;
    for (;;) {
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
            return fail("extract oci-archive", tar_path, archive_message(a.get()));
        // The uncompressed stream so far (headers included: a pax header may be large and
        // say nothing), as libarchive's filter counts it.
        auto uncompressed = static_cast<std::uint64_t>(archive_filter_bytes(a.get(), 0));
        WM_CHECK(meter.check_stream(0, uncompressed));
        WM_CHECK(extract_member(a.get(), e, root.get(), meter, tar_path));
    }
    auto layout = Layout::open(out.dir_.path(), limits);
    if (!layout)
        return std::unexpected(with_context(layout.error(), "read oci-archive " + tar_path));
    out.layout_ = std::move(*layout);
    return out;
}

}  // namespace wmrun::overlay
