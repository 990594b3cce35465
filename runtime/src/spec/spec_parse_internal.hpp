// Pieces of parse_spec() shared between the spec_parse*.cpp files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/json_fields.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime::detail {

Result<Process> parse_process(const Json& v, const std::string& path);
Result<Linux> parse_linux(const Json& v, const std::string& path);
Result<Seccomp> parse_seccomp(const Json& v, const std::string& path);

Result<IdMapping> parse_id_mapping(const Json& v, const std::string& path);
// An array member of IDMapping objects; absent is empty.
Result<std::vector<IdMapping>> parse_id_mappings(const json_fields::Fields& f,
                                                 std::string_view key);

// Each entry must be "NAME=value" with a non-empty NAME, as execve's environ.
Result<> check_env(const std::vector<std::string>& env, const std::string& path);

// Looks up a string in a fixed list; -1 when it is not there.
template <class Entry, std::size_t N>
int find_name(const Entry (&table)[N], std::string_view name) {
    for (std::size_t i = 0; i < N; ++i)
        if (name == table[i].name) return static_cast<int>(i);
    return -1;
}

// For values named in errors: unknown namespace "netns".
inline std::string in_quotes(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

inline bool is_absolute(std::string_view p) {
    return !p.empty() && p.front() == '/';
}

}  // namespace wmrun::runtime::detail
