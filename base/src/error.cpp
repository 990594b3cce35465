#include "wmrun/base/error.hpp"

#include <cstring>

namespace wmrun {

std::string Error::message() const {
    std::string out = op;
    auto add = [&out](const std::string& part) {
        if (part.empty()) return;
        if (!out.empty()) out += ": ";
        out += part;
    };
    add(path);
    if (err != 0 && !detail.empty()) {
        add(detail);
        add(std::strerror(err));
    } else if (err != 0) {
        add(std::strerror(err));
    } else {
        add(detail);
    }
    return out;
}

Error with_context(Error e, const std::string& outer) {
    if (!outer.empty()) e.op = e.op.empty() ? outer : outer + ": " + e.op;
    return e;
}

}  // namespace wmrun
