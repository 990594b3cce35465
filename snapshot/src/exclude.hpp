// create --exclude: glob patterns over paths relative to the source, as restic's --exclude.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::snapshot {

// A pattern is split at "/" and each part matched by fnmatch(3) against one path component
// ("*", "?", "[...]", "\" escapes; "*" matches a leading dot too). "**" matches any number of
// components, none included. A pattern starting with "/" is anchored at the source; any other
// may match at any depth ("*.log" matches "a/b/x.log"). A matched directory is left out with
// everything under it.
class ExcludeSet {
  public:
    static Result<ExcludeSet> compile(const std::vector<std::string>& patterns);
    bool empty() const { return patterns_.empty(); }
    // `path` is relative, "/"-separated.
    bool matches(std::string_view path) const;

  private:
    std::vector<std::vector<std::string>> patterns_;
};

}  // namespace wmrun::snapshot
