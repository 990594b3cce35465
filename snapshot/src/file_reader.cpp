// io_uring keeps many reads in flight across files, so small files (most of a volume layer)
// do not each wait for a round trip to the disk; pread is the fallback.
#include "file_reader.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "wmrun/base/log.hpp"

namespace wmrun::snapshot {
namespace {

struct File {
    UniqueFd fd;
    Extents extents;
    std::string path;
    uint64_t segments = 0;  // reads queued for it
    bool truncated = false;
};

// One file at a time, straight into the caller's buffer.
class PreadReader final : public FileReader {
  public:
    Result<> add(UniqueFd fd, const Extents& extents, std::string path) override {
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        files_.push_back({std::move(fd), extents, std::move(path)});
        return {};
    }
    Result<size_t> read(uint8_t* buf, size_t len, Extents& extents) override {
        File& f = files_.front();
        while (ext_ < f.extents.size() && done_ == f.extents[ext_].second) {
            ++ext_;
            done_ = 0;
        }
        if (ext_ == f.extents.size()) return size_t(0);
        uint64_t want = std::min<uint64_t>(len, f.extents[ext_].second - done_);
        ssize_t n;
        do {
            n = ::pread(f.fd.get(), buf, want, off_t(f.extents[ext_].first + done_));
        } while (n < 0 && errno == EINTR);
        if (n < 0) return sys_error("read", f.path);
        if (n == 0) {  // truncated while reading: keep what the extents now hold
            f.extents[ext_].second = done_;
            f.extents.resize(ext_ + 1);
            extents = f.extents;
            ext_ = f.extents.size();
            return size_t(0);
        }
        done_ += uint64_t(n);
        return size_t(n);
    }
    Result<> next_file() override {
        files_.pop_front();
        ext_ = 0;
        done_ = 0;
        return {};
    }
    size_t queued() const override { return files_.size(); }

  private:
    std::deque<File> files_;
    size_t ext_ = 0;
    uint64_t done_ = 0;
};

// Reads are cut into blocks and numbered; block n lives in slot n % depth, which is reused
// only after the consumer has copied block n out, so completions may arrive in any order.
class UringReader final : public FileReader {
  public:
    UringReader(unsigned depth, size_t block) : depth_(depth), block_(block) {}
    ~UringReader() override {
        // The kernel may still write into the slots: wait for what is in flight.
        while (inflight_ > 0 && reap(true))
            ;
        if (ready_) ::io_uring_queue_exit(&ring_);
    }

    int init() {
        int rc = ::io_uring_queue_init(depth_, &ring_, 0);
        if (rc < 0) return rc;
        ready_ = true;
        slots_.resize(depth_);
        // Not value-initialised: a zeroed 16 MiB would be touched (and faulted in) by every
        // snapshot, also one that reads no file.
        for (auto& s : slots_)
            s.buf.reset(new uint8_t[block_]);
        return 0;
    }

    Result<> add(UniqueFd fd, const Extents& extents, std::string path) override {
        File& f = files_.emplace_back(File{std::move(fd), extents, std::move(path)});
        for (size_t e = 0; e < f.extents.size(); ++e)
            for (uint64_t off = 0; off < f.extents[e].second; off += block_) {
                size_t len = size_t(std::min<uint64_t>(block_, f.extents[e].second - off));
                pending_.push_back({files_added_, e, off, len});
                ++f.segments;
            }
        ++files_added_;
        return pump();
    }

    Result<size_t> read(uint8_t* buf, size_t len, Extents& extents) override {
        File& f = files_.front();
        while (consumed_in_file_ < f.segments) {
            Slot& s = slots_[consumed_ % depth_];
            while (!s.done)
                WM_CHECK(wait_one());
            if (s.res < 0) return sys_error("read", f.path, -s.res);
            size_t have = f.truncated ? 0 : size_t(s.res);
            if (pos_ < have) {
                size_t n = std::min(len, have - pos_);
                std::memcpy(buf, s.buf.get() + pos_, n);
                pos_ += n;
                return n;
            }
            if (!f.truncated && size_t(s.res) < s.seg.len) {
                // Shorter than at the walk: the file ends here.
                f.truncated = true;
                f.extents[s.seg.extent].second = s.seg.offset + uint64_t(s.res);
                f.extents.resize(s.seg.extent + 1);
                extents = f.extents;
            }
            WM_CHECK(release());
        }
        return size_t(0);
    }

    Result<> next_file() override {
        while (consumed_in_file_ < files_.front().segments) {
            Slot& s = slots_[consumed_ % depth_];
            while (!s.done)
                WM_CHECK(wait_one());
            WM_CHECK(release());
        }
        files_.pop_front();
        ++files_done_;
        consumed_in_file_ = 0;
        return {};
    }

    size_t queued() const override { return files_.size(); }

  private:
    struct Segment {
        uint64_t file;  // sequence number of the file
        size_t extent;
        uint64_t offset;  // within the extent
        size_t len;
    };
    struct Slot {
        std::unique_ptr<uint8_t[]> buf;
        Segment seg{};
        int res = 0;
        bool done = false;
    };

    File& file_of(uint64_t seq) { return files_[size_t(seq - files_done_)]; }

    Result<> release() {
        slots_[consumed_ % depth_].done = false;
        ++consumed_;
        ++consumed_in_file_;
        pos_ = 0;
        return pump();
    }

    Result<> pump() {
        unsigned queued = 0;
        while (!pending_.empty() && submitted_ - consumed_ < depth_) {
            io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
            if (!sqe) break;
            Slot& s = slots_[submitted_ % depth_];
            s.seg = pending_.front();
            pending_.pop_front();
            s.done = false;
            File& f = file_of(s.seg.file);
            ::io_uring_prep_read(sqe, f.fd.get(), s.buf.get(), unsigned(s.seg.len),
                                 f.extents[s.seg.extent].first + s.seg.offset);
            ::io_uring_sqe_set_data64(sqe, submitted_);
            ++submitted_;
            ++queued;
        }
        if (queued == 0) return {};
        int rc = ::io_uring_submit(&ring_);
        if (rc < 0) return sys_error("io_uring_submit", files_.front().path, -rc);
        inflight_ += queued;
        return {};
    }

    Result<> wait_one() {
        if (!reap(true)) return sys_error("io_uring_wait_cqe", files_.front().path);
        return {};
    }

    bool reap(bool wait) {
        io_uring_cqe* cqe = nullptr;
        int rc;
        do {
            rc = wait ? ::io_uring_wait_cqe(&ring_, &cqe) : ::io_uring_peek_cqe(&ring_, &cqe);
        } while (rc == -EINTR);
        if (rc < 0) {
            errno = -rc;
            return false;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            Slot& s = slots_[::io_uring_cqe_get_data64(cqe) % depth_];
            s.res = cqe->res;
            s.done = true;
            ++n;
        }
        ::io_uring_cq_advance(&ring_, n);
        inflight_ -= n;
        return true;
    }

    unsigned depth_;
    size_t block_;
    io_uring ring_{};
    bool ready_ = false;
    std::vector<Slot> slots_;
    std::deque<File> files_;
    std::deque<Segment> pending_;
    uint64_t files_added_ = 0, files_done_ = 0;
    uint64_t submitted_ = 0, consumed_ = 0, consumed_in_file_ = 0;
    unsigned inflight_ = 0;
    size_t pos_ = 0;  // bytes of the current block already copied out
};

}  // namespace

std::unique_ptr<FileReader> make_file_reader(unsigned depth, size_t block) {
    const char* force = std::getenv("WMRUN_SNAPSHOT_PREAD");
    if (force && std::strcmp(force, "1") == 0) return std::make_unique<PreadReader>();
    auto uring = std::make_unique<UringReader>(depth, block);
    if (int rc = uring->init(); rc < 0) {
        log::debug(std::string("snapshot: io_uring_queue_init: ") + std::strerror(-rc) +
                   "; reading files with pread");
        return std::make_unique<PreadReader>();
    }
    return uring;
}

}  // namespace wmrun::snapshot
