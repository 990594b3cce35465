#include "wmrun/base/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace wmrun {

std::string errno_text(int err) {
    // strerrordesc_np: the description in English whatever the locale, as Go's table is.
    const char* desc = ::strerrordesc_np(err);
    if (desc == nullptr || *desc == '\0') return fmt::format("errno {}", err);
    std::string text = desc;
    // Go's mkerrors.sh: "Bad -> bad, but STREAM -> STREAM".
    if (text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
        std::islower(static_cast<unsigned char>(text[1])))
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return text;
}

std::string Error::message() const {
    std::string out = op;
    auto add = [&out](const std::string& part) {
        if (part.empty()) return;
        if (!out.empty()) out += ": ";
        out += part;
    };
    add(path);
    // A detail says more than the errno it came with; the errno text is for syscall failures.
    add(detail.empty() && err != 0 ? errno_text(err) : detail);
    // Paths, ids and quoted values come from configs, images and streams: a line break or an
    // escape sequence in one must not split the printed line or forge another.
    std::string escaped;
    for (unsigned char c : out) {
        if (c == '\n')
            escaped += "\\n";
        else if (c == '\t')
            escaped += "\\t";
        else if (c < 0x20 || c == 0x7f)
            escaped += fmt::format("\\x{:02x}", c);
        else
            escaped += static_cast<char>(c);
    }
    return escaped;
}

Error with_context(Error e, const std::string& outer) {
    if (!outer.empty()) e.op = e.op.empty() ? outer : outer + ": " + e.op;
    return e;
}

}  // namespace wmrun
