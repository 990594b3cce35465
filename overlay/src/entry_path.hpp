// Member paths of tars (layers and oci-archives), resolved only through directory fds.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::overlay::detail {

// "./a//b/" -> {"a", "b"}; "." -> {}. Absolute paths and ".." components are rejected: a
// layer describes its own tree and has no business naming anything above it.
Result<std::vector<std::string>> split_member_path(std::string_view name, const std::string& where);

// A member name in quotes as errors show it: cut after 256 bytes, as a hostile one may be
// megabytes long.
std::string quote_member(std::string_view name);

std::string join_components(const std::vector<std::string>& comps, std::size_t count);

// Opens (O_RDONLY | O_DIRECTORY) the directory made of the first `count` components below
// rootfd with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS, so no symlink in the tree, planted by an
// earlier member, is ever followed. With `create`, missing directories are made (0755), as
// tar implementations do for members whose parents were not listed.
Result<UniqueFd> open_dir_below(int rootfd, const std::vector<std::string>& comps,
                                std::size_t count, bool create, const std::string& where);

}  // namespace wmrun::overlay::detail
