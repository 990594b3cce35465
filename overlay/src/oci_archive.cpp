// oci-archive: a tar whose members are an image layout (oci-layout, index.json, blobs/...).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "entry_path.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/layout.hpp"

namespace wmrun::overlay {

namespace {

struct ArchiveDeleter {
    void operator()(archive* a) const { archive_read_free(a); }
};

Result<> extract_member(archive* a, archive_entry* e, int rootfd, const std::string& where) {
    std::string shown = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
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
    const void* buf = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
            return fail("extract oci-archive", where, shown + ": " + archive_error_string(a));
        if (::lseek(fd.get(), offset, SEEK_SET) < 0) return sys_error("seek", where + ": " + shown);
        WM_CHECK(write_all(fd.get(), {static_cast<const char*>(buf), size}, where + ": " + shown));
    }
    if (::ftruncate(fd.get(), archive_entry_size(e)) < 0)
        return sys_error("truncate", where + ": " + shown);
    return {};
}

}  // namespace

Result<ArchiveLayout> ArchiveLayout::extract(const std::string& tar_path,
                                             const std::string& temp_parent) {
    ArchiveLayout out;
    out.dir_ = WM_TRY(TempDir::create(temp_parent, ".tmp-archive-"));
    auto root = WM_TRY(open_file(out.dir_.path(), O_RDONLY | O_DIRECTORY));
    std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
    if (!a) return fail("extract oci-archive", tar_path, "out of memory");
    // skopeo and buildah write plain tars; compressed ones are accepted too.
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), tar_path.c_str(), 256 * 1024) != ARCHIVE_OK)
        return fail("extract oci-archive", tar_path, archive_error_string(a.get()));
    archive_entry* e = nullptr;
    for (;;) {
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
            return fail("extract oci-archive", tar_path, archive_error_string(a.get()));
        WM_CHECK(extract_member(a.get(), e, root.get(), tar_path));
    }
    auto layout = Layout::open(out.dir_.path());
    if (!layout)
        return std::unexpected(with_context(layout.error(), "read oci-archive " + tar_path));
    out.layout_ = std::move(*layout);
    return out;
}

}  // namespace wmrun::overlay
