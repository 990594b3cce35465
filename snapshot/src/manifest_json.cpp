// The manifest's JSON text, written and read straight from and into Entry structs: a DOM
// (nlohmann) of a 50k-file tree costs more than walking the tree itself. The writer emits
// exactly the bytes nlohmann's dump() gives for the same document (keys sorted, no spaces,
// the same escapes), so ids do not depend on which of the two wrote a manifest.
#include <algorithm>
#include <charconv>
#include <cstring>

#include "manifest.hpp"
#include "repo_internal.hpp"

namespace wmrun::snapshot {
namespace {

constexpr const char* kTypeNames[] = {"file", "dir", "symlink", "fifo", "chr", "blk", "hardlink"};

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += n;
    }
    return true;
}

// --- writer ---------------------------------------------------------------------------------

class Writer {
  public:
    std::string out;

    void raw(std::string_view s) { out.append(s); }
    void key(std::string_view k) {  // keys are plain ASCII
        out.push_back('"');
        out.append(k);
        out.append("\":");
    }
    void str(std::string_view s) {
        static constexpr char kHex[] = "0123456789abcdef";
        out.push_back('"');
        for (unsigned char c : s) {
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                default:
                    if (c < 0x20) {
                        out.append("\\u00");
                        out.push_back(kHex[c >> 4]);
                        out.push_back(kHex[c & 15]);
                    } else {
                        out.push_back(char(c));
                    }
            }
        }
        out.push_back('"');
    }
    void hex(std::string_view raw) {
        static constexpr char kDigits[] = "0123456789abcdef";
        out.push_back('"');
        for (unsigned char c : raw) {
            out.push_back(kDigits[c >> 4]);
            out.push_back(kDigits[c & 15]);
        }
        out.push_back('"');
    }
    template <class T>
    void num(T v) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    }
    template <class T>
    void field(std::string_view k, T v) {
        key(k);
        num(v);
        out.push_back(',');
    }
};

void write_entry(Writer& w, const Entry& e) {
    // Keys in bytewise order, as a std::map-backed JSON object dumps them.
    auto path = [&] {
        if (valid_utf8(e.path)) {
            w.key("path");
            w.str(e.path);
        } else {
            w.key("path_hex");
            w.hex(e.path);
        }
        w.raw(",");
    };
    auto type = [&] {
        w.key("type");
        w.str(type_name(e.type));
    };
    w.raw("{");
    if (e.type == EntryType::hardlink) {
        w.key("link");
        w.hex(e.link);
        w.raw(",");
        path();
        type();
        w.raw("}");
        return;
    }
    const bool file = e.type == EntryType::file;
    if (file) {
        w.key("chunks");
        w.raw("[");
        for (size_t i = 0; i < e.chunks.size(); ++i) {
            if (i) w.raw(",");
            w.raw("\"");
            w.raw(e.chunks[i].hex());
            w.raw("\"");
        }
        w.raw("],");
    }
    w.field("ctime_ns", e.ctime_ns);
    if (file) {
        w.key("extents");
        w.raw("[");
        for (size_t i = 0; i < e.extents.size(); ++i) {
            w.raw(i ? ",[" : "[");
            w.num(e.extents[i].first);
            w.raw(",");
            w.num(e.extents[i].second);
            w.raw("]");
        }
        w.raw("],");
    }
    w.field("gid", e.gid);
    w.field("ino", e.ino);
    w.field("mode", e.mode);
    w.field("mtime_ns", e.mtime_ns);
    path();
    if (e.type == EntryType::chr || e.type == EntryType::blk) {
        w.field("rdev_major", e.rdev_major);
        w.field("rdev_minor", e.rdev_minor);
    }
    w.field("size", e.size);
    if (e.type == EntryType::symlink) {
        w.key("target");
        w.hex(e.target);
        w.raw(",");
    }
    type();
    w.raw(",");
    w.key("uid");
    w.num(e.uid);
    if (!e.xattrs.empty()) {
        std::vector<std::pair<std::string, const std::string*>> xs;
        for (const auto& [name, value] : e.xattrs)
            xs.emplace_back(to_hex(name), &value);
        std::sort(xs.begin(), xs.end());
        w.raw(",");
        w.key("xattrs");
        w.raw("{");
        for (size_t i = 0; i < xs.size(); ++i) {
            if (i) w.raw(",");
            w.raw("\"");
            w.raw(xs[i].first);
            w.raw("\":");
            w.hex(*xs[i].second);
        }
        w.raw("}");
    }
    w.raw("}");
}

// --- reader ---------------------------------------------------------------------------------

// A pull reader for the subset of JSON that manifests use: objects, arrays, strings, integers,
// true/false/null (skipped). Errors throw ParseError with the offset; caught at the top.
struct ParseError {
    size_t offset;
    std::string what;
};

class Reader {
  public:
    explicit Reader(std::string_view s) : s_(s) {}

    [[noreturn]] void error(std::string what) const { throw ParseError{pos_, std::move(what)}; }

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
    // Iterates an object: true while there is a next key, which is read into `key`.
    bool next_key(bool& first, std::string& key) {
        if (first) {
            expect('{');
            first = false;
            if (consume('}')) return false;
        } else if (!consume(',')) {
            expect('}');
            return false;
        }
        key = string();
        expect(':');
        return true;
    }
    bool next_item(bool& first) {
        if (first) {
            expect('[');
            first = false;
            return !consume(']');
        }
        if (consume(',')) return true;
        expect(']');
        return false;
    }

    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            size_t run = pos_;
            while (run < s_.size() && s_[run] != '"' && s_[run] != '\\') {
                if (static_cast<unsigned char>(s_[run]) < 0x20) {
                    pos_ = run;
                    error("control character in string");
                }
                ++run;
            }
            out.append(s_.substr(pos_, run - pos_));
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
    void skip() {
        char c = peek();
        if (c == '"') {
            string();
        } else if (c == '{') {
            bool first = true;
            std::string k;
            while (next_key(first, k))
                skip();
        } else if (c == '[') {
            bool first = true;
            while (next_item(first))
                skip();
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
    bool at_end() { return peek() == '\0' && pos_ == s_.size(); }

  private:
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
};

std::string unhex(Reader& r, const char* what) {
    auto raw = hex_decode(r.string());
    if (!raw) r.error(std::string("bad hex in ") + what);
    return std::move(*raw);
}

Entry read_entry(Reader& r) {
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
            if (it == std::end(kTypeNames)) r.error("unknown type " + type);
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
                r.expect('[');
                uint64_t off = r.integer<uint64_t>();
                r.expect(',');
                uint64_t len = r.integer<uint64_t>();
                r.expect(']');
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
    if ((seen & need) != need) r.error("entry " + e.path + " lacks a required field");
    e.link.clear();
    return e;
}

}  // namespace

const char* type_name(EntryType type) {
    return kTypeNames[int(type)];
}

std::string manifest_json(const Manifest& m) {
    Writer w;
    w.out.reserve(64 + m.tree.size() * 256);
    w.raw("{");
    w.key("hostname");
    w.str(m.hostname);
    w.raw(",");
    // Only when set, so that manifests without them keep their ids.
    if (!m.origin_repo.empty()) {
        w.key("origin");
        w.raw("{");
        w.key("repository");
        w.str(m.origin_repo);
        w.raw(",");
        w.key("snapshot");
        w.str(m.origin_snapshot);
        w.raw("},");
    }
    w.key("parent");
    w.str(m.parent);
    w.raw(",");
    w.key("source");
    w.hex(m.source);
    w.raw(",");
    if (!m.tags.empty()) {
        w.key("tags");
        w.raw("[");
        for (size_t i = 0; i < m.tags.size(); ++i) {
            if (i) w.raw(",");
            w.str(m.tags[i]);
        }
        w.raw("],");
    }
    w.field("time_ns", m.time_ns);
    w.key("tree");
    w.raw("[");
    for (size_t i = 0; i < m.tree.size(); ++i) {
        if (i) w.raw(",");
        write_entry(w, m.tree[i]);
    }
    w.raw("],");
    w.key("version");
    w.num(kFormatVersion);
    w.raw("}");
    return std::move(w.out);
}

Result<Manifest> parse_manifest_json(const std::string& text, const std::string& path) {
    Reader r(text);
    Manifest m;
    try {
        enum : unsigned {
            kVersion = 1,
            kTime = 2,
            kHost = 4,
            kSource = 8,
            kParent = 16,
            kTree = 32
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
                m.hostname = r.string(), seen |= kHost;
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
        if (seen != (kVersion | kTime | kHost | kSource | kParent | kTree))
            r.error("a required field is missing");
    } catch (const ParseError& e) {
        return fail("parse snapshot", path, "byte " + std::to_string(e.offset) + ": " + e.what);
    }
    return m;
}

}  // namespace wmrun::snapshot
