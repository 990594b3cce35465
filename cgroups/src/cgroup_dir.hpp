// Reading and writing the files of one cgroup directory, with errors that name the file and
// the value, and removal of a cgroup tree. Shared by the v1 and v2 drivers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::cgroups::detail {

bool has_file(const std::string& dir, const std::string& file);
// The content without the trailing newline, of a file the kernel prints as one record (every
// interface file but cgroup.procs, cgroup.threads and tasks; see read_one_record_file).
Result<std::string> read_value(const std::string& dir, const std::string& file);
Result<> write_value(const std::string& dir, const std::string& file, std::string_view value);
// A number, or 0 for "max" (unlimited).
Result<std::uint64_t> read_u64(const std::string& dir, const std::string& file);

std::optional<std::uint64_t> parse_u64(std::string_view text);
// "key value" lines, as memory.stat, cpu.stat, memory.events; values that are not numbers are
// skipped.
std::map<std::string, std::uint64_t> parse_flat_keyed(std::string_view text);

Result<> write_pid(const std::string& dir, const std::string& file, pid_t pid);
// Processes listed in `file` (cgroup.procs or tasks) of dir and every descendant cgroup.
Result<std::vector<pid_t>> read_pids_recursive(const std::string& dir, const std::string& file);

// rmdir of dir after its child cgroups, deepest first. EBUSY (processes still exiting) is
// retried for about a second; a missing directory is fine.
Result<> remove_cgroup(const std::string& dir);

}  // namespace wmrun::cgroups::detail
