// restore: recreates a snapshot's tree in an empty directory, re-hashing every chunk.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_set>

#include "fs_meta.hpp"
#include "manifest.hpp"
#include "pack.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

// A manifest path must stay below the target: no "", ".", ".." components, no leading "/".
bool safe_path(const std::string& p) {
    if (p.empty() || p.front() == '/') return false;
    size_t start = 0;
    for (;;) {
        size_t end = p.find('/', start);
        std::string_view part(p.data() + start,
                              (end == std::string::npos ? p.size() : end) - start);
        if (part.empty() || part == "." || part == "..") return false;
        if (end == std::string::npos) return true;
        start = end + 1;
    }
}

class PackCache {
  public:
    explicit PackCache(const std::string& repo) : repo_(repo) {}
    Result<int> fd(const ChunkId& pack) {
        auto it = fds_.find(pack);
        if (it != fds_.end()) return it->second.get();
        if (fds_.size() >= 64) fds_.clear();  // bounded: restores read packs roughly in order
        UniqueFd f = WM_TRY(open_file(repo_ + "/" + pack_rel_path(pack), O_RDONLY | O_CLOEXEC));
        int raw = f.get();
        fds_.emplace(pack, std::move(f));
        return raw;
    }

  private:
    std::string repo_;
    std::map<ChunkId, UniqueFd> fds_;
};

struct Restorer {
    Repository::State& s;
    int root;
    const std::string& target;
    PackCache packs;
    std::vector<std::string> damaged;
    std::optional<Error> first_error;
    uint64_t bytes = 0;
    size_t skip = 0;

    Result<std::vector<uint8_t>> chunk(const ChunkId& id, const std::string& path) {
        const Location* loc = s.index.find(id);
        if (!loc) return fail("restore " + path, id.hex(), "chunk missing from the index");
        int fd = WM_TRY(packs.fd(loc->pack));
        auto data = WM_TRY(read_blob(fd, *loc, pack_rel_path(loc->pack)));
        if (s.hasher(data.data(), data.size()) != id)
            return fail("restore " + path, id.hex(), "chunk does not match its id");
        return data;
    }

    // A chunk that cannot be read or fails its hash leaves its range a hole and marks the file
    // damaged; the length of the range comes from the index, or from the file's extents.
    Result<> write_content(int fd, const Entry& e, const std::string& host_path) {
        // A new file is empty: its length needs setting only for holes, or when a damaged
        // chunk left its range unwritten.
        bool dense = e.extents.empty() ? e.size == 0
                                       : e.extents.size() == 1 && e.extents[0].first == 0 &&
                                             e.extents[0].second == e.size;
        size_t damaged_before = damaged.size();
        Result<> r = write_chunks(fd, e, host_path);
        if (r && (!dense || damaged.size() != damaged_before) && ::ftruncate(fd, off_t(e.size)) < 0)
            return sys_error("ftruncate", host_path);
        return r;
    }

    Result<> write_chunks(int fd, const Entry& e, const std::string& host_path) {
        size_t ext = 0;
        uint64_t in_ext = 0;
        for (const auto& id : e.chunks) {
            auto data = chunk(id, e.path);
            if (!data) {
                if (!first_error) first_error = data.error();
                if (damaged.empty() || damaged.back() != e.path) damaged.push_back(e.path);
                const Location* loc = s.index.find(id);
                if (!loc) return {};  // the length is unknown: the rest of the file stays holes
                data = std::vector<uint8_t>();
                skip = loc->raw_len;
            }
            size_t pos = 0, len = skip ? skip : data->size();
            while (pos < len) {
                while (ext < e.extents.size() && in_ext == e.extents[ext].second) {
                    ++ext;
                    in_ext = 0;
                }
                if (ext == e.extents.size())
                    return fail("restore", host_path, "chunks longer than the extents");
                size_t n = size_t(std::min<uint64_t>(len - pos, e.extents[ext].second - in_ext));
                if (!skip)
                    WM_CHECK(pwrite_all(fd, data->data() + pos, n, e.extents[ext].first + in_ext,
                                        host_path));
                pos += n;
                in_ext += n;
            }
            bytes += skip ? 0 : len;
            skip = 0;
        }
        return {};
    }

    // Owner first (chown clears setuid and security.capability), then mode, then xattrs.
    Result<> set_meta(int dirfd, const std::string& name, const Entry& e,
                      const std::string& host_path) {
        const char* n = name.c_str();
        if (::fchownat(dirfd, n, e.uid, e.gid, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
            return sys_error("chown", host_path);
        if (e.type != EntryType::symlink &&
            (name.empty() ? ::fchmod(dirfd, e.mode) : ::fchmodat(dirfd, n, e.mode, 0)) < 0)
            return sys_error("chmod", host_path);
        WM_CHECK(write_xattrs(
            name.empty() ? "/proc/self/fd/" + std::to_string(dirfd) : fd_path(dirfd, name),
            e.xattrs));
        if (e.type != EntryType::dir) WM_CHECK(set_time(dirfd, name, e, host_path));
        return {};
    }

    // set_meta for a regular file through its open fd: no path lookups.
    Result<> set_file_meta(int fd, const Entry& e, const std::string& host_path) {
        if (::fchown(fd, e.uid, e.gid) < 0) return sys_error("chown", host_path);
        if (::fchmod(fd, e.mode) < 0) return sys_error("chmod", host_path);
        for (const auto& [xname, value] : e.xattrs)
            if (::fsetxattr(fd, xname.c_str(), value.data(), value.size(), 0) < 0)
                return sys_error("lsetxattr " + xname, host_path);
        return set_time(fd, "", e, host_path);
    }

    Result<> set_time(int dirfd, const std::string& name, const Entry& e,
                      const std::string& host_path) {
        timespec ts[2] = {{0, UTIME_OMIT}, {e.mtime_ns / 1000000000, e.mtime_ns % 1000000000}};
        if (ts[1].tv_nsec < 0) {
            ts[1].tv_nsec += 1000000000;
            ts[1].tv_sec -= 1;
        }
        if ((name.empty() ? ::futimens(dirfd, ts)
                          : ::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW)) < 0)
            return sys_error("utimensat", host_path);
        return {};
    }
};

}  // namespace

Result<RestoreResult> Repository::restore(const std::string& snapshot, const std::string& target,
                                          const RestoreOptions& options) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    std::string id = WM_TRY(resolve(snapshot));
    Manifest m = WM_TRY(read_manifest(s_->dir, s_->hasher, id));
    for (const auto& e : m.tree)
        if (e.path != "." && !safe_path(e.path))
            return fail("restore", e.path, "unsafe path in snapshot");

    WM_CHECK(mkdir_all(target, 0700));
    UniqueFd root = WM_TRY(open_file(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!WM_TRY(read_dir_names(root.get(), target)).empty())
        return fail("restore", target, "target directory is not empty", ENOTEMPTY);

    Restorer r{*s_, root.get(), target, PackCache(s_->dir), {}, {}, 0, 0};
    RestoreResult result;
    result.id = id;
    Progress progress;
    for (const auto& e : m.tree)
        if (e.type == EntryType::file) ++progress.items_total, progress.bytes_total += e.size;
    // Open directories from the root down to the current entry's parent; the manifest lists
    // a directory before its children, so the parent is always on this stack.
    std::vector<std::pair<std::string, UniqueFd>> stack;
    std::unordered_set<std::string> files;  // regular files made here: valid hardlink targets
    std::vector<const Entry*> dirs;
    for (const auto& e : m.tree) {
        std::string host_path = target + "/" + e.path;
        if (e.path == ".") {
            WM_CHECK(r.set_meta(root.get(), "", e, target));
            dirs.push_back(&e);
            continue;
        }
        size_t slash = e.path.rfind('/');
        std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
        std::string name = e.path.substr(slash == std::string::npos ? 0 : slash + 1);
        while (!stack.empty() && stack.back().first != parent)
            stack.pop_back();
        if (stack.empty() && !parent.empty())
            return fail("restore", e.path, "entry before its directory in snapshot");
        int dirfd = stack.empty() ? root.get() : stack.back().second.get();
        const char* n = name.c_str();

        switch (e.type) {
            case EntryType::dir: {
                if (::mkdirat(dirfd, n, 0700) < 0) return sys_error("mkdir", host_path);
                int fd = ::openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) return sys_error("open", host_path);
                stack.emplace_back(e.path, UniqueFd(fd));
                dirs.push_back(&e);
                ++result.dirs;
                break;
            }
            case EntryType::file: {
                int fd =
                    ::openat(dirfd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0) return sys_error("create", host_path);
                UniqueFd file(fd);
                WM_CHECK(r.write_content(fd, e, host_path));
                WM_CHECK(r.set_file_meta(fd, e, host_path));
                files.insert(e.path);
                ++result.files;
                ++progress.items;
                progress.bytes += e.size;
                if (options.progress) options.progress(progress);
                break;
            }
            case EntryType::symlink:
                if (::symlinkat(e.target.c_str(), dirfd, n) < 0)
                    return sys_error("symlink", host_path);
                break;
            case EntryType::fifo:
                if (::mknodat(dirfd, n, S_IFIFO | 0600, 0) < 0)
                    return sys_error("mkfifo", host_path);
                break;
            case EntryType::chr:
            case EntryType::blk:
                if (::mknodat(dirfd, n, (e.type == EntryType::chr ? S_IFCHR : S_IFBLK) | 0600,
                              makedev(e.rdev_major, e.rdev_minor)) < 0)
                    return sys_error("mknod", host_path);
                break;
            case EntryType::hardlink:
                if (!files.contains(e.link))
                    return fail("restore", e.path, "hardlink to an unknown file " + e.link);
                if (::linkat(root.get(), e.link.c_str(), dirfd, n, 0) < 0)
                    return sys_error("link", host_path);
                if (std::find(r.damaged.begin(), r.damaged.end(), e.link) != r.damaged.end())
                    r.damaged.push_back(e.path);  // every name of a damaged inode
                ++result.others;
                continue;  // metadata belongs to the inode, set with its first name
        }
        if (e.type == EntryType::file) continue;  // set through its fd above
        if (e.type != EntryType::dir) ++result.others;
        WM_CHECK(r.set_meta(dirfd, name, e, host_path));
    }
    stack.clear();
    // Directory times last, deepest first: making children moved them.
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        const Entry& e = **it;
        std::string rel = e.path == "." ? "" : e.path;
        WM_CHECK(r.set_time(root.get(), rel, e, target + "/" + rel));
    }
    if (::syncfs(root.get()) < 0) return sys_error("syncfs", target);
    result.bytes = r.bytes;
    result.damaged_files = std::move(r.damaged);
    if (!result.damaged_files.empty() && !options.allow_damaged) {
        Error e = *r.first_error;
        e.detail = (e.detail.empty() && e.err ? std::string(std::strerror(e.err)) : e.detail) +
                   "; " + std::to_string(result.damaged_files.size()) +
                   " damaged files, the rest restored";
        return std::unexpected(e);
    }
    return result;
}

}  // namespace wmrun::snapshot
