// Small string helpers shared by the modules.
#pragma once

#include <string>
#include <vector>

namespace wmrun {

// "a:b::c" -> {"a", "b", "", "c"}; an empty string gives one empty field.
inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string::npos) return out;
        start = pos + 1;
    }
}

// Every byte for which safe(byte, index) is false becomes %XX, so that a name taken from
// outside (an image reference, a volume path) can be used as one file name.
template <typename Safe>
std::string percent_escape(const std::string& s, Safe&& safe) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (safe(c, i)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

}  // namespace wmrun
