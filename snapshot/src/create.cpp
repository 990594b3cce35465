// create: walks a volume layer, chunks changed files and writes packs, index and manifest.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "exclude.hpp"
#include "file_reader.hpp"
#include "fs_meta.hpp"
#include "manifest.hpp"
#include "pack_sink.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::snapshot {
namespace {

int64_t ns(const timespec& t) {
    return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// The metadata an entry keeps from stat; size only for regular files.
void take_stat(Entry& e, const struct stat& st) {
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_ns = ns(st.st_mtim);
    e.ctime_ns = ns(st.st_ctim);
    e.ino = st.st_ino;
    e.size = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
}

// Data ranges of a file; holes between them are not read (SEEK_DATA/SEEK_HOLE).
Result<std::vector<std::pair<uint64_t, uint64_t>>> data_extents(int fd, uint64_t size,
                                                                const std::string& path) {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    off_t pos = 0;
    while (uint64_t(pos) < size) {
        off_t data = ::lseek(fd, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break;  // only a hole remains
            return sys_error("lseek SEEK_DATA", path);
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) return sys_error("lseek SEEK_HOLE", path);
        if (uint64_t(hole) > size) hole = off_t(size);
        if (hole > data) out.emplace_back(uint64_t(data), uint64_t(hole - data));
        pos = hole;
    }
    return out;
}

// Walks the tree (metadata only) and then, in a separate phase, reads the files that changed:
// a caller can hold a running container frozen for the second phase alone.
constexpr size_t kFilesAhead = 64;

// The parent snapshot's regular files by path.
using ParentFiles = std::unordered_map<std::string_view, const Entry*>;

class Walker {
  public:
    Walker(Repository::State& s, PackSink& sink, CreateResult& result, const ParentFiles& parent,
           const CreateOptions& options, const ExcludeSet& exclude)
        : s_(s), sink_(sink), r_(result), parent_(parent), options_(options), exclude_(exclude) {}

    Result<> walk_dir(int dirfd, const std::string& rel, const std::string& host_path);
    // After the walk, once the parent is loaded: marks the files that must be read; the others
    // take their chunks and xattrs from the parent.
    void compare_with_parent();
    // Reads every file the walk marked, and with `recheck` stats the others again and reads
    // those that changed since the walk. Files gone since the walk are dropped.
    Result<> read_phase(int rootfd, const std::string& source, bool recheck);
    std::vector<Entry> tree;

  private:
    Result<> add_entry(int dirfd, const std::string& name, const std::string& rel,
                       const std::string& host_path);
    bool unchanged_from_parent(Entry& e);
    Result<> chunk_file(FileReader& reader, Entry& e);
    void progress();

    Repository::State& s_;
    PackSink& sink_;
    CreateResult& r_;
    const ParentFiles& parent_;
    const CreateOptions& options_;
    const ExcludeSet& exclude_;
    std::map<std::pair<dev_t, ino_t>, std::string> inodes_;  // hardlinked inodes seen
    std::unordered_set<ChunkId, ChunkIdHash> pending_;       // chunks queued in this run
    std::vector<uint8_t> buffer_;                            // read buffer, reused per file
    std::vector<std::pair<size_t, bool>> files_;             // tree index, must be read
    uint64_t files_done_ = 0;
};

// dirfd was opened for this walk (the source root, or by add_entry) and is listed through
// itself: another open of "." would cost two syscalls per directory.
Result<> Walker::walk_dir(int dirfd, const std::string& rel, const std::string& host_path) {
    for (const auto& name : WM_TRY(list_dir(dirfd, host_path))) {
        if (rel.empty() && !options_.include.empty() &&
            std::find(options_.include.begin(), options_.include.end(), name) ==
                options_.include.end())
            continue;
        std::string path = rel.empty() ? name : rel + "/" + name;
        if (exclude_.matches(path)) continue;
        WM_CHECK(add_entry(dirfd, name, path, host_path + "/" + name));
    }
    return {};
}

void Walker::progress() {
    if (options_.progress) options_.progress({files_done_, 0, r_.bytes_read, 0});
}

Result<> Walker::add_entry(int dirfd, const std::string& name, const std::string& rel,
                           const std::string& host_path) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return {};  // removed while walking a running container's layer
        return sys_error("stat", host_path);
    }
    if (S_ISSOCK(st.st_mode)) {
        r_.notes.push_back("skipped socket " + rel);
        return {};
    }
    Entry e;
    e.path = rel;
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto [it, fresh] = inodes_.try_emplace({st.st_dev, st.st_ino}, rel);
        if (!fresh) {
            e.type = EntryType::hardlink;
            e.link = it->second;
            ++r_.others;
            tree.push_back(std::move(e));
            return {};
        }
    }
    take_stat(e, st);
    // A regular file's xattrs come from the parent when it is unchanged (a setxattr moves
    // ctime), else from its fd in the read phase: a syscall less per file in the walk.
    if (!S_ISREG(st.st_mode)) e.xattrs = WM_TRY(read_xattrs_at(dirfd, name));

    switch (st.st_mode & S_IFMT) {
        case S_IFDIR: {
            e.type = EntryType::dir;
            ++r_.dirs;
            int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) return sys_error("open", host_path);
            UniqueFd dir(fd);
            tree.push_back(std::move(e));
            return walk_dir(dir.get(), rel, host_path);
        }
        case S_IFREG: {
            e.type = EntryType::file;
            files_.emplace_back(tree.size(), true);  // until compare_with_parent
            break;
        }
        case S_IFLNK: {
            e.type = EntryType::symlink;
            e.size = 0;
            std::string target(size_t(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
            if (n < 0) return sys_error("readlink", host_path);
            target.resize(size_t(n));
            e.target = std::move(target);
            ++r_.others;
            break;
        }
        case S_IFIFO:
            e.type = EntryType::fifo;
            ++r_.others;
            break;
        case S_IFCHR:
        case S_IFBLK:
            e.type = S_ISCHR(st.st_mode) ? EntryType::chr : EntryType::blk;
            e.rdev_major = major(st.st_rdev);
            e.rdev_minor = minor(st.st_rdev);
            ++r_.others;
            break;
        default:
            r_.notes.push_back("skipped unknown file type " + rel);
            return {};
    }
    tree.push_back(std::move(e));
    return {};
}

void Walker::compare_with_parent() {
    for (auto& [index, must_read] : files_) {
        must_read = !unchanged_from_parent(tree[index]);
        if (must_read) continue;
        ++files_done_;
        progress();
    }
}

// Unchanged by (inode, size, mtime, ctime): a write moves ctime, which user space cannot set
// back, so the chunks and xattrs of the parent still describe the file. Counts the file
// either way.
bool Walker::unchanged_from_parent(Entry& e) {
    auto prev = parent_.find(e.path);
    if (prev == parent_.end()) {
        ++r_.files_new;
        return false;
    }
    const Entry& p = *prev->second;
    bool same = p.type == EntryType::file && p.ino == e.ino && p.size == e.size &&
                p.mtime_ns == e.mtime_ns && p.ctime_ns == e.ctime_ns;
    for (const auto& c : p.chunks)
        if (same && !s_.index.find(c)) same = false;
    if (!same) {
        ++r_.files_changed;
        return false;
    }
    e.extents = p.extents;
    e.chunks = p.chunks;
    e.xattrs = p.xattrs;
    r_.chunks_reused += p.chunks.size();
    ++r_.files_unchanged;
    return true;
}

// Opens a path of the walk again from the source's fd, refusing symlinks on the way: between
// the walk and a freeze, a running container could swap a directory for a link out of its
// layer.
Result<UniqueFd> open_beneath(int rootfd, const std::string& rel, const std::string& host_path) {
    const uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    // O_NOATIME keeps a backup from touching the layer; it needs ownership or CAP_FOWNER.
    int fd = sys::openat2(rootfd, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME, 0,
                          resolve);
    if (fd < 0 && errno == EPERM)
        fd = sys::openat2(rootfd, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, resolve);
    if (fd < 0) return sys_error("open", host_path);
    return UniqueFd(fd);
}

Result<> Walker::read_phase(int rootfd, const std::string& source, bool recheck) {
    std::unordered_set<std::string> gone;
    auto reader = make_file_reader();
    std::deque<size_t> queued;  // tree indices of the files in the reader, oldest first
    auto chunk_oldest = [&]() -> Result<> {
        Entry& e = tree[queued.front()];
        queued.pop_front();
        WM_CHECK(chunk_file(*reader, e));
        WM_CHECK(reader->next_file());
        ++files_done_;
        progress();
        return {};
    };
    for (auto [index, must_read] : files_) {
        if (!must_read && !recheck) continue;
        Entry& e = tree[index];
        std::string host_path = source + "/" + e.path;
        auto file = open_beneath(rootfd, e.path, host_path);
        if (!file) {
            int err = file.error().err;
            if (err != ENOENT && err != ELOOP && err != ENOTDIR && err != EXDEV)
                return std::unexpected(file.error());
            gone.insert(e.path);  // removed or replaced since the walk
            r_.notes.push_back("skipped " + e.path + ": removed while the snapshot ran");
            continue;
        }
        struct stat st;
        if (::fstat(file->get(), &st) < 0) return sys_error("stat", host_path);
        if (!S_ISREG(st.st_mode)) {
            gone.insert(e.path);
            r_.notes.push_back("skipped " + e.path + ": replaced while the snapshot ran");
            continue;
        }
        if (!must_read) {
            if (uint64_t(st.st_ino) == e.ino && uint64_t(st.st_size) == e.size &&
                ns(st.st_mtim) == e.mtime_ns && ns(st.st_ctim) == e.ctime_ns)
                continue;
            --r_.files_unchanged;  // written between the walk and the read phase
            ++r_.files_changed;
            r_.chunks_reused -= e.chunks.size();
            e.chunks.clear();
            e.extents.clear();
        }
        // The content is what the read phase sees, so the metadata must be too.
        take_stat(e, st);
        e.xattrs = WM_TRY(read_xattrs_at(file->get(), ""));
        if (e.size > 0) e.extents = WM_TRY(data_extents(file->get(), e.size, host_path));
        if (e.extents.empty()) {
            ++files_done_;
            progress();
            continue;
        }
        WM_CHECK(reader->add(std::move(*file), e.extents, host_path));
        queued.push_back(index);
        // Enough files ahead to keep the ring busy, few enough to stay far from the fd limit.
        if (queued.size() >= kFilesAhead) WM_CHECK(chunk_oldest());
    }
    while (!queued.empty())
        WM_CHECK(chunk_oldest());
    if (!gone.empty())
        std::erase_if(tree, [&](const Entry& e) {
            return gone.contains(e.type == EntryType::hardlink ? e.link : e.path);
        });
    return {};
}

Result<> Walker::chunk_file(FileReader& reader, Entry& e) {
    auto read = [&](uint8_t* buf, size_t len) -> Result<size_t> {
        size_t n = WM_TRY(reader.read(buf, len, e.extents));
        r_.bytes_read += n;
        return n;
    };
    auto on_chunk = [&](std::span<const uint8_t> chunk) -> Result<> {
        ChunkId id = s_.hasher(chunk.data(), chunk.size());
        e.chunks.push_back(id);
        if (s_.index.find(id) || !pending_.insert(id).second) {
            ++r_.chunks_reused;
            return {};
        }
        ++r_.chunks_new;
        return sink_.submit(id, chunk);
    };
    WM_CHECK(chunk_stream(s_.chunker, read, on_chunk, buffer_));
    std::erase_if(e.extents, [](const auto& x) { return x.second == 0; });
    return {};
}

}  // namespace

Result<CreateResult> Repository::create(const std::string& source, const CreateOptions& options) {
    // Manifests are JSON, which is UTF-8 (names that are not go in hex, these cannot).
    std::string hostname = options.hostname.empty() ? local_hostname() : options.hostname;
    if (!valid_utf8(hostname)) return fail("create", "hostname", "not UTF-8");
    for (const auto& tag : options.tags)
        if (!valid_utf8(tag)) return fail("create", "tag " + printable(tag), "not UTF-8");
    ExcludeSet exclude = WM_TRY(ExcludeSet::compile(options.exclude));
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    CreateResult result;
    Manifest parent;
    std::string parent_id;
    ParentFiles parent_files;  // views into parent.tree, which outlives the walk
    std::optional<Error> parent_error;
    std::jthread parent_loader;  // the parent's manifest is read and parsed beside the walk
    if (!options.parent.empty()) {
        parent_id = WM_TRY(resolve(options.parent));
        parent_loader = std::jthread([&] {
            auto m = read_manifest(s_->dir, s_->hasher, parent_id, s_->limits);
            if (!m) {
                parent_error = m.error();
                return;
            }
            parent = std::move(*m);
            parent_files.reserve(parent.tree.size());
            for (const auto& e : parent.tree)
                if (e.type == EntryType::file) parent_files.emplace(e.path, &e);
        });
    }

    UniqueFd root = WM_TRY(open_file(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (::fstat(root.get(), &st) < 0) return sys_error("stat", source);
    Entry top;
    top.path = ".";
    top.type = EntryType::dir;
    top.mode = st.st_mode & 07777;
    top.uid = st.st_uid;
    top.gid = st.st_gid;
    top.mtime_ns = ns(st.st_mtim);
    top.ctime_ns = ns(st.st_ctim);
    top.ino = st.st_ino;
    top.xattrs = WM_TRY(read_xattrs_at(root.get(), ""));

    PackSink sink(s_->dir, s_->config.compression_level, s_->config.pack_size, options.threads);
    Walker walker(*s_, sink, result, parent_files, options, exclude);
    walker.tree.push_back(std::move(top));
    Result<> walked = walker.walk_dir(root.get(), "", source);
    if (parent_loader.joinable()) parent_loader.join();
    if (parent_error) return std::unexpected(*parent_error);
    walker.compare_with_parent();
    if (walked && options.before_read) walked = options.before_read();
    if (walked) {
        auto start = std::chrono::steady_clock::now();
        walked = walker.read_phase(root.get(), source, bool(options.before_read));
        result.read_phase_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
        // after_read runs even when reading failed: a frozen container must not stay frozen.
        if (options.before_read && options.after_read) {
            auto after = options.after_read();
            if (walked && !after) walked = after;
        }
    }
    auto packs = sink.finish();
    WM_CHECK(walked);
    if (!packs) return std::unexpected(packs.error());
    result.bytes_added = sink.bytes_added();
    Manifest m;
    m.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    m.hostname = hostname;
    m.tags = options.tags;
    m.source = source;
    m.parent = parent_id;
    m.tree = std::move(walker.tree);
    auto text = manifest_text(m, s_->limits);
    if (!text) {
        remove_packs(s_->dir, *packs);
        return std::unexpected(text.error());
    }
    // Packs, then the index naming them, then the manifest: each step is durable before the
    // next refers to it (docs/snapshot-format.md, "Crash recovery").
    if (!packs->empty()) {
        WM_CHECK(write_index_file(s_->dir, *packs));
        for (const auto& p : *packs)
            s_->index.add(p);
    }
    result.id = WM_TRY(write_manifest(s_->dir, s_->hasher, *text));
    return result;
}

}  // namespace wmrun::snapshot
