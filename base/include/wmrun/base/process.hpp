// Identifying processes safely: a pid alone can be reused, so a process is (pid, start time),
// and signals go through pidfds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun {

// Field 22 of /proc/PID/stat (clock ticks since boot).
Result<std::uint64_t> process_start_time(pid_t pid);

// Field 3 of /proc/PID/stat: R, S, D, Z, T, ...
Result<char> process_state(pid_t pid);

// A pidfd for pid, only if it is still the process that started at start_time.
Result<UniqueFd> open_process(pid_t pid, std::uint64_t start_time);

// Alive and not a zombie, and the same process that started at start_time.
bool process_alive(pid_t pid, std::uint64_t start_time);

// Parses the text of /proc/PID/stat; the command name may hold spaces and parentheses.
Result<std::uint64_t> parse_stat_start_time(const std::string& stat);

}  // namespace wmrun
