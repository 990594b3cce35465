// Reading and writing the metadata that a volume layer carries beyond content.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::snapshot {

// "/proc/self/fd/<dirfd>/<name>": names an entry through its directory fd without following
// a symlink in its last component when used with the l* calls.
std::string fd_path(int dirfd, const std::string& name);

// All xattrs of an entry (not following a final symlink), sorted by name.
Result<std::vector<std::pair<std::string, std::string>>> read_xattrs(const std::string& path);
// The same through a directory fd and a name ("" for the fd itself), with the *xattrat
// syscalls (Linux 6.13) where the kernel has them: one call for the common entry without
// xattrs, and no /proc path to resolve per entry.
Result<std::vector<std::pair<std::string, std::string>>> read_xattrs_at(int dirfd,
                                                                        const std::string& name);
Result<> write_xattrs(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& xattrs);

// Sorted names in a directory, without "." and "..".
Result<std::vector<std::string>> read_dir_names(int dirfd, const std::string& path_for_errors);
// The names in the directory open as fd, sorted, without "." and "..": read through fd itself
// from its current offset (getdents64), which it moves, for a caller that opened fd to list it.
Result<std::vector<std::string>> list_dir(int fd, const std::string& path_for_errors);

}  // namespace wmrun::snapshot
