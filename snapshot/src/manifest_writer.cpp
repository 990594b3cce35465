// The manifest's JSON text written straight from Entry structs, exactly as nlohmann's dump()
// gives the same document (keys sorted, no spaces, the same escapes), so ids do not depend on
// which of the two wrote a manifest (tests/unit/snapshot/manifest_json_test.cpp). The reader is
// manifest_json.cpp.
#include <algorithm>
#include <charconv>

#include "manifest.hpp"
#include "repo_internal.hpp"

namespace wmrun::snapshot {
namespace {

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

}  // namespace

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
        if (!m.origin_host.empty()) {
            w.key("host");
            w.str(m.origin_host);
            w.raw(",");
        }
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

}  // namespace wmrun::snapshot
