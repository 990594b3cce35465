#include "wmrun/base/json.hpp"

#include <fcntl.h>

#include "wmrun/base/fs.hpp"

namespace wmrun {

namespace {

// Thrown from the parser callback; carries nothing, the caller knows the limit.
struct TooDeep {};

}  // namespace

Result<Json> parse_json(const std::string& text, const std::string& name_for_errors,
                        const JsonLimits& limits) {
    if (text.size() > limits.max_bytes)
        return fail("parse JSON", name_for_errors,
                    "larger than the limit of " + std::to_string(limits.max_bytes) + " bytes",
                    EFBIG);
    // The callback sees each value's depth as the (iterative) parser reaches it, before the
    // value is built.
    auto bounded = [&](int depth, Json::parse_event_t, Json&) {
        if (depth > limits.max_depth) throw TooDeep{};
        return true;
    };
    try {
        return Json::parse(text, bounded);
    } catch (const TooDeep&) {
        return fail("parse JSON", name_for_errors,
                    "nested deeper than the limit of " + std::to_string(limits.max_depth));
    } catch (const Json::exception& e) {
        // parse_error, or out_of_range for a number past double's range (1E999).
        // nlohmann prefixes "[json.exception.parse_error.101] "; keep only the reason.
        std::string what = e.what();
        if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
        return fail("parse JSON", name_for_errors, what);
    }
}

Result<Json> read_json_file(const std::string& path, const JsonLimits& limits) {
    auto fd = WM_TRY(open_file(path, O_RDONLY));
    // One byte past the limit is enough to know it is too large.
    auto text = WM_TRY(read_fd(fd.get(), path, limits.max_bytes + 1));
    return parse_json(text, path, limits);
}

Result<> write_json_file_atomic(const std::string& path, const Json& value, int indent) {
    return write_file_atomic(path, value.dump(indent) + (indent >= 0 ? "\n" : ""));
}

}  // namespace wmrun
