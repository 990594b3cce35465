// Host-side file helpers: whole-file reads, crash-safe writes, directory creation.
// Paths here are trusted host paths (state dir, bundle); container paths go through path.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun {

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode = 0);
Result<std::string> read_file(const std::string& path);
// Reads to EOF, or stops after `max_bytes` (the caller decides whether that is an error).
Result<std::string> read_fd(int fd, const std::string& name_for_errors,
                            std::size_t max_bytes = SIZE_MAX);
// The same for a regular file or a pseudo-file that the kernel prints as one record
// (/proc/PID/stat; a cgroup file without an iteration of its own, as memory.stat, cpu.stat or
// pids.current): there a short read is the end, so a small file costs one read() instead of
// two (stats reads thousands). Not for pipes and sockets, nor for files of many records
// (cgroup.procs, mountinfo): the kernel ends their reads short at its buffer's size.
Result<std::string> read_file_fd(int fd, const std::string& name_for_errors,
                                 std::size_t max_bytes = SIZE_MAX);
Result<std::string> read_one_record_file(const std::string& path);
Result<> write_all(int fd, std::string_view data, const std::string& name_for_errors);

// Writes to "<path>.tmp-<pid>", fsyncs, renames over path and fsyncs the directory, so a crash
// leaves either the old or the new content, never a mix.
Result<> write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// Temp name and rename without the fsyncs: readers never see a partial file, but a crash may
// lose the update. For state that lives on tmpfs and dies with the boot anyway (state.json,
// pid files), where the fsyncs would only put milliseconds on every create and start.
Result<> replace_file(const std::string& path, std::string_view data, mode_t mode = 0644);

// Writes a small value to an existing file, as for /proc and cgroup files.
Result<> write_file(const std::string& path, std::string_view data);

// mkdir -p; existing directories are fine.
Result<> mkdir_all(const std::string& path, mode_t mode = 0755);

// rm -rf without crossing mount points; a missing path is fine.
Result<> remove_all(const std::string& path);

bool path_exists(const std::string& path);

}  // namespace wmrun
