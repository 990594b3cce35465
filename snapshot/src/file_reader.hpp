// Reads the data extents of many files in order, through io_uring with many reads in flight
// (pread when io_uring is unavailable), for create's read phase.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::snapshot {

using Extents = std::vector<std::pair<uint64_t, uint64_t>>;  // offset, length

class FileReader {
  public:
    virtual ~FileReader() = default;
    // Queues a file; its reads may start at once. Files are consumed in the order added.
    virtual Result<> add(UniqueFd fd, const Extents& extents, std::string path) = 0;
    // Copies the next bytes of the oldest file into buf; 0 at its end (also when it was
    // shorter than its extents: `extents` then shrinks to what was read). Then next_file().
    virtual Result<size_t> read(uint8_t* buf, size_t len, Extents& extents) = 0;
    // Drops the oldest file (all its bytes read or not).
    virtual Result<> next_file() = 0;
    virtual size_t queued() const = 0;  // files added and not yet dropped
};

// io_uring with `depth` reads of `block` bytes in flight, or pread when the ring cannot be
// set up (WMRUN_SNAPSHOT_PREAD=1 forces that, for comparisons).
std::unique_ptr<FileReader> make_file_reader(unsigned depth = 64, size_t block = 256 << 10);

}  // namespace wmrun::snapshot
