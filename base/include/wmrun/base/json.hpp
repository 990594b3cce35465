// JSON in and out: parse errors name the file; writes go through write_file_atomic.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "wmrun/base/error.hpp"

namespace wmrun {

using Json = nlohmann::json;
// Keeps the order keys were added, so written files read as the spec lists them.
using OrderedJson = nlohmann::ordered_json;

// Every JSON document wmrun reads may be hostile (a bundle, an image, a stream, a state file):
// it is refused past a size and a nesting depth before anything is built from it, so that the
// recursive walks over the DOM (copies, dumps, field readers) stay bounded.
struct JsonLimits {
    std::size_t max_bytes = std::size_t{16} << 20;
    int max_depth = 128;
};

Result<Json> parse_json(const std::string& text, const std::string& name_for_errors,
                        const JsonLimits& limits = {});
Result<Json> read_json_file(const std::string& path, const JsonLimits& limits = {});
Result<> write_json_file_atomic(const std::string& path, const Json& value, int indent = -1);

}  // namespace wmrun
