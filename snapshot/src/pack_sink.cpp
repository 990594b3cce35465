#include "pack_sink.hpp"

#include <optional>

namespace wmrun::snapshot {

PackSink::PackSink(std::string repo, int level, uint64_t pack_size, unsigned threads)
    : repo_(std::move(repo)), level_(level), pack_size_(pack_size) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    // Bounds memory to 32 max-size (1 MiB) chunks per worker, and lets the reader run ahead
    // while a worker compresses or finishes a pack.
    max_queue_ = 32 * threads;
    for (unsigned i = 0; i < threads; ++i)
        workers_.emplace_back([this] { work(); });
}

PackSink::~PackSink() {
    stop_workers();
}

void PackSink::stop_workers() {
    {
        std::lock_guard lk(queue_mu_);
        closing_ = true;
    }
    queue_cv_.notify_all();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
    workers_.clear();
}

Result<> PackSink::push(Job job) {
    std::unique_lock lk(queue_mu_);
    space_cv_.wait(lk, [&] { return queue_.size() < max_queue_ || error_; });
    if (error_) return std::unexpected(*error_);
    queue_.push_back(std::move(job));
    lk.unlock();
    queue_cv_.notify_one();
    return {};
}

Result<> PackSink::submit(const ChunkId& id, std::span<const uint8_t> raw) {
    return push(Job{id, {raw.begin(), raw.end()}, uint32_t(raw.size()), 0, false});
}

Result<> PackSink::submit_stored(const ChunkId& id, std::vector<uint8_t> stored, uint32_t raw_len,
                                 uint32_t flags) {
    return push(Job{id, std::move(stored), raw_len, flags, true});
}

void PackSink::work() {
    for (;;) {
        Job job;
        {
            std::unique_lock lk(queue_mu_);
            queue_cv_.wait(lk, [&] { return !queue_.empty() || closing_; });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        space_cv_.notify_one();
        if (!job.stored) {
            std::vector<uint8_t> packed = compress_chunk(job.data, level_);
            if (!packed.empty()) {
                job.data = std::move(packed);
                job.flags = kFlagZstd;
            }
        }
        Result<> r = append(job);
        if (!r) {
            std::lock_guard lk(queue_mu_);
            if (!error_) error_ = r.error();
            space_cv_.notify_all();
        }
    }
}

Result<> PackSink::append(Job& job) {
    std::optional<PackWriter> full;
    {
        std::lock_guard lk(pack_mu_);
        if (!writer_) writer_.emplace(WM_TRY(PackWriter::start(repo_)));
        WM_CHECK(writer_->add(job.id, job.data, job.raw_len, job.flags));
        bytes_added_ += job.data.size();
        if (writer_->size() >= pack_size_) {
            full.emplace(std::move(*writer_));
            writer_.reset();
        }
    }
    if (!full) return {};
    // Finished (index written, fsynced) outside the lock: the other worker goes on filling the
    // next pack meanwhile instead of waiting for this one's fsync. Nothing refers to the pack
    // before the index and manifest that the caller writes after finish().
    auto record = WM_TRY(full->finish());
    std::lock_guard lk(pack_mu_);
    done_.push_back(std::move(record));
    return {};
}

Result<std::vector<PackRecord>> PackSink::finish() {
    stop_workers();
    if (error_) return std::unexpected(*error_);
    if (writer_ && !writer_->empty()) done_.push_back(WM_TRY(writer_->finish()));
    writer_.reset();
    return std::move(done_);
}

}  // namespace wmrun::snapshot
