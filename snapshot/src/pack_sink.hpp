// Compresses chunks on a small thread pool and appends them to packs of a bounded size.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "pack.hpp"

namespace wmrun::snapshot {

class PackSink {
  public:
    PackSink(std::string repo, int level, uint64_t pack_size, unsigned threads);
    PackSink(const PackSink&) = delete;
    PackSink& operator=(const PackSink&) = delete;
    ~PackSink();

    // Queues a raw chunk for compression; blocks while the queue is full. Fails with the first
    // error a worker hit.
    Result<> submit(const ChunkId& id, std::span<const uint8_t> raw);
    // Queues bytes already in stored form (as read from another pack).
    Result<> submit_stored(const ChunkId& id, std::vector<uint8_t> stored, uint32_t raw_len,
                           uint32_t flags);
    // Drains the queue, closes the last pack and returns every pack written.
    Result<std::vector<PackRecord>> finish();
    uint64_t bytes_added() const { return bytes_added_; }

  private:
    struct Job {
        ChunkId id;
        std::vector<uint8_t> data;
        uint32_t raw_len = 0, flags = 0;
        bool stored = false;
    };
    Result<> push(Job job);
    void work();
    Result<> append(Job& job);
    void stop_workers();

    std::string repo_;
    int level_;
    uint64_t pack_size_;
    size_t max_queue_;

    std::mutex queue_mu_;
    std::condition_variable queue_cv_, space_cv_;
    std::deque<Job> queue_;
    bool closing_ = false;
    std::optional<Error> error_;

    std::mutex pack_mu_;
    std::optional<PackWriter> writer_;
    std::vector<PackRecord> done_;
    uint64_t bytes_added_ = 0;

    std::vector<std::thread> workers_;
};

}  // namespace wmrun::snapshot
