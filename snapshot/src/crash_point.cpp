// The WMRUN_CRASH_AT test hook (repo_internal.hpp). Kept apart so that it is easy to find and
// to see that it does nothing unless the variable is set.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "repo_internal.hpp"

namespace wmrun::snapshot {

void crash_point() {
    static const long target = [] {
        const char* v = std::getenv("WMRUN_CRASH_AT");
        return v ? std::atol(v) : 0L;
    }();
    static std::atomic<long> count{0};
    if (target <= 0) return;
    // SIGKILL, not abort(): the same as kill -9 from outside, with no core dump and no
    // destructors or atexit handlers tidying up.
    if (count.fetch_add(1, std::memory_order_relaxed) + 1 == target) ::kill(::getpid(), SIGKILL);
}

}  // namespace wmrun::snapshot
