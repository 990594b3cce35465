// Field readers for the image spec's documents. Errors read
// "<op>: <document>: <field>: <reason>". A null member counts as absent, as Go's encoding/json
// (which wrote most images in the wild) produces "Cmd": null for an empty list.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::overlay::detail {

struct Doc {
    std::string op;     // "parse manifest"
    std::string where;  // the file or blob

    std::unexpected<Error> error(const std::string& field, const std::string& reason) const {
        return fail(op, where, field + ": " + reason);
    }
};

inline std::string join_field(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

inline const Json* member(const Json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

inline Result<std::string> get_string(const Doc& d, const Json& obj, const std::string& parent,
                                      const char* key, bool required) {
    const Json* v = member(obj, key);
    if (v == nullptr) {
        if (required) return d.error(join_field(parent, key), "is required");
        return std::string();
    }
    if (!v->is_string()) return d.error(join_field(parent, key), "must be a string");
    return v->get<std::string>();
}

inline Result<std::vector<std::string>> get_strings(const Doc& d, const Json& obj,
                                                    const std::string& parent, const char* key) {
    std::vector<std::string> out;
    const Json* v = member(obj, key);
    if (v == nullptr) return out;
    std::string field = join_field(parent, key);
    if (!v->is_array()) return d.error(field, "must be an array of strings");
    for (std::size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string())
            return d.error(field + "[" + std::to_string(i) + "]", "must be a string");
        out.push_back((*v)[i].get<std::string>());
    }
    return out;
}

inline Result<std::map<std::string, std::string>> get_string_map(const Doc& d, const Json& obj,
                                                                 const std::string& parent,
                                                                 const char* key) {
    std::map<std::string, std::string> out;
    const Json* v = member(obj, key);
    if (v == nullptr) return out;
    std::string field = join_field(parent, key);
    if (!v->is_object()) return d.error(field, "must be an object of strings");
    for (auto it = v->begin(); it != v->end(); ++it) {
        if (!it->is_string()) return d.error(field + "." + it.key(), "must be a string");
        out.emplace(it.key(), it->get<std::string>());
    }
    return out;
}

// The keys of an object whose values are empty objects (ExposedPorts, Volumes).
inline Result<std::vector<std::string>> get_key_set(const Doc& d, const Json& obj,
                                                    const std::string& parent, const char* key) {
    std::vector<std::string> out;
    const Json* v = member(obj, key);
    if (v == nullptr) return out;
    std::string field = join_field(parent, key);
    if (!v->is_object()) return d.error(field, "must be an object");
    for (auto it = v->begin(); it != v->end(); ++it) {
        if (!it->is_object() && !it->is_null())
            return d.error(field + "." + it.key(), "must be an object");
        out.push_back(it.key());
    }
    return out;
}

}  // namespace wmrun::overlay::detail
