// Typed readers for fields of JSON documents such as config.json, each error naming the field's
// JSON path: `linux.resources.memory.limit: must be an integer`. The Error has the path as `op`
// and the reason as `detail`, so Error::message() reads "<field>: <reason>".
// A member whose value is null counts as absent, as Go's encoding/json (runc) treats it.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::json_fields {

inline std::unexpected<Error> field_error(std::string field, std::string reason) {
    return std::unexpected(Error{std::move(field), "", 0, std::move(reason)});
}

inline std::string member_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

inline std::string index_path(const std::string& parent, std::size_t i) {
    return parent + "[" + std::to_string(i) + "]";
}

inline Result<> expect_object(const Json& v, const std::string& path) {
    if (!v.is_object()) return field_error(path, "must be an object");
    return {};
}

inline Result<> expect_array(const Json& v, const std::string& path) {
    if (!v.is_array()) return field_error(path, "must be an array");
    return {};
}

inline Result<std::string> as_string(const Json& v, const std::string& path) {
    if (!v.is_string()) return field_error(path, "must be a string");
    return v.get<std::string>();
}

inline Result<bool> as_bool(const Json& v, const std::string& path) {
    if (!v.is_boolean()) return field_error(path, "must be a boolean");
    return v.get<bool>();
}

// An integer that fits T; floats and numerals in strings are rejected as the schema's
// "integer" type does.
template <class T>
Result<T> as_int(const Json& v, const std::string& path) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    if (!v.is_number_integer()) return field_error(path, "must be an integer");
    constexpr auto lo = std::numeric_limits<T>::min();
    constexpr auto hi = std::numeric_limits<T>::max();
    auto range = [&] {
        return field_error(path, "must be an integer between " + std::to_string(lo) + " and " +
                                     std::to_string(hi));
    };
    if (v.is_number_unsigned()) {
        auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(hi)) return range();
        return static_cast<T>(u);
    }
    auto s = v.get<std::int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
        if (s < 0) return range();
        if (static_cast<std::uint64_t>(s) > static_cast<std::uint64_t>(hi)) return range();
    } else {
        if (s < static_cast<std::int64_t>(lo) || s > static_cast<std::int64_t>(hi)) return range();
    }
    return static_cast<T>(s);
}

inline Result<std::vector<std::string>> as_string_array(const Json& v, const std::string& path) {
    WM_CHECK(expect_array(v, path));
    std::vector<std::string> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
        out.push_back(WM_TRY(as_string(v[i], index_path(path, i))));
    return out;
}

// An object whose values are all strings, with non-empty keys (mapStringString in defs.json).
inline Result<std::map<std::string, std::string>> as_string_map(const Json& v,
                                                                const std::string& path) {
    WM_CHECK(expect_object(v, path));
    std::map<std::string, std::string> out;
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.key().empty()) return field_error(path, "keys must not be empty");
        out.emplace(it.key(), WM_TRY(as_string(it.value(), member_path(path, it.key()))));
    }
    return out;
}

// A view on one JSON object at a known path, with readers for its members.
class Fields {
  public:
    // Fails unless `v` is an object.
    static Result<Fields> of(const Json& v, std::string path) {
        WM_CHECK(expect_object(v, path));
        return Fields(v, std::move(path));
    }

    const std::string& path() const { return path_; }
    const Json& json() const { return *obj_; }
    std::string at(std::string_view key) const { return member_path(path_, key); }

    // The member's value, or nullptr when it is absent or null.
    const Json* get(std::string_view key) const {
        auto it = obj_->find(key);
        if (it == obj_->end() || it->is_null()) return nullptr;
        return &*it;
    }
    bool has(std::string_view key) const { return get(key) != nullptr; }

    Result<const Json*> required(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return field_error(at(key), "is required");
        return v;
    }

    Result<std::string> string_or(std::string_view key, std::string fallback = {}) const {
        const Json* v = get(key);
        if (!v) return fallback;
        return as_string(*v, at(key));
    }
    Result<std::optional<std::string>> opt_string(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return std::optional<std::string>{};
        return std::optional<std::string>(WM_TRY(as_string(*v, at(key))));
    }
    Result<std::string> req_string(std::string_view key) const {
        const Json* v = WM_TRY(required(key));
        return as_string(*v, at(key));
    }

    Result<bool> bool_or(std::string_view key, bool fallback) const {
        const Json* v = get(key);
        if (!v) return fallback;
        return as_bool(*v, at(key));
    }
    Result<bool> req_bool(std::string_view key) const {
        const Json* v = WM_TRY(required(key));
        return as_bool(*v, at(key));
    }
    Result<std::optional<bool>> opt_bool(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return std::optional<bool>{};
        return std::optional<bool>(WM_TRY(as_bool(*v, at(key))));
    }

    template <class T>
    Result<std::optional<T>> opt_int(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return std::optional<T>{};
        return std::optional<T>(WM_TRY(as_int<T>(*v, at(key))));
    }
    template <class T>
    Result<T> int_or(std::string_view key, T fallback) const {
        const Json* v = get(key);
        if (!v) return fallback;
        return as_int<T>(*v, at(key));
    }
    template <class T>
    Result<T> req_int(std::string_view key) const {
        const Json* v = WM_TRY(required(key));
        return as_int<T>(*v, at(key));
    }

    // Absent means empty.
    Result<std::vector<std::string>> strings(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return std::vector<std::string>{};
        return as_string_array(*v, at(key));
    }
    Result<std::map<std::string, std::string>> string_map(std::string_view key) const {
        const Json* v = get(key);
        if (!v) return std::map<std::string, std::string>{};
        return as_string_map(*v, at(key));
    }

    // Calls fn(element, element_path) for each element of an array member; absent is empty.
    template <class Fn>
    Result<> each(std::string_view key, Fn&& fn) const {
        const Json* v = get(key);
        if (!v) return {};
        std::string p = at(key);
        WM_CHECK(expect_array(*v, p));
        for (std::size_t i = 0; i < v->size(); ++i)
            WM_CHECK(fn((*v)[i], index_path(p, i)));
        return {};
    }

  private:
    Fields(const Json& obj, std::string path) : obj_(&obj), path_(std::move(path)) {}
    const Json* obj_;
    std::string path_;
};

}  // namespace wmrun::json_fields
