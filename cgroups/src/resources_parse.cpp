#include "wmrun/cgroups/resources.hpp"

namespace wmrun::cgroups {

Result<Resources> parse_resources(const Json& doc, const std::string& field) {
    if (!doc.is_object()) return fail(field, "", "must be an object");
    return Resources{};
}

}  // namespace wmrun::cgroups
