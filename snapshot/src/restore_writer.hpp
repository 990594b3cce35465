// Restore's file writers: the restore loop creates each regular file and hands its fd to worker
// threads, which read, decompress and re-hash its chunks, write them, set its metadata and close
// it. Directories, links and special files stay with the loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "manifest.hpp"
#include "repo_internal.hpp"

namespace wmrun::snapshot {

// Sets e's mtime on dirfd/name, or on dirfd itself when name is empty; atime is left alone.
Result<> set_entry_time(int dirfd, const std::string& name, const Entry& e,
                        const std::string& host_path);

struct FileJob {
    size_t index;        // among the regular files of the manifest, in its order
    const Entry* entry;  // points into the manifest, which outlives the writers
    UniqueFd fd;         // the file, just created: empty, mode 0600
    std::string host_path;
};

// What became of one file. A chunk that cannot be read or fails its hash leaves its range a
// hole and marks the file damaged; `error` is a failure that stops the whole restore.
struct FileOutcome {
    bool damaged = false;
    std::optional<Error> chunk_error;  // the file's first bad chunk
    std::optional<Error> error;
    uint64_t bytes = 0;  // chunk bytes written
};

class FileWriters {
  public:
    // `files`: how many jobs will be submitted; `workers` 0 writes each file inside submit().
    FileWriters(const Repository::State& s, size_t files, unsigned workers);
    FileWriters(const FileWriters&) = delete;
    FileWriters& operator=(const FileWriters&) = delete;
    ~FileWriters();

    // Queues a file, waiting while the queue is full (each queued file holds an open fd).
    void submit(FileJob job);
    // Waits until every submitted file is written, then returns the outcomes by index.
    std::vector<FileOutcome> finish();
    // True once a file failed: the restore stops submitting and fails.
    bool failed() const { return failed_.load(std::memory_order_relaxed); }
    uint64_t files_done() const { return files_done_.load(std::memory_order_relaxed); }
    uint64_t bytes_done() const { return bytes_done_.load(std::memory_order_relaxed); }

  private:
    class Worker;
    void run();
    void write(Worker& w, FileJob& job);

    const Repository::State& s_;
    std::vector<FileOutcome> outcomes_;  // each written by the worker of its file only
    std::mutex mu_;
    std::condition_variable has_job_, has_room_;
    std::deque<FileJob> queue_;
    bool closing_ = false, submitter_waiting_ = false;
    std::atomic<bool> failed_{false};
    std::atomic<uint64_t> files_done_{0}, bytes_done_{0};
    std::unique_ptr<Worker> inline_;  // when there are no worker threads
    std::vector<std::jthread> threads_;
};

}  // namespace wmrun::snapshot
