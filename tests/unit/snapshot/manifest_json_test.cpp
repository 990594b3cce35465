// The manifest codec against nlohmann's: same bytes out, same manifest back in.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <random>

#include "manifest.hpp"

using namespace wmrun::snapshot;
using Json = nlohmann::json;

namespace {

std::string hex(std::string_view raw) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

bool utf8_ok(const std::string& s) {
    try {
        (void)Json(s).dump();
        return true;
    } catch (const Json::exception&) {
        return false;
    }
}

// The DOM serialisation that manifests had before the direct writer, as the reference.
Json reference_entry(const Entry& e) {
    Json j = Json::object();
    if (utf8_ok(e.path))
        j["path"] = e.path;
    else
        j["path_hex"] = hex(e.path);
    j["type"] = type_name(e.type);
    if (e.type == EntryType::hardlink) {
        j["link"] = hex(e.link);
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
            x[hex(name)] = hex(value);
        j["xattrs"] = std::move(x);
    }
    if (e.type == EntryType::symlink) j["target"] = hex(e.target);
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

Json reference(const Manifest& m) {
    Json j = {{"version", 1},           {"time_ns", m.time_ns},
              {"hostname", m.hostname}, {"source", hex(m.source)},
              {"parent", m.parent},     {"tree", Json::array()}};
    if (!m.origin_repo.empty())
        j["origin"] = {{"repository", m.origin_repo}, {"snapshot", m.origin_snapshot}};
    if (!m.tags.empty()) j["tags"] = m.tags;
    for (const auto& e : m.tree)
        j["tree"].push_back(reference_entry(e));
    return j;
}

Manifest random_manifest(std::mt19937_64& rng) {
    const std::vector<std::string> names = {"a",
                                            "usr/share/doc",
                                            "quote\"and\\back",
                                            "tab\tnl\ncr\rff\fbs\b",
                                            "ctl\x01\x1f\x7f",
                                            "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80",
                                            "bad\xff\xfeutf8",
                                            "slash/./x",
                                            ""};
    auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
    auto bytes = [&](size_t n) {
        std::string s;
        for (size_t i = 0; i < n; ++i)
            s.push_back(char(rng()));
        return s;
    };
    Manifest m;
    m.time_ns = int64_t(rng() >> 1);
    m.hostname = "host\"1\n";
    m.source = bytes(12);
    m.parent = rng() % 2 ? "" : "0123abcd";
    if (rng() % 2) m.origin_repo = "r", m.origin_snapshot = "s";
    if (rng() % 2) m.tags = {"t1", "caf\xc3\xa9"};
    for (int i = 0; i < 200; ++i) {
        Entry e;
        e.type = EntryType(rng() % 7);
        e.path = pick(names) + std::to_string(i);
        if (e.type == EntryType::hardlink) {
            e.link = pick(names);
            m.tree.push_back(std::move(e));
            continue;
        }
        e.mode = uint32_t(rng() % 07777);
        e.uid = uint32_t(rng());
        e.gid = uint32_t(rng());
        e.mtime_ns = int64_t(rng()) / 2 - (i % 3 == 0 ? int64_t(1) << 62 : 0);
        e.ctime_ns = int64_t(rng() >> 2);
        e.ino = rng();
        if (rng() % 3 == 0)
            e.xattrs = {{"trusted.overlay.opaque", "y"}, {"user.z", bytes(5)}, {"security.a", ""}};
        std::sort(e.xattrs.begin(), e.xattrs.end());
        if (e.type == EntryType::symlink) e.target = pick(names);
        if (e.type == EntryType::chr || e.type == EntryType::blk)
            e.rdev_major = uint32_t(rng() % 300), e.rdev_minor = uint32_t(rng() % 300);
        if (e.type == EntryType::file) {
            // Extents in order, apart and inside the file, as the reader requires.
            e.size = rng() >> 1;
            uint64_t end = 0;
            for (size_t k = rng() % 4; k > 0 && end < e.size; --k) {
                uint64_t off = end + rng() % (e.size - end);
                uint64_t len = rng() % (e.size - off + 1);
                e.extents.emplace_back(off, len);
                end = off + len;
                ChunkId id;
                for (auto& b : id.bytes)
                    b = uint8_t(rng());
                e.chunks.push_back(id);
            }
        }
        m.tree.push_back(std::move(e));
    }
    return m;
}

void check_same(const Manifest& a, const Manifest& b) {
    CHECK(a.time_ns == b.time_ns);
    CHECK(a.hostname == b.hostname);
    CHECK(a.source == b.source);
    CHECK(a.parent == b.parent);
    CHECK(a.origin_repo == b.origin_repo);
    CHECK(a.origin_snapshot == b.origin_snapshot);
    CHECK(a.tags == b.tags);
    REQUIRE(a.tree.size() == b.tree.size());
    for (size_t i = 0; i < a.tree.size(); ++i) {
        const Entry &x = a.tree[i], &y = b.tree[i];
        INFO("entry " << i);
        CHECK(x.path == y.path);
        CHECK(x.type == y.type);
        CHECK(x.link == y.link);
        CHECK(x.mode == y.mode);
        CHECK(x.uid == y.uid);
        CHECK(x.gid == y.gid);
        CHECK(x.mtime_ns == y.mtime_ns);
        CHECK(x.ctime_ns == y.ctime_ns);
        CHECK(x.ino == y.ino);
        CHECK(x.size == y.size);
        CHECK(x.xattrs == y.xattrs);
        CHECK(x.target == y.target);
        CHECK(x.rdev_major == y.rdev_major);
        CHECK(x.rdev_minor == y.rdev_minor);
        CHECK(x.extents == y.extents);
        CHECK(x.chunks == y.chunks);
    }
}

}  // namespace

TEST_CASE("the manifest writer gives nlohmann's bytes and the reader gives the manifest back") {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 20; ++round) {
        Manifest m = random_manifest(rng);
        std::string text = manifest_json(m);
        REQUIRE(text == reference(m).dump());
        auto back = parse_manifest_json(text, "test");
        REQUIRE(back);
        check_same(*back, m);
        // Whitespace and escapes that only another writer would use read the same.
        auto pretty = parse_manifest_json(reference(m).dump(2, ' ', true), "pretty");
        REQUIRE(pretty);
        check_same(*pretty, m);
    }
}

TEST_CASE("the manifest reader refuses malformed documents") {
    std::mt19937_64 rng(3);
    std::string text = manifest_json(random_manifest(rng));
    for (size_t cut : {size_t(0), size_t(1), text.size() / 2, text.size() - 1})
        CHECK_FALSE(parse_manifest_json(text.substr(0, cut), "cut"));
    CHECK_FALSE(parse_manifest_json(text + "x", "trailing"));
    Json j = Json::parse(text);
    j["version"] = 2;
    CHECK_FALSE(parse_manifest_json(j.dump(), "version"));
    j["version"] = 1;
    j["tree"][0].erase("type");
    CHECK_FALSE(parse_manifest_json(j.dump(), "no type"));
    j = Json::parse(text);
    j.erase("tree");
    CHECK_FALSE(parse_manifest_json(j.dump(), "no tree"));
    j = Json::parse(text);
    j["tree"][0]["type"] = "socket";
    CHECK_FALSE(parse_manifest_json(j.dump(), "bad type"));
    j = Json::parse(text);
    j["time_ns"] = 1.5;
    CHECK_FALSE(parse_manifest_json(j.dump(), "float"));
}
