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
    // A detail says more than the errno it came with; the errno text is for syscall failures.
    add(detail.empty() && err != 0 ? std::string(std::strerror(err)) : detail);
    return out;
}

Error with_context(Error e, const std::string& outer) {
    if (!outer.empty()) e.op = e.op.empty() ? outer : outer + ": " + e.op;
    return e;
}

}  // namespace wmrun
