#include "layer_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "entry_path.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/path.hpp"

namespace wmrun::overlay::detail {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

// overlayfs reads its own xattrs (redirect, metacopy, origin, ...) from lower layers; an image
// that carried them could make the merged view point at other files, so they never pass.
bool is_overlay_xattr(std::string_view name) {
    return starts_with(name, "trusted.overlay.") || starts_with(name, "user.overlay.");
}

// A relative symlink target must not climb above the layer root from where the link sits.
// Absolute targets are resolved by the kernel inside the container's root, never on the host
// by this code (nothing here follows a symlink), so they are kept as images need them.
bool symlink_escapes(const std::vector<std::string>& comps, std::string_view target) {
    if (!target.empty() && target.front() == '/') return false;
    long depth = static_cast<long>(comps.size()) - 1;
    std::size_t pos = 0;
    while (pos <= target.size()) {
        auto next = target.find('/', pos);
        if (next == std::string_view::npos) next = target.size();
        std::string_view part = target.substr(pos, next - pos);
        if (part == "..") {
            if (--depth < 0) return true;
        } else if (!part.empty() && part != ".") {
            ++depth;
        }
        pos = next + 1;
    }
    return false;
}

std::string at_path(int dirfd, const std::string& base) {
    return fd_path(dirfd) + "/" + base;
}

}  // namespace

std::string LayerWriter::opaque_xattr() const {
    return mode_ == WhiteoutMode::root ? "trusted.overlay.opaque" : "user.overlay.opaque";
}

Result<bool> LayerWriter::remove_existing(int parent, const std::string& base, bool keep_dir,
                                          const std::string& shown) {
    struct stat st {};
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return false;
        return sys_error("stat", where_ + ": " + shown);
    }
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir) return true;
        // Members' parents come from the cache, which then holds this dir's parent, not a dir
        // at or below it; any other caller's removal could orphan the cached dir.
        if (parent != cached_fd_.get()) {
            cached_parent_.clear();
            cached_fd_.reset();
        }
        WM_CHECK(remove_all(at_path(parent, base)));
        return false;
    }
    if (::unlinkat(parent, base.c_str(), 0) < 0) return sys_error("unlink", where_ + ": " + shown);
    return false;
}

Result<> LayerWriter::whiteout(int parent, const std::string& base, const std::string& shown) {
    if (base == kOpaqueMarker) {
        if (::fsetxattr(parent, opaque_xattr().c_str(), "y", 1, 0) < 0)
            return sys_error("setxattr " + opaque_xattr(), where_ + ": " + shown);
        return {};
    }
    std::string name = base.substr(kWhiteoutPrefix.size());
    if (name.empty() || name == "." || name == "..")
        return fail("unpack", where_, shown + ": invalid whiteout name");
    // A whiteout hides only lower layers' files (layer.md#whiteouts): a file of the same name
    // in this layer stays, and already shadows the lower ones.
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return {};
    if (::mknodat(parent, name.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
        return sys_error("mknod whiteout", where_ + ": " + shown);
    return {};
}

Result<> LayerWriter::hardlink(int parent, const std::string& base, const char* target,
                               const std::string& shown, const std::vector<std::string>& comps) {
    auto tcomps = WM_TRY(split_member_path(target, where_));
    if (tcomps.empty() || tcomps == comps)
        return fail("unpack", where_, shown + ": invalid hardlink target \"" + target + "\"");
    auto tparent = open_dir_below(root_, tcomps, tcomps.size() - 1, false, where_);
    if (!tparent && tparent.error().err == ENOENT)
        return fail("unpack", where_,
                    shown + ": hardlink to \"" + target + "\", which is not in the layer");
    if (!tparent) return std::unexpected(tparent.error());
    struct stat st {};
    if (::fstatat(tparent->get(), tcomps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail("unpack", where_,
                    shown + ": hardlink to \"" + target + "\", which is not in the layer");
    if (S_ISDIR(st.st_mode))
        return fail("unpack", where_, shown + ": hardlink to a directory \"" + target + "\"");
    WM_CHECK(remove_existing(parent, base, false, shown));
    // Flags 0: a symlink target is linked itself, never followed.
    if (::linkat(tparent->get(), tcomps.back().c_str(), parent, base.c_str(), 0) < 0)
        return sys_error("link", where_ + ": " + shown);
    return {};
}

Result<int> LayerWriter::parent_dir(const std::vector<std::string>& comps) {
    std::string key = join_components(comps, comps.size() - 1);
    if (cached_fd_ && key == cached_parent_) return cached_fd_.get();
    cached_fd_ = WM_TRY(open_dir_below(root_, comps, comps.size() - 1, true, where_));
    cached_parent_ = std::move(key);
    return cached_fd_.get();
}

Result<> LayerWriter::regular_file(archive* a, archive_entry* e, int parent,
                                   const std::string& base, const std::string& shown) {
    constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    // Create first: a name taken by an earlier member is rare, so the stat that clears it is
    // paid only then.
    UniqueFd fd(::openat(parent, base.c_str(), kFlags, 0600));
    if (!fd && errno == EEXIST) {
        WM_CHECK(remove_existing(parent, base, false, shown));
        fd.reset(::openat(parent, base.c_str(), kFlags, 0600));
    }
    if (!fd) return sys_error("create", where_ + ": " + shown);
    WM_CHECK(write_member_data(a, e, fd.get(), meter_, where_, shown));
    return metadata(e, fd.get(), parent, base, shown, false);
}

Result<> LayerWriter::metadata(archive_entry* e, int fd, int parent, const std::string& base,
                               const std::string& shown, bool is_symlink) {
    const char* name = base.c_str();
    std::string err_at = where_ + ": " + shown;
    auto uid = static_cast<uid_t>(archive_entry_uid(e));
    auto gid = static_cast<gid_t>(archive_entry_gid(e));
    mode_t mode = archive_entry_perm(e) & 07777;
    // Order matters: chown clears set-id bits and security.capability, so mode and xattrs
    // come after it.
    int r =
        fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (r < 0) return sys_error("chown", err_at);
    if (!is_symlink) {
        r = fd >= 0 ? ::fchmod(fd, mode) : ::fchmodat(parent, name, mode, 0);
        if (r < 0) return sys_error("chmod", err_at);
    }
    archive_entry_xattr_reset(e);
    const char* xname = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    std::string full;
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
        if (xname == nullptr || is_overlay_xattr(xname)) continue;
        if (fd >= 0) {
            r = ::fsetxattr(fd, xname, value, size, 0);
        } else {
            if (full.empty()) full = at_path(parent, base);
            r = ::lsetxattr(full.c_str(), xname, value, size, 0);
        }
        if (r < 0) return sys_error(std::string("setxattr ") + xname, err_at);
    }
    timespec ts[2];
    ts[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    ts[0] = archive_entry_atime_is_set(e)
                ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
                : ts[1];
    r = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW);
    if (r < 0) return sys_error("utimensat", err_at);
    return {};
}

Result<> LayerWriter::apply(archive* a, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) return fail("unpack", where_, "member without a name");
    WM_CHECK(meter_.add_entry(raw));
    std::string shown = raw;
    auto comps = WM_TRY(split_member_path(shown, where_));
    const char* link = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);

    if (comps.empty()) {  // "./": the layer's root directory
        if (link != nullptr || type != AE_IFDIR)
            return fail("unpack", where_, shown + ": the root must be a directory");
        root_meta_ = Meta{static_cast<uid_t>(archive_entry_uid(e)),
                          static_cast<gid_t>(archive_entry_gid(e)),
                          static_cast<mode_t>(archive_entry_perm(e) & 07777),
                          {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
        return {};
    }
    const std::string& base = comps.back();
    int parent = WM_TRY(parent_dir(comps));

    if (starts_with(base, kWhiteoutPrefix)) return whiteout(parent, base, shown);
    if (link != nullptr) return hardlink(parent, base, link, shown, comps);

    switch (type) {
        case AE_IFREG:
            return regular_file(a, e, parent, base, shown);
        case AE_IFDIR: {
            // mkdir first; only a taken name needs the stat (an existing dir is kept).
            if (::mkdirat(parent, base.c_str(), 0700) < 0) {
                if (errno != EEXIST) return sys_error("mkdir", where_ + ": " + shown);
                bool kept = WM_TRY(remove_existing(parent, base, true, shown));
                if (!kept && ::mkdirat(parent, base.c_str(), 0700) < 0)
                    return sys_error("mkdir", where_ + ": " + shown);
            }
            dir_times_.push_back({comps, {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}});
            break;
        }
        case AE_IFLNK: {
            const char* target = archive_entry_symlink(e);
            if (target == nullptr || *target == '\0')
                return fail("unpack", where_, shown + ": symlink without a target");
            if (symlink_escapes(comps, target))
                return fail("unpack", where_,
                            shown + ": symlink to \"" + target + "\" leads out of the layer");
            if (::symlinkat(target, parent, base.c_str()) < 0) {
                if (errno != EEXIST) return sys_error("symlink", where_ + ": " + shown);
                WM_CHECK(remove_existing(parent, base, false, shown));
                if (::symlinkat(target, parent, base.c_str()) < 0)
                    return sys_error("symlink", where_ + ": " + shown);
            }
            return metadata(e, -1, parent, base, shown, true);
        }
        case AE_IFCHR:
        case AE_IFBLK:
            if (mode_ == WhiteoutMode::rootless)
                return fail("unpack", where_, shown + ": device nodes need root");
            [[fallthrough]];
        case AE_IFIFO:
            WM_CHECK(remove_existing(parent, base, false, shown));
            if (::mknodat(parent, base.c_str(), type | 0600, archive_entry_rdev(e)) < 0)
                return sys_error("mknod", where_ + ": " + shown);
            break;
        default:
            return fail("unpack", where_, shown + ": unsupported member type");
    }
    return metadata(e, -1, parent, base, shown, false);
}

Result<> LayerWriter::finish() {
    for (const auto& d : dir_times_) {
        auto fd = WM_TRY(open_dir_below(root_, d.comps, d.comps.size(), false, where_));
        timespec ts[2] = {d.mtime, d.mtime};
        if (::futimens(fd.get(), ts) < 0)
            return sys_error("utimensat", where_ + ": " + join_components(d.comps, d.comps.size()));
    }
    Meta m = root_meta_.value_or(Meta{0, 0, 0755, {0, UTIME_OMIT}});
    if (root_meta_ && ::fchown(root_, m.uid, m.gid) < 0) return sys_error("chown", where_ + ": /");
    if (::fchmod(root_, m.mode) < 0) return sys_error("chmod", where_ + ": /");
    timespec ts[2] = {m.mtime, m.mtime};
    if (root_meta_ && ::futimens(root_, ts) < 0) return sys_error("utimensat", where_ + ": /");
    return {};
}

}  // namespace wmrun::overlay::detail
