// Progress of a long repository operation, for a caller that draws it (the library never prints).
#pragma once

#include <cstdint>
#include <functional>

namespace wmrun::snapshot {

// `items` are files for create and restore, chunks for send, receive and verify, packs for
// prune; a total of 0 means not known in advance.
struct Progress {
    uint64_t items = 0, items_total = 0;
    uint64_t bytes = 0, bytes_total = 0;
};

// Called often from the operation's thread; cheap callers only (throttle drawing yourself).
using ProgressFn = std::function<void(const Progress&)>;

}  // namespace wmrun::snapshot
