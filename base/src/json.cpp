#include "wmrun/base/json.hpp"

#include "wmrun/base/fs.hpp"

namespace wmrun {

Result<Json> parse_json(const std::string& text, const std::string& name_for_errors) {
    try {
        return Json::parse(text);
    } catch (const Json::parse_error& e) {
        // nlohmann prefixes "[json.exception.parse_error.101] "; keep only the reason.
        std::string what = e.what();
        if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
        return fail("parse JSON", name_for_errors, what);
    }
}

Result<Json> read_json_file(const std::string& path) {
    auto text = WM_TRY(read_file(path));
    return parse_json(text, path);
}

Result<> write_json_file_atomic(const std::string& path, const Json& value, int indent) {
    return write_file_atomic(path, value.dump(indent) + (indent >= 0 ? "\n" : ""));
}

}  // namespace wmrun
