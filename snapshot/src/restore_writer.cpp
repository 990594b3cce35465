// Writing a restored file costs a pread, a zstd decode, a hash and a write per chunk, then
// chown, chmod, xattrs, utimens and close; creating it is one openat. The loop that creates
// files and directories in manifest order stays single (a parent before its children, a
// hardlink after its target), and the rest of each file's work runs on worker threads, one file
// per worker at a time, so a restore of many small files keeps every core busy.
#include "restore_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <span>

#include "pack.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr size_t kQueuedFiles = 128;  // created, not yet written: each holds an fd
constexpr size_t kOpenPacks = 32;     // per worker
constexpr size_t kWakeBatch = 16;     // files queued before idle workers are woken

}  // namespace

Result<> set_entry_time(int dirfd, const std::string& name, const Entry& e,
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

// One thread's open packs and buffers: nothing here is shared between threads.
class FileWriters::Worker {
  public:
    explicit Worker(const Repository::State& s) : s_(s) {}

    // A new file is empty: its length needs setting only for holes, or when a damaged chunk
    // left its range unwritten.
    Result<> write_content(int fd, const Entry& e, const std::string& host_path, FileOutcome& out) {
        bool dense = e.extents.empty() ? e.size == 0
                                       : e.extents.size() == 1 && e.extents[0].first == 0 &&
                                             e.extents[0].second == e.size;
        WM_CHECK(write_chunks(fd, e, host_path, out));
        if ((!dense || out.damaged) && ::ftruncate(fd, off_t(e.size)) < 0)
            return sys_error("ftruncate", host_path);
        return {};
    }

    // Owner first (chown clears setuid and security.capability), then mode, then xattrs.
    static Result<> set_meta(int fd, const Entry& e, const std::string& host_path) {
        if (::fchown(fd, e.uid, e.gid) < 0) return sys_error("chown", host_path);
        if (::fchmod(fd, e.mode) < 0) return sys_error("chmod", host_path);
        for (const auto& [xname, value] : e.xattrs)
            if (::fsetxattr(fd, xname.c_str(), value.data(), value.size(), 0) < 0)
                return sys_error("lsetxattr " + xname, host_path);
        return set_entry_time(fd, "", e, host_path);
    }

  private:
    // The length of the range comes from the index, or from the file's extents.
    Result<> write_chunks(int fd, const Entry& e, const std::string& host_path, FileOutcome& out) {
        size_t ext = 0;
        uint64_t in_ext = 0;
        for (const auto& id : e.chunks) {
            const Location* loc = s_.index.find(id);
            auto data = chunk(id, loc, e.path);
            if (!data) {
                if (!out.chunk_error) out.chunk_error = data.error();
                out.damaged = true;
                if (!loc) return {};  // the length is unknown: the rest of the file stays holes
            }
            size_t pos = 0, len = data ? data->size() : loc->raw_len;
            while (pos < len) {
                while (ext < e.extents.size() && in_ext == e.extents[ext].second) {
                    ++ext;
                    in_ext = 0;
                }
                if (ext == e.extents.size())
                    return fail("restore", host_path, "chunks longer than the extents");
                size_t n = size_t(std::min<uint64_t>(len - pos, e.extents[ext].second - in_ext));
                if (data)
                    WM_CHECK(pwrite_all(fd, data->data() + pos, n, e.extents[ext].first + in_ext,
                                        host_path));
                pos += n;
                in_ext += n;
            }
            if (data) out.bytes += len;
        }
        return {};
    }

    Result<std::span<const uint8_t>> chunk(const ChunkId& id, const Location* loc,
                                           const std::string& path) {
        if (!loc) return fail("restore " + path, id.hex(), "chunk missing from the index");
        const PackFile* pack = WM_TRY(pack_of(loc->pack));
        if (buf_.size() < loc->raw_len) buf_.resize(loc->raw_len);  // at most kMaxChunkSize
        WM_CHECK(read_blob_into(*pack, *loc, stored_, buf_.data()));
        if (s_.hasher(buf_.data(), loc->raw_len) != id)
            return fail("restore " + path, id.hex(), "chunk does not match its id");
        return std::span<const uint8_t>(buf_.data(), loc->raw_len);
    }

    Result<const PackFile*> pack_of(const ChunkId& id) {
        auto it = packs_.find(id);
        if (it != packs_.end()) return &it->second;
        if (packs_.size() >= kOpenPacks) packs_.clear();  // restores read packs roughly in order
        PackFile pack = WM_TRY(open_pack(s_.dir + "/" + pack_rel_path(id)));
        return &packs_.emplace(id, std::move(pack)).first->second;
    }

    const Repository::State& s_;
    std::map<ChunkId, PackFile> packs_;
    std::vector<uint8_t> buf_, stored_;  // grow to the largest chunk seen, never shrink
};

FileWriters::FileWriters(const Repository::State& s, size_t files, unsigned workers)
    : s_(s), outcomes_(files) {
    if (workers == 0) inline_ = std::make_unique<Worker>(s_);
    for (unsigned i = 0; i < workers; ++i)
        threads_.emplace_back([this] { run(); });
}

FileWriters::~FileWriters() {
    {
        std::lock_guard lock(mu_);
        closing_ = true;
    }
    failed_.store(true);  // the restore is failing, if finish() was not called: drop the queue
    has_job_.notify_all();
    threads_.clear();  // joins
}

void FileWriters::write(Worker& w, FileJob& job) {
    FileOutcome& out = outcomes_[job.index];
    const Entry& e = *job.entry;
    int fd = job.fd.get();
    Result<> r = w.write_content(fd, e, job.host_path, out);
    if (r) r = Worker::set_meta(fd, e, job.host_path);
    job.fd.reset();
    if (!r) {
        out.error = std::move(r.error());
        failed_.store(true, std::memory_order_relaxed);
    }
    bytes_done_.fetch_add(e.size, std::memory_order_relaxed);
    files_done_.fetch_add(1, std::memory_order_relaxed);
}

void FileWriters::submit(FileJob job) {
    if (inline_) {
        if (!failed()) write(*inline_, job);
        return;
    }
    std::unique_lock lock(mu_);
    if (queue_.size() >= kQueuedFiles) {
        // Woken when the queue is half empty, not for every file taken.
        submitter_waiting_ = true;
        has_room_.wait(lock, [this] { return queue_.size() <= kQueuedFiles / 2; });
        submitter_waiting_ = false;
    }
    queue_.push_back(std::move(job));
    // Idle workers are woken for a batch, not for every file: a wakeup costs a futex call on
    // each side and a context switch, about as much as writing a small file.
    if (queue_.size() == kWakeBatch) has_job_.notify_all();
}

void FileWriters::run() {
    Worker w(s_);
    std::unique_lock lock(mu_);
    for (;;) {
        has_job_.wait(lock, [this] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;  // closing, and nothing left
        FileJob job = std::move(queue_.front());
        queue_.pop_front();
        if (submitter_waiting_ && queue_.size() <= kQueuedFiles / 2) has_room_.notify_one();
        lock.unlock();
        if (!failed()) write(w, job);
        job.fd.reset();
        lock.lock();
    }
}

std::vector<FileOutcome> FileWriters::finish() {
    {
        std::lock_guard lock(mu_);
        closing_ = true;
    }
    has_job_.notify_all();
    threads_.clear();
    return std::move(outcomes_);
}

}  // namespace wmrun::snapshot
