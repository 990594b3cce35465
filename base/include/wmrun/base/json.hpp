// JSON in and out: parse errors name the file; writes go through write_file_atomic.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "wmrun/base/error.hpp"

namespace wmrun {

using Json = nlohmann::json;
// Keeps the order keys were added, so written files read as the spec lists them.
using OrderedJson = nlohmann::ordered_json;

Result<Json> parse_json(const std::string& text, const std::string& name_for_errors);
Result<Json> read_json_file(const std::string& path);
Result<> write_json_file_atomic(const std::string& path, const Json& value, int indent = -1);

}  // namespace wmrun
