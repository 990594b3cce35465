#include "exclude.hpp"
#include "wmrun/snapshot/repository.hpp"

#include <fnmatch.h>

namespace wmrun::snapshot {
namespace {

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t slash = s.find('/', start);
        out.emplace_back(s.substr(start, slash - start));
        if (slash == std::string_view::npos) return out;
        start = slash + 1;
    }
}

// Pattern parts from `p`, path components from `c`. "**" tries every number of components;
// patterns are a few parts long, so the backtracking stays small.
bool match_parts(const std::vector<std::string>& pat, size_t p,
                 const std::vector<std::string>& comp, size_t c) {
    if (p == pat.size()) return c == comp.size();
    if (pat[p] == "**") {
        for (size_t skip = c; skip <= comp.size(); ++skip)
            if (match_parts(pat, p + 1, comp, skip)) return true;
        return false;
    }
    if (c == comp.size()) return false;
    if (::fnmatch(pat[p].c_str(), comp[c].c_str(), 0) != 0) return false;
    return match_parts(pat, p + 1, comp, c + 1);
}

}  // namespace

Result<ExcludeSet> ExcludeSet::compile(const std::vector<std::string>& patterns) {
    ExcludeSet set;
    for (const auto& text : patterns) {
        std::string_view p = text;
        bool anchored = p.starts_with('/');
        while (p.starts_with('/'))
            p.remove_prefix(1);
        while (p.ends_with('/'))
            p.remove_suffix(1);
        if (p.empty()) return fail("create", "--exclude \"" + text + "\"", "empty pattern");
        std::vector<std::string> parts = anchored ? std::vector<std::string>{}
                                                  : std::vector<std::string>{"**"};
        for (auto& part : split(p)) {
            if (part.empty())
                return fail("create", "--exclude \"" + text + "\"", "empty path component");
            // "**" twice in a row is one "**", and keeps the backtracking linear.
            if (part == "**" && !parts.empty() && parts.back() == "**") continue;
            parts.push_back(std::move(part));
        }
        set.patterns_.push_back(std::move(parts));
    }
    return set;
}

bool ExcludeSet::matches(std::string_view path) const {
    if (patterns_.empty()) return false;
    auto comp = split(path);
    for (const auto& p : patterns_)
        if (match_parts(p, 0, comp, 0)) return true;
    return false;
}

Result<> check_exclude_patterns(const std::vector<std::string>& patterns) {
    WM_CHECK(ExcludeSet::compile(patterns));
    return {};
}

}  // namespace wmrun::snapshot
