// Resolving paths inside an untrusted root (a container's rootfs) without leaving it.
// Every lookup is openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the root, so a
// symlink planted in the image resolves as if the root were "/" (CVE-2021-30465 class).
#pragma once

#include <sys/types.h>

#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun {

// Opens `path` (absolute or relative, either way taken inside root) below `rootfd`.
// `flags` are open(2) flags; O_CLOEXEC is always added.
Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);

// Like mkdir -p, inside root: each missing component is made with mkdirat on an fd of its
// resolved parent; returns an O_PATH fd of the final directory.
Result<UniqueFd> mkdir_all_in_root(int rootfd, const std::string& path, mode_t mode = 0755);

// Makes sure `path` exists inside root as a directory (is_dir) or an empty regular file (for
// bind-mounting files onto), creating parents; returns an O_PATH fd of it.
Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, bool is_dir);

// "/a//b/./c/" -> "a/b/c"; ".." components are kept for openat2 to clamp at the root.
std::string clean_relative(const std::string& path);

// The path /proc/self/fd/N, for handing an O_PATH fd to calls that take a path.
std::string fd_path(int fd);

}  // namespace wmrun
