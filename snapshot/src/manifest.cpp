#include "manifest.hpp"

#include <zstd.h>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMSNAP01";
constexpr const char* kTypeNames[] = {"file", "dir", "symlink", "fifo", "chr", "blk", "hardlink"};

Result<std::string> from_hex(const std::string& hex, const std::string& what) {
    auto raw = hex_decode(hex);
    if (!raw) return fail("parse manifest", what, "bad hex");
    return std::move(*raw);
}

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

Json entry_to_json(const Entry& e) {
    Json j = Json::object();
    if (valid_utf8(e.path))
        j["path"] = e.path;
    else
        j["path_hex"] = to_hex(e.path);
    j["type"] = type_name(e.type);
    if (e.type == EntryType::hardlink) {
        j["link"] = to_hex(e.link);
        return j;
    }
    j["mode"] = e.mode;
    j["uid"] = e.uid;
    j["gid"] = e.gid;
    j["mtime_ns"] = e.mtime_ns;
    j["ctime_ns"] = e.ctime_ns;
    j["ino"] = e.ino;
    j["size"] = e.size;
    if (!e.xattrs.empty()) {
        Json x = Json::object();
        for (const auto& [name, value] : e.xattrs)
            x[to_hex(name)] = to_hex(value);
        j["xattrs"] = std::move(x);
    }
    if (e.type == EntryType::symlink) j["target"] = to_hex(e.target);
    if (e.type == EntryType::chr || e.type == EntryType::blk) {
        j["rdev_major"] = e.rdev_major;
        j["rdev_minor"] = e.rdev_minor;
    }
    if (e.type == EntryType::file) {
        Json ext = Json::array();
        for (const auto& [off, len] : e.extents)
            ext.push_back({off, len});
        j["extents"] = std::move(ext);
        Json chunks = Json::array();
        for (const auto& c : e.chunks)
            chunks.push_back(c.hex());
        j["chunks"] = std::move(chunks);
    }
    return j;
}

Result<Entry> entry_from_json(const Json& j) {
    Entry e;
    if (j.contains("path_hex"))
        e.path = WM_TRY(from_hex(j.at("path_hex").get<std::string>(), "path_hex"));
    else
        e.path = j.at("path").get<std::string>();
    std::string type = j.at("type").get<std::string>();
    auto it = std::find(std::begin(kTypeNames), std::end(kTypeNames), type);
    if (it == std::end(kTypeNames)) return fail("parse manifest", e.path, "unknown type " + type);
    e.type = EntryType(it - std::begin(kTypeNames));
    if (e.type == EntryType::hardlink) {
        e.link = WM_TRY(from_hex(j.at("link").get<std::string>(), e.path));
        return e;
    }
    e.mode = j.at("mode").get<uint32_t>();
    e.uid = j.at("uid").get<uint32_t>();
    e.gid = j.at("gid").get<uint32_t>();
    e.mtime_ns = j.at("mtime_ns").get<int64_t>();
    e.ctime_ns = j.value("ctime_ns", int64_t(0));
    e.ino = j.value("ino", uint64_t(0));
    e.size = j.at("size").get<uint64_t>();
    if (j.contains("xattrs"))
        for (const auto& [name, value] : j.at("xattrs").items())
            e.xattrs.emplace_back(WM_TRY(from_hex(name, e.path)),
                                  WM_TRY(from_hex(value.get<std::string>(), e.path)));
    if (j.contains("target"))
        e.target = WM_TRY(from_hex(j.at("target").get<std::string>(), e.path));
    e.rdev_major = j.value("rdev_major", 0u);
    e.rdev_minor = j.value("rdev_minor", 0u);
    if (j.contains("extents"))
        for (const auto& x : j.at("extents"))
            e.extents.emplace_back(x.at(0).get<uint64_t>(), x.at(1).get<uint64_t>());
    if (j.contains("chunks"))
        for (const auto& c : j.at("chunks")) {
            auto id = ChunkId::from_hex(c.get<std::string>());
            if (!id) return fail("parse manifest", e.path, "bad chunk id");
            e.chunks.push_back(*id);
        }
    return e;
}

}  // namespace

const char* type_name(EntryType type) {
    return kTypeNames[int(type)];
}

std::string manifest_json(const Manifest& m) {
    Json j = {{"version", kFormatVersion},  {"time_ns", m.time_ns}, {"hostname", m.hostname},
              {"source", to_hex(m.source)}, {"parent", m.parent},   {"tree", Json::array()}};
    // Only when set, so that manifests without them keep their ids.
    if (!m.origin_repo.empty())
        j["origin"] = {{"repository", m.origin_repo}, {"snapshot", m.origin_snapshot}};
    if (!m.tags.empty()) j["tags"] = m.tags;
    for (const auto& e : m.tree)
        j["tree"].push_back(entry_to_json(e));
    return j.dump();
}

Result<std::string> write_manifest(const std::string& repo, const KeyedHasher& hasher,
                                   const Manifest& m) {
    std::string text = manifest_json(m);
    std::string out(kMagic);
    size_t bound = ZSTD_compressBound(text.size());
    out.resize(kMagic.size() + bound);
    size_t n = ZSTD_compress(out.data() + kMagic.size(), bound, text.data(), text.size(), 3);
    if (ZSTD_isError(n)) return fail("compress manifest", repo, ZSTD_getErrorName(n));
    out.resize(kMagic.size() + n);
    ChunkId sum = hasher(text.data(), text.size());
    put_id(out, sum);
    std::string id = sum.hex();
    WM_CHECK(write_repo_file(repo, "snapshots/" + id, out));
    return id;
}

Result<Manifest> parse_manifest_json(const std::string& text, const std::string& path) {
    Json j = WM_TRY(parse_json(text, path));
    try {
        if (j.at("version").get<int>() != kFormatVersion)
            return fail("read snapshot", path, "unsupported version");
        Manifest m;
        m.time_ns = j.at("time_ns").get<int64_t>();
        m.hostname = j.at("hostname").get<std::string>();
        m.source = WM_TRY(from_hex(j.at("source").get<std::string>(), "source"));
        m.parent = j.at("parent").get<std::string>();
        if (j.contains("origin")) {
            m.origin_repo = j.at("origin").at("repository").get<std::string>();
            m.origin_snapshot = j.at("origin").at("snapshot").get<std::string>();
        }
        if (j.contains("tags")) m.tags = j.at("tags").get<std::vector<std::string>>();
        for (const auto& e : j.at("tree"))
            m.tree.push_back(WM_TRY(entry_from_json(e)));
        return m;
    } catch (const Json::exception& ex) {
        return fail("parse snapshot", path, ex.what());
    }
}

Result<Manifest> read_manifest(const std::string& repo, const KeyedHasher& hasher,
                               const std::string& id) {
    std::string path = repo + "/snapshots/" + id;
    std::string data = WM_TRY(read_file(path));
    if (data.size() < kMagic.size() + 16 || !data.starts_with(kMagic))
        return fail("read snapshot", path, "bad header");
    const char* frame = data.data() + kMagic.size();
    size_t frame_len = data.size() - kMagic.size() - 16;
    unsigned long long raw_len = ZSTD_getFrameContentSize(frame, frame_len);
    if (raw_len == ZSTD_CONTENTSIZE_ERROR || raw_len == ZSTD_CONTENTSIZE_UNKNOWN ||
        raw_len > (1ull << 34))
        return fail("read snapshot", path, "bad zstd frame");
    std::string text(raw_len, '\0');
    size_t n = ZSTD_decompress(text.data(), text.size(), frame, frame_len);
    if (ZSTD_isError(n) || n != raw_len) return fail("read snapshot", path, "decompress failed");
    ChunkId sum = hasher(text.data(), text.size());
    if (std::memcmp(sum.bytes.data(), data.data() + data.size() - 16, 16) != 0 || sum.hex() != id)
        return fail("read snapshot", path, "checksum mismatch");
    return parse_manifest_json(text, path);
}

}  // namespace wmrun::snapshot
