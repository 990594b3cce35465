// restore: recreates a snapshot's tree in an empty directory, re-hashing every chunk.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fs_meta.hpp"
#include "manifest.hpp"
#include "repo_internal.hpp"
#include "restore_writer.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

// A manifest path must stay below the target: no "", ".", ".." components, no leading "/",
// and no NUL, which would cut the name the syscalls see.
bool safe_path(const std::string& p) {
    if (p.empty() || p.front() == '/' || p.find('\0') != std::string::npos) return false;
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

// Metadata of a directory, symlink or special file, by name (regular files: restore_writer).
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
        name.empty() ? "/proc/self/fd/" + std::to_string(dirfd) : fd_path(dirfd, name), e.xattrs));
    if (e.type != EntryType::dir) WM_CHECK(set_entry_time(dirfd, name, e, host_path));
    return {};
}

// Damaged files and every other name of their inodes, in manifest order; the first bad chunk
// in that order is the error reported.
std::vector<std::string> damaged_paths(const Manifest& m, const std::vector<FileOutcome>& out,
                                       std::optional<Error>& first_error) {
    std::vector<std::string> paths;
    std::unordered_set<std::string_view> damaged;
    size_t i = 0;
    for (const auto& e : m.tree) {
        if (e.type == EntryType::file && i < out.size()) {
            const FileOutcome& o = out[i++];
            if (!o.damaged) continue;
            if (!first_error) first_error = o.chunk_error;
            damaged.insert(e.path);
            paths.push_back(e.path);
        } else if (e.type == EntryType::hardlink && damaged.contains(e.link)) {
            paths.push_back(e.path);
        }
    }
    return paths;
}

// Leaves in m.tree only the entries `include` names, what is under them and the directories
// above them. A hardlink whose first name is left out takes that name's place: the first
// included name of the inode becomes the file, and the later ones link to it.
Result<> keep_included(Manifest& m, const std::vector<std::string>& include) {
    if (include.empty()) return {};
    std::vector<std::string> prefixes;
    for (const auto& p : include)
        prefixes.push_back(tree_path(p));
    std::vector<bool> matched(prefixes.size(), false);
    std::unordered_map<std::string, const Entry*> all;  // every entry by path, for hardlinks
    std::unordered_map<std::string, std::string> moved;  // left-out first name -> new first
    std::vector<Entry> kept;
    std::unordered_set<std::string> kept_files;
    for (const auto& e : m.tree) {
        all.emplace(e.path, &e);
        std::string_view path = e.path == "." ? "" : std::string_view(e.path);
        bool keep = path.empty();
        for (size_t i = 0; i < prefixes.size(); ++i) {
            if (path_under(path, prefixes[i])) keep = matched[i] = true;
            // A directory above an included path.
            if (e.type == EntryType::dir && path_under(prefixes[i], path)) keep = true;
        }
        if (!keep) continue;
        if (e.type == EntryType::hardlink) {
            auto first = all.find(e.link);
            bool first_kept = kept_files.contains(e.link);
            if (auto m2 = moved.find(e.link); m2 != moved.end()) {
                Entry link = e;
                link.link = m2->second;
                kept.push_back(std::move(link));
                continue;
            }
            if (!first_kept && first != all.end()) {
                Entry file = *first->second;
                file.path = e.path;
                moved.emplace(e.link, e.path);
                kept_files.insert(e.path);
                kept.push_back(std::move(file));
                continue;
            }
        }
        if (e.type == EntryType::file) kept_files.insert(e.path);
        kept.push_back(e);
    }
    for (size_t i = 0; i < prefixes.size(); ++i)
        if (!matched[i])
            return fail("restore", printable(include[i]), "no such path in the snapshot", ENOENT);
    m.tree = std::move(kept);
    return {};
}

// Writer threads: one per CPU, since the loop's own share (creating the files) is the smaller.
unsigned writer_threads() {
    if (const char* v = ::getenv("WMRUN_RESTORE_WORKERS")) return unsigned(std::atoi(v));
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Result<RestoreResult> Repository::restore(const std::string& snapshot, const std::string& target,
                                          const RestoreOptions& options) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    std::string id = WM_TRY(resolve(snapshot));
    Manifest m = WM_TRY(read_manifest(s_->dir, s_->hasher, id, s_->limits));
    for (const auto& e : m.tree)
        if (e.path != "." && !safe_path(e.path))
            return fail("restore", printable(e.path), "unsafe path in snapshot");
    WM_CHECK(keep_included(m, options.include));

    WM_CHECK(mkdir_all(target, 0700));
    UniqueFd root = WM_TRY(open_file(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!WM_TRY(read_dir_names(root.get(), target)).empty())
        return fail("restore", target, "target directory is not empty", ENOTEMPTY);

    RestoreResult result;
    result.id = id;
    Progress progress;
    for (const auto& e : m.tree)
        if (e.type == EntryType::file) ++progress.items_total, progress.bytes_total += e.size;
    FileWriters writers(*s_, progress.items_total, writer_threads());
    auto report = [&] {
        if (!options.progress || writers.files_done() == progress.items) return;
        progress.items = writers.files_done();
        progress.bytes = writers.bytes_done();
        options.progress(progress);
    };
    // Open directories from the root down to the current entry's parent; the manifest lists
    // a directory before its children, so the parent is always on this stack.
    std::vector<std::pair<std::string, UniqueFd>> stack;
    std::unordered_set<std::string> files;  // regular files made here: valid hardlink targets
    std::vector<const Entry*> dirs;
    for (const auto& e : m.tree) {
        if (writers.failed()) break;
        report();
        std::string host_path = target + "/" + e.path;
        if (e.path == ".") {
            WM_CHECK(set_meta(root.get(), "", e, target));
            dirs.push_back(&e);
            continue;
        }
        size_t slash = e.path.rfind('/');
        std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
        std::string name = e.path.substr(slash == std::string::npos ? 0 : slash + 1);
        while (!stack.empty() && stack.back().first != parent)
            stack.pop_back();
        if (stack.empty() && !parent.empty())
            return fail("restore", printable(e.path), "entry before its directory in snapshot");
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
                // Written, given its metadata and closed by a writer thread.
                writers.submit({size_t(result.files), &e, UniqueFd(fd), std::move(host_path)});
                files.insert(e.path);
                ++result.files;
                continue;
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
                    return fail("restore", printable(e.path),
                                "hardlink to an unknown file " + printable(e.link));
                if (::linkat(root.get(), e.link.c_str(), dirfd, n, 0) < 0)
                    return sys_error("link", host_path);
                ++result.others;
                continue;  // metadata belongs to the inode, set with its first name
        }
        if (e.type != EntryType::dir) ++result.others;
        WM_CHECK(set_meta(dirfd, name, e, host_path));
    }
    stack.clear();
    std::vector<FileOutcome> outcomes = writers.finish();
    report();
    for (const auto& o : outcomes) {
        if (o.error) return std::unexpected(*o.error);  // the first in manifest order
        result.bytes += o.bytes;
    }
    // Directory times last, deepest first: making children moved them.
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        const Entry& e = **it;
        std::string rel = e.path == "." ? "" : e.path;
        WM_CHECK(set_entry_time(root.get(), rel, e, target + "/" + rel));
    }
    if (::syncfs(root.get()) < 0) return sys_error("syncfs", target);
    std::optional<Error> first_error;
    result.damaged_files = damaged_paths(m, outcomes, first_error);
    if (!result.damaged_files.empty() && !options.allow_damaged) {
        Error e = *first_error;
        e.detail = (e.detail.empty() && e.err ? std::string(std::strerror(e.err)) : e.detail) +
                   "; " + std::to_string(result.damaged_files.size()) +
                   " damaged files, the rest restored";
        return std::unexpected(e);
    }
    return result;
}

}  // namespace wmrun::snapshot
