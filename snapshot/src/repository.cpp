// Repository lifecycle and the operations that only read manifests: list, resolve, diff, forget.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "manifest.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/json_fields.hpp"

namespace wmrun::snapshot {
namespace {

constexpr const char* kDirs[] = {"packs", "index", "snapshots", "locks", "tmp"};

// What init writes and open accepts: a config past these would make every chunk its own pack,
// one pack of the whole repository, or compression contexts of hundreds of MiB.
const char* bad_parameters(const ChunkerParams& chunker, int compression_level,
                           uint64_t pack_size) {
    if (!chunker.valid()) return "bad chunker parameters";
    if (compression_level < 1 || compression_level > 19) return "compression level out of range";
    if (pack_size < (1 << 20) || pack_size > (1ull << 31)) return "pack size out of range";
    return nullptr;
}

Result<Config> read_config(const std::string& dir, const Limits& limits) {
    std::string path = dir + "/config";
    JsonLimits json_limits;
    json_limits.max_depth = limits.max_json_depth;
    Json j = WM_TRY(read_json_file(path, json_limits));
    // Typed and range-checked readers: get<int>() of a float too big for it is undefined.
    auto parsed = [&]() -> Result<Config> {
        using namespace json_fields;
        auto f = WM_TRY(Fields::of(j, ""));
        if (WM_TRY(f.req_int<int>("version")) != kFormatVersion)
            return field_error("version", "unsupported format version");
        Config c;
        c.id = WM_TRY(f.req_string("id"));
        auto raw = hex_decode(WM_TRY(f.req_string("key")));
        if (!raw || raw->size() != c.key.size()) return field_error("key", "bad key");
        std::copy(raw->begin(), raw->end(), c.key.begin());
        auto ch = WM_TRY(Fields::of(*WM_TRY(f.required("chunker")), "chunker"));
        if (WM_TRY(ch.req_string("algorithm")) != "fastcdc")
            return field_error("chunker.algorithm", "unknown chunker");
        c.chunker = {WM_TRY(ch.req_int<uint32_t>("min")), WM_TRY(ch.req_int<uint32_t>("avg")),
                     WM_TRY(ch.req_int<uint32_t>("max"))};
        auto comp = WM_TRY(Fields::of(*WM_TRY(f.required("compression")), "compression"));
        if (WM_TRY(comp.req_string("algorithm")) != "zstd")
            return field_error("compression.algorithm", "unknown compression");
        c.compression_level = WM_TRY(comp.req_int<int>("level"));
        c.pack_size = WM_TRY(f.req_int<uint64_t>("pack_size"));
        if (const char* why = bad_parameters(c.chunker, c.compression_level, c.pack_size))
            return field_error("config", why);
        return c;
    }();
    if (!parsed) return fail("open repository", path, parsed.error().message());
    return parsed;
}

}  // namespace

Repository::Repository(std::unique_ptr<State> state) : s_(std::move(state)) {}
Repository::Repository(Repository&&) noexcept = default;
Repository& Repository::operator=(Repository&&) noexcept = default;
Repository::~Repository() = default;
const std::string& Repository::dir() const {
    return s_->dir;
}

Result<> Repository::init(const std::string& dir, const InitOptions& options) {
    if (const char* bad =
            bad_parameters(options.chunker, options.compression_level, options.pack_size))
        return fail("init repository", dir, bad);
    WM_CHECK(mkdir_all(dir, 0700));
    if (path_exists(dir + "/config"))
        return fail("init repository", dir, "already a repository", EEXIST);
    for (const char* sub : kDirs)
        WM_CHECK(mkdir_all(dir + "/" + sub, 0700));
    UniqueFd lock = WM_TRY(open_file(dir + "/locks/repo.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    std::string key = WM_TRY(random_hex(32));
    OrderedJson j = {{"version", kFormatVersion},
                     {"id", WM_TRY(random_hex(16))},
                     {"key", key},
                     {"chunker",
                      {{"algorithm", "fastcdc"},
                       {"min", options.chunker.min_size},
                       {"avg", options.chunker.avg_size},
                       {"max", options.chunker.max_size}}},
                     {"compression", {{"algorithm", "zstd"}, {"level", options.compression_level}}},
                     {"pack_size", options.pack_size}};
    // The config is written last and atomically: its presence is what makes a repository.
    return write_repo_file(dir, "config", j.dump(2) + "\n", 0600);
}

Result<Repository> Repository::open(const std::string& dir, const Limits& limits) {
    Config config = WM_TRY(read_config(dir, limits));
    auto state = std::unique_ptr<State>(new State{dir,
                                                  config,
                                                  limits,
                                                  KeyedHasher(config.key),
                                                  Chunker(config.chunker, gear_seed(config.key)),
                                                  {},
                                                  {}});
    std::string lock_path = dir + "/locks/repo.lock";
    state->lock_fd = WM_TRY(open_file(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    {
        auto lock = WM_TRY(RepoLock::take(state->lock_fd.get(), false, lock_path));
        state->index = WM_TRY(Index::load(dir));
    }
    return Repository(std::move(state));
}

Result<std::vector<std::string>> snapshot_ids(const std::string& repo) {
    std::string dir = repo + "/snapshots";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return sys_error("opendir", dir);
    std::vector<std::string> ids;
    while (dirent* de = ::readdir(d))
        if (ChunkId::from_hex(de->d_name)) ids.push_back(de->d_name);
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    return ids;
}

Result<std::string> Repository::resolve(const std::string& prefix) {
    std::vector<std::string> match;
    for (auto& id : WM_TRY(snapshot_ids(s_->dir)))
        if (!prefix.empty() && id.starts_with(prefix)) match.push_back(id);
    if (match.empty()) return fail("find snapshot", prefix, "no such snapshot", ENOENT);
    if (match.size() > 1) return fail("find snapshot", prefix, "ambiguous id prefix");
    return match[0];
}

Result<std::vector<SnapshotInfo>> Repository::list() {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    std::vector<SnapshotInfo> out;
    for (auto& id : WM_TRY(snapshot_ids(s_->dir))) {
        Manifest m = WM_TRY(read_manifest(s_->dir, s_->hasher, id, s_->limits));
        SnapshotInfo info{id,     m.parent, m.hostname,    m.source,       m.time_ns,
                          m.tree.size(), 0, m.tags, m.origin_host, m.origin_repo};
        for (const auto& e : m.tree)
            if (e.type == EntryType::file) info.bytes += e.size;
        out.push_back(std::move(info));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.time_ns < b.time_ns; });
    return out;
}

Result<std::vector<NodeInfo>> Repository::ls(const std::string& snapshot,
                                             const std::string& path) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    std::string id = WM_TRY(resolve(snapshot));
    Manifest m = WM_TRY(read_manifest(s_->dir, s_->hasher, id, s_->limits));
    std::string prefix = tree_path(path);
    std::map<std::string_view, const Entry*> inodes;  // first names of hardlinked inodes
    std::vector<NodeInfo> out;
    for (const auto& e : m.tree) {
        if (e.type != EntryType::hardlink) inodes.emplace(e.path, &e);
        if (!path_under(e.path == "." ? "" : e.path, prefix)) continue;
        auto first = e.type == EntryType::hardlink ? inodes.find(e.link) : inodes.end();
        const Entry& meta = first != inodes.end() ? *first->second : e;
        out.push_back({e.path, type_name(e.type), meta.mode, meta.uid, meta.gid, meta.size,
                       meta.mtime_ns, meta.target, e.link});
    }
    if (out.empty()) return fail("ls " + id.substr(0, 16), path, "no such path in the snapshot",
                                 ENOENT);
    return out;
}

Result<DiffResult> Repository::diff(const std::string& a, const std::string& b) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    std::string id_a = WM_TRY(resolve(a)), id_b = WM_TRY(resolve(b));
    Manifest ma = WM_TRY(read_manifest(s_->dir, s_->hasher, id_a, s_->limits));
    Manifest mb = WM_TRY(read_manifest(s_->dir, s_->hasher, id_b, s_->limits));
    std::map<std::string, const Entry*> old_entries;
    for (const auto& e : ma.tree)
        old_entries[e.path] = &e;
    DiffResult d;
    for (const auto& e : mb.tree) {
        auto it = old_entries.find(e.path);
        if (it == old_entries.end()) {
            d.added.push_back(e.path);
            continue;
        }
        const Entry& o = *it->second;
        // ctime and inode are where the data was read from, not what it is.
        bool same = o.type == e.type && o.mode == e.mode && o.uid == e.uid && o.gid == e.gid &&
                    o.mtime_ns == e.mtime_ns && o.size == e.size && o.xattrs == e.xattrs &&
                    o.target == e.target && o.rdev_major == e.rdev_major &&
                    o.rdev_minor == e.rdev_minor && o.link == e.link && o.extents == e.extents &&
                    o.chunks == e.chunks;
        if (!same) d.changed.push_back(e.path);
        old_entries.erase(it);
    }
    for (const auto& [path, e] : old_entries)
        d.removed.push_back(path);
    return d;
}

Result<> Repository::forget(const std::vector<std::string>& ids) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), true, s_->dir));
    for (const auto& id : ids)
        if (!ChunkId::from_hex(id)) return fail("forget", printable(id), "not a snapshot id");
    for (const auto& id : ids) {
        std::string path = s_->dir + "/snapshots/" + id;
        crash_point();
        if (::unlink(path.c_str()) < 0) return sys_error("unlink", path);
    }
    if (!ids.empty()) WM_CHECK(fsync_dir(s_->dir + "/snapshots"));
    return {};
}

}  // namespace wmrun::snapshot
