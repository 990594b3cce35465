// send: writes a snapshot, or its delta against a base, as a stream (docs/snapshot-format.md,
// "Streams"). Chunks travel in stored form; each is re-hashed before it leaves.
#include <fcntl.h>
#include <zstd.h>

#include <map>
#include <unordered_set>

#include "manifest.hpp"
#include "pack.hpp"
#include "repo_internal.hpp"
#include "stream_format.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::snapshot {
namespace {

struct Pending {
    ChunkId id;
    const Location* loc;
    const std::string* path;  // the first file using it, for errors
};

std::string compress_text(const std::string& text) {
    std::string out(ZSTD_compressBound(text.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
    out.resize(ZSTD_isError(n) ? 0 : n);
    return out;
}

}  // namespace

Result<SendResult> send_snapshot(Repository& repo, const std::string& snapshot, int fd,
                                 const SendOptions& options) {
    Repository::State& s = StateAccess::of(repo);
    auto lock = WM_TRY(RepoLock::take(s.lock_fd.get(), false, s.dir));
    s.index = WM_TRY(Index::load(s.dir));  // creates since open() added index files
    SendResult result;
    result.snapshot = WM_TRY(repo.resolve(snapshot));
    Manifest m = WM_TRY(read_manifest(s.dir, s.hasher, result.snapshot, s.limits));

    std::vector<ChunkId> base_chunks;
    std::unordered_set<ChunkId, ChunkIdHash> skip;
    if (!options.since.empty()) {
        result.base = WM_TRY(repo.resolve(options.since));
        for (const auto& e : WM_TRY(read_manifest(s.dir, s.hasher, result.base, s.limits)).tree)
            base_chunks.insert(base_chunks.end(), e.chunks.begin(), e.chunks.end());
        skip.insert(base_chunks.begin(), base_chunks.end());
    }

    // Each chunk once, in tree order: the receiver then writes packs roughly in file order.
    std::vector<Pending> todo;
    std::unordered_set<ChunkId, ChunkIdHash> seen;
    uint64_t stored_total = 0, raw_total = 0;
    for (const auto& e : m.tree) {
        if (e.type == EntryType::file) ++result.files;
        for (const auto& c : e.chunks) {
            if (skip.contains(c)) {
                if (seen.insert(c).second) ++result.chunks_in_base;
                continue;
            }
            if (!seen.insert(c).second) continue;
            const Location* loc = s.index.find(c);
            if (!loc)
                return fail("send " + e.path, c.hex(), "chunk missing from the index; run verify");
            todo.push_back({c, loc, &e.path});
            stored_total += loc->stored_len;
            raw_total += loc->raw_len;
        }
    }

    // Not the key: only the id and parameters. The receiver re-ids chunks under its own key.
    OrderedJson head = {
        {"version", kStreamVersion},
        {"repository", s.config.id},
        {"hostname", local_hostname()},
        {"snapshot", result.snapshot},
        {"base", result.base},
        {"chunker",
         {{"algorithm", "fastcdc"},
          {"min", s.config.chunker.min_size},
          {"avg", s.config.chunker.avg_size},
          {"max", s.config.chunker.max_size}}},
        {"compression", {{"algorithm", "zstd"}, {"level", s.config.compression_level}}},
        {"chunk_checksum", "xxh3-128"},
        {"chunks", todo.size()},
        {"stored_bytes", stored_total},
        {"raw_bytes", raw_total}};
    StreamWriter out(fd);
    WM_CHECK(out.header());
    WM_CHECK(out.record(tag::head, head.dump()));
    std::string frame = compress_text(manifest_json(m));
    if (frame.empty()) return fail("send", result.snapshot, "cannot compress the manifest");
    WM_CHECK(out.record(tag::manifest, frame));
    if (!result.base.empty()) {
        std::string ids;
        ids.reserve(base_chunks.size() * 16);
        for (const auto& c : base_chunks)
            put_id(ids, c);
        WM_CHECK(out.record(tag::base, ids));
    }

    std::map<ChunkId, PackFile> packs;
    Progress progress{0, todo.size(), 0, stored_total};
    std::vector<uint8_t> stored;
    for (const auto& p : todo) {
        auto it = packs.find(p.loc->pack);
        if (it == packs.end()) {
            if (packs.size() >= 64) packs.clear();
            it = packs
                     .emplace(p.loc->pack,
                              WM_TRY(open_pack(s.dir + "/" + pack_rel_path(p.loc->pack))))
                     .first;
        }
        const std::string& pack_path = it->second.name;
        WM_CHECK(read_stored(it->second, *p.loc, stored));
        auto raw = WM_TRY(decode_blob(stored, p.loc->raw_len, p.loc->flags, pack_path));
        if (s.hasher(raw.data(), raw.size()) != p.id)
            return fail("send " + *p.path, pack_path,
                        "chunk " + p.id.hex() + " does not match its id; run verify");
        std::string head_bytes;
        put_id(head_bytes, p.id);
        put_id(head_bytes, checksum128(raw.data(), raw.size()));
        put_u32(head_bytes, p.loc->raw_len);
        put_u32(head_bytes, p.loc->flags);
        WM_CHECK(out.record(tag::chunk, head_bytes,
                            {reinterpret_cast<const char*>(stored.data()), stored.size()}));
        ++result.chunks_sent;
        result.bytes_raw += raw.size();
        ++progress.items;
        progress.bytes += stored.size();
        if (options.progress) options.progress(progress);
    }
    WM_CHECK(out.finish());
    result.bytes_written = out.bytes();
    return result;
}

}  // namespace wmrun::snapshot
