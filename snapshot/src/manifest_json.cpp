// The manifest's JSON text read straight into Entry structs: a DOM (nlohmann) of a 50k-file
// tree costs more than walking the tree itself (the writer is manifest_writer.cpp). Manifests
// come from other hosts too, so the text is hostile: see JsonReader.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "manifest.hpp"
#include "repo_internal.hpp"

namespace wmrun::snapshot {
namespace {

constexpr const char* kTypeNames[] = {"file", "dir", "symlink", "fifo", "chr", "blk", "hardlink"};

}  // namespace

// RFC 3629, as nlohmann checks it when it dumps: no overlong forms, surrogates or code
// points past U+10FFFF. A name that fails is written as hex.
bool valid_utf8(std::string_view s) {
    auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n = in(c, 0xC2, 0xDF) ? 2 : in(c, 0xE0, 0xEF) ? 3 : in(c, 0xF0, 0xF4) ? 4 : 0;
        if (n == 0 || n > s.size() - i) return false;
        unsigned char second = s[i + 1];
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        if (!in(second, lo, hi)) return false;
        for (size_t k = 2; k < n; ++k)
            if (!in(s[i + k], 0x80, 0xBF)) return false;
        i += n;
    }
    return true;
}

const char* type_name(EntryType type) {
    return kTypeNames[int(type)];
}

namespace {

// A pull reader for the subset of JSON that manifests use: objects, arrays, strings, integers,
// true/false/null (skipped). Errors throw JsonError with the offset; caught at the top. The
// text may be hostile: nesting is counted against a limit and skipped without recursion, and
// strings must be UTF-8, as JSON requires (they are printed, and dumped as JSON, later).
struct JsonError {
    size_t offset;
    std::string what;
};

class JsonReader {
  public:
    JsonReader(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

    [[noreturn]] void error(std::string what) const { throw JsonError{pos_, std::move(what)}; }

    char peek() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
            ++pos_;
        return pos_ < s_.size() ? s_[pos_] : '\0';
    }
    void expect(char c) {
        if (peek() != c) error(std::string("expected '") + c + "'");
        ++pos_;
    }
    bool consume(char c) {
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    // An object or array begins or ends: the depth is the number open around the position.
    void open(char c) {
        expect(c);
        if (++depth_ > max_depth_)
            error("nested deeper than the limit of " + std::to_string(max_depth_) +
                  " (--max-json-depth)");
    }
    void close(char c) {
        expect(c);
        --depth_;
    }
    // Iterates an object: true while there is a next key, which is read into `key`.
    bool next_key(bool& first, std::string& key) {
        if (first) {
            open('{');
            first = false;
            if (peek() == '}') return close('}'), false;
        } else if (!consume(',')) {
            close('}');
            return false;
        }
        key = string();
        expect(':');
        return true;
    }
    bool next_item(bool& first) {
        if (first) {
            open('[');
            first = false;
            if (peek() == ']') return close(']'), false;
            return true;
        }
        if (consume(',')) return true;
        close(']');
        return false;
    }

    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            size_t run = pos_;
            bool high = false;  // a byte past ASCII in the run
            while (run < s_.size() && s_[run] != '"' && s_[run] != '\\') {
                unsigned char c = s_[run];
                // One comparison for both rare cases: below 0x20 wraps past 0x60.
                if (uint8_t(c - 0x20) >= 0x60) {
                    if (c < 0x20) {
                        pos_ = run;
                        error("control character in string");
                    }
                    high = true;
                }
                ++run;
            }
            // Escapes are ASCII, so each run between them must be UTF-8 by itself.
            std::string_view raw = s_.substr(pos_, run - pos_);
            if (high && !valid_utf8(raw)) error("string is not UTF-8");
            out.append(raw);
            pos_ = run;
            if (pos_ >= s_.size()) error("unterminated string");
            if (s_[pos_++] == '"') return out;
            if (pos_ >= s_.size()) error("unterminated string");
            char c = s_[pos_++];
            switch (c) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u':
                    utf8(out, codepoint());
                    break;
                default:
                    error("bad escape");
            }
        }
    }
    template <class T>
    T integer() {
        peek();
        T v{};
        auto r = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v);
        if (r.ec != std::errc()) error("bad integer");
        pos_ = size_t(r.ptr - s_.data());
        if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
            error("not an integer");
        return v;
    }
    // Skips one value of any depth. Iterative: how deep it goes is the input's choice.
    void skip() {
        std::string closers;  // of the objects and arrays open inside the value, innermost last
        for (;;) {
            char c = peek();
            if (c == '{' || c == '[') {
                char closer = c == '{' ? '}' : ']';
                open(c);
                if (peek() == closer) {
                    close(closer);
                } else {
                    closers.push_back(closer);
                    if (closer == '}') member_key();
                    continue;  // to the first member's value
                }
            } else {
                scalar();
            }
            // A value is complete: close what it completes, or go on to the next member.
            for (;;) {
                if (closers.empty()) return;
                if (consume(',')) {
                    if (closers.back() == '}') member_key();
                    break;
                }
                close(closers.back());
                closers.pop_back();
            }
        }
    }
    bool at_end() { return peek() == '\0' && pos_ == s_.size(); }

  private:
    void member_key() {
        string();
        expect(':');
    }
    void scalar() {
        char c = peek();
        if (c == '"') {
            string();
        } else if (c == 't' || c == 'f' || c == 'n') {
            for (std::string_view word : {"true", "false", "null"})
                if (s_.substr(pos_, word.size()) == word) {
                    pos_ += word.size();
                    return;
                }
            error("bad literal");
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            ++pos_;
            while (pos_ < s_.size() && std::strchr("0123456789.eE+-", s_[pos_]))
                ++pos_;
        } else {
            error("unexpected character");
        }
    }
    unsigned hex4() {
        if (pos_ + 4 > s_.size()) error("bad \\u escape");
        unsigned v = 0;
        auto r = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, v, 16);
        if (r.ptr != s_.data() + pos_ + 4) error("bad \\u escape");
        pos_ += 4;
        return v;
    }
    unsigned codepoint() {
        unsigned cp = hex4();
        if (cp >= 0xD800 && cp < 0xDC00) {
            if (s_.substr(pos_, 2) != "\\u") error("lone surrogate");
            pos_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            error("lone surrogate");
        }
        return cp;
    }
    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out.push_back(char(cp));
        } else if (cp < 0x800) {
            out.push_back(char(0xC0 | cp >> 6));
            out.push_back(char(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(char(0xE0 | cp >> 12));
            out.push_back(char(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(char(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(char(0xF0 | cp >> 18));
            out.push_back(char(0x80 | (cp >> 12 & 0x3F)));
            out.push_back(char(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(char(0x80 | (cp & 0x3F)));
        }
    }

    std::string_view s_;
    size_t pos_ = 0;
    int depth_ = 0;
    const int max_depth_;
};

// --- entries -------------------------------------------------------------------------------

std::string unhex(JsonReader& r, const char* what) {
    auto raw = hex_decode(r.string());
    if (!raw) r.error(std::string("bad hex in ") + what);
    return std::move(*raw);
}

// Restore writes each extent at its offset and sets the length to `size`: the extents must be
// in order, apart, and inside the file, whose length is an off_t. Sums are not computed where
// they could wrap.
const char* bad_extents(const Entry& e) {
    if (e.size > uint64_t(INT64_MAX)) return "size out of range";
    uint64_t end = 0;
    for (const auto& [off, len] : e.extents) {
        if (off < end || off > e.size || len > e.size - off) return "extent outside the file";
        end = off + len;
    }
    return nullptr;
}

Entry read_entry(JsonReader& r) {
    Entry e;
    enum : unsigned {
        kPath = 1,
        kType = 2,
        kMode = 4,
        kUid = 8,
        kGid = 16,
        kMtime = 32,
        kSize = 64,
        kLink = 128
    };
    unsigned seen = 0;
    bool first = true;
    std::string k;
    while (r.next_key(first, k)) {
        if (k == "path") {
            e.path = r.string(), seen |= kPath;
        } else if (k == "path_hex") {
            e.path = unhex(r, "path_hex"), seen |= kPath;
        } else if (k == "type") {
            std::string type = r.string();
            auto it = std::find(std::begin(kTypeNames), std::end(kTypeNames), type);
            if (it == std::end(kTypeNames)) r.error("unknown type \"" + printable(type) + "\"");
            e.type = EntryType(it - std::begin(kTypeNames));
            seen |= kType;
        } else if (k == "link") {
            e.link = unhex(r, "link"), seen |= kLink;
        } else if (k == "mode") {
            e.mode = r.integer<uint32_t>(), seen |= kMode;
        } else if (k == "uid") {
            e.uid = r.integer<uint32_t>(), seen |= kUid;
        } else if (k == "gid") {
            e.gid = r.integer<uint32_t>(), seen |= kGid;
        } else if (k == "mtime_ns") {
            e.mtime_ns = r.integer<int64_t>(), seen |= kMtime;
        } else if (k == "ctime_ns") {
            e.ctime_ns = r.integer<int64_t>();
        } else if (k == "ino") {
            e.ino = r.integer<uint64_t>();
        } else if (k == "size") {
            e.size = r.integer<uint64_t>(), seen |= kSize;
        } else if (k == "target") {
            e.target = unhex(r, "target");
        } else if (k == "rdev_major") {
            e.rdev_major = r.integer<uint32_t>();
        } else if (k == "rdev_minor") {
            e.rdev_minor = r.integer<uint32_t>();
        } else if (k == "xattrs") {
            bool f = true;
            std::string name;
            while (r.next_key(f, name)) {
                auto raw = hex_decode(name);
                if (!raw) r.error("bad hex in xattr name");
                e.xattrs.emplace_back(std::move(*raw), unhex(r, "xattr value"));
            }
            std::sort(e.xattrs.begin(), e.xattrs.end());
        } else if (k == "extents") {
            bool f = true;
            while (r.next_item(f)) {
                r.open('[');
                uint64_t off = r.integer<uint64_t>();
                r.expect(',');
                uint64_t len = r.integer<uint64_t>();
                r.close(']');
                e.extents.emplace_back(off, len);
            }
        } else if (k == "chunks") {
            bool f = true;
            while (r.next_item(f)) {
                auto id = ChunkId::from_hex(r.string());
                if (!id) r.error("bad chunk id");
                e.chunks.push_back(*id);
            }
        } else {
            r.skip();
        }
    }
    if ((seen & (kPath | kType)) != (kPath | kType)) r.error("entry without path or type");
    if (e.type == EntryType::hardlink) {
        if (!(seen & kLink)) r.error("hardlink without link");
        Entry h;
        h.path = std::move(e.path);
        h.type = EntryType::hardlink;
        h.link = std::move(e.link);
        return h;
    }
    const unsigned need = kMode | kUid | kGid | kMtime | kSize;
    if ((seen & need) != need)
        r.error("entry \"" + printable(e.path) + "\" lacks a required field");
    if (const char* bad = bad_extents(e)) r.error("entry \"" + printable(e.path) + "\": " + bad);
    e.link.clear();
    return e;
}

}  // namespace

Result<Manifest> parse_manifest_json(const std::string& text, const std::string& path,
                                     int max_json_depth) {
    JsonReader r(text, max_json_depth);
    Manifest m;
    try {
        enum : unsigned {
            kVersion = 1,
            kTime = 2,
            kSource = 4,
            kParent = 8,
            kTree = 16
        };
        unsigned seen = 0;
        bool first = true;
        std::string k;
        while (r.next_key(first, k)) {
            if (k == "version") {
                if (r.integer<int64_t>() != kFormatVersion)
                    return fail("read snapshot", path, "unsupported version");
                seen |= kVersion;
            } else if (k == "time_ns") {
                m.time_ns = r.integer<int64_t>(), seen |= kTime;
            } else if (k == "hostname") {
                m.hostname = r.string();
            } else if (k == "source") {
                m.source = unhex(r, "source"), seen |= kSource;
            } else if (k == "parent") {
                m.parent = r.string(), seen |= kParent;
            } else if (k == "origin") {
                bool f = true;
                std::string ok;
                while (r.next_key(f, ok)) {
                    if (ok == "repository")
                        m.origin_repo = r.string();
                    else if (ok == "host")
                        m.origin_host = r.string();
                    else if (ok == "snapshot")
                        m.origin_snapshot = r.string();
                    else
                        r.skip();
                }
            } else if (k == "tags") {
                bool f = true;
                while (r.next_item(f))
                    m.tags.push_back(r.string());
            } else if (k == "tree") {
                bool f = true;
                while (r.next_item(f))
                    m.tree.push_back(read_entry(r));
                seen |= kTree;
            } else {
                r.skip();
            }
        }
        if (!r.at_end()) r.error("trailing bytes");
        if (!(seen & kVersion)) return fail("read snapshot", path, "unsupported version");
        // hostname is optional: manifests written before it was recorded lack it.
        if (seen != (kVersion | kTime | kSource | kParent | kTree))
            r.error("a required field is missing");
    } catch (const JsonError& e) {
        return fail("parse snapshot", path, "byte " + std::to_string(e.offset) + ": " + e.what);
    }
    return m;
}

}  // namespace wmrun::snapshot
