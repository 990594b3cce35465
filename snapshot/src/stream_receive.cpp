// receive: reads a stream to its end, verifies every record and chunk, re-ids chunks under this
// repository's key, and commits: packs, index, then the manifest (docs/snapshot-format.md,
// "Streams").
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "manifest.hpp"
#include "pack.hpp"
#include "pack_sink.hpp"
#include "repo_internal.hpp"
#include "stream_format.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/json_fields.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::snapshot {
namespace {

using IdMap = std::unordered_map<ChunkId, ChunkId, ChunkIdHash>;  // sender id -> our id

struct Header {
    std::string repository, snapshot, base;
    uint64_t chunks = 0, stored_bytes = 0;
    uint32_t max_chunk = 0;
    std::string hostname;  // the sender's; absent from streams of older senders
};

std::unexpected<Error> bad(const Record& r, const std::string& what) {
    return fail("read stream", record_name(r), what);
}

Result<Header> parse_header(const Record& r, const Limits& limits) {
    if (r.tag != tag::head) return bad(r, "expected the header record");
    JsonLimits json_limits;
    json_limits.max_depth = limits.max_json_depth;
    Json j = WM_TRY(parse_json(r.payload, record_name(r), json_limits));
    // Typed and range-checked readers: get<uint32_t>() of a float too big for it is undefined.
    auto parsed = [&]() -> Result<Header> {
        using namespace json_fields;
        auto f = WM_TRY(Fields::of(j, "header"));
        if (WM_TRY(f.req_int<uint32_t>("version")) != kStreamVersion)
            return bad(r, "unsupported stream version");
        if (WM_TRY(f.req_string("chunk_checksum")) != "xxh3-128")
            return bad(r, "unknown chunk checksum");
        auto chunker = WM_TRY(Fields::of(*WM_TRY(f.required("chunker")), f.at("chunker")));
        // One field per statement: leaving a braced initializer from inside WM_TRY's statement
        // expression skips the destructors of the members already built (a leak under clang).
        Header h;
        h.repository = WM_TRY(f.req_string("repository"));
        h.snapshot = WM_TRY(f.req_string("snapshot"));
        h.base = WM_TRY(f.req_string("base"));
        h.chunks = WM_TRY(f.req_int<uint64_t>("chunks"));
        h.stored_bytes = WM_TRY(f.req_int<uint64_t>("stored_bytes"));
        h.max_chunk = WM_TRY(chunker.req_int<uint32_t>("max"));
        h.hostname = WM_TRY(f.string_or("hostname"));
        return h;
    }();
    if (!parsed) return bad(r, "bad header: " + parsed.error().message());
    if (!ChunkId::from_hex(parsed->snapshot) ||
        (!parsed->base.empty() && !ChunkId::from_hex(parsed->base)))
        return bad(r, "bad snapshot id in the header");
    return parsed;
}

Result<Manifest> parse_manifest_record(const Record& r, const Limits& limits) {
    if (r.tag != tag::manifest) return bad(r, "expected the manifest record");
    std::string text = WM_TRY(
        decompress_manifest(r.payload, limits.max_manifest_size, "read stream", record_name(r)));
    return parse_manifest_json(text, "stream manifest (record " + std::to_string(r.number) + ")",
                               limits.max_json_depth);
}

// Our snapshots that are copies of the sender's, by the sender's snapshot id.
Result<std::unordered_map<std::string, std::string>> copies_of(Repository::State& s,
                                                               const std::string& sender) {
    std::unordered_map<std::string, std::string> out;
    for (const auto& id : WM_TRY(snapshot_ids(s.dir))) {
        // The sending repository itself (or a byte copy of it): ids are the same.
        if (sender == s.config.id) out.emplace(id, id);
        Manifest m = WM_TRY(read_manifest(s.dir, s.hasher, id, s.limits));
        if (m.origin_repo == sender) out.emplace(m.origin_snapshot, id);
        // One made here, which the sender holds under this id if it received it from us (a
        // container migrating back): the same tree in the same order.
        else if (m.origin_repo.empty())
            out.emplace(id, id);
    }
    return out;
}

// Base chunks: our copy of the base lists the same chunks in the same order as the sender's,
// under our ids, because receive rewrites ids one for one.
Result<> map_base(Repository::State& s, const Record& r, const std::string& local_base,
                  IdMap& map) {
    if (r.tag != tag::base) return bad(r, "expected the base record");
    if (r.payload.size() % 16) return bad(r, "bad base record length");
    std::vector<ChunkId> ours;
    for (const auto& e : WM_TRY(read_manifest(s.dir, s.hasher, local_base, s.limits)).tree)
        ours.insert(ours.end(), e.chunks.begin(), e.chunks.end());
    if (ours.size() * 16 != r.payload.size())
        return fail("receive", local_base, "the stream's base does not match this snapshot");
    const auto* p = reinterpret_cast<const uint8_t*>(r.payload.data());
    for (size_t i = 0; i < ours.size(); ++i) {
        auto [it, fresh] = map.try_emplace(get_id(p + 16 * i), ours[i]);
        if (!fresh && it->second != ours[i])
            return fail("receive", local_base, "the stream's base does not match this snapshot");
        if (!s.index.find(ours[i]))
            return fail("receive", local_base,
                        "chunk " + ours[i].hex() + " of the base is missing; run verify");
    }
    return {};
}

struct Receiver {
    Repository::State& s;
    const ReceiveOptions& options;
    ReceiveResult& result;
    PackSink& sink;
    IdMap map;
    std::unordered_set<ChunkId, ChunkIdHash> queued;
    // Raw bytes of the chunk being checked: grown with real output up to the largest chunk
    // seen (at most kMaxChunkSize), never to a record's claimed length.
    std::vector<uint8_t> raw;

    // Verifies one chunk record and queues it unless we hold the chunk already.
    Result<> chunk(const Record& r, const Header& h) {
        if (r.payload.size() < kChunkHead) return bad(r, "short chunk record");
        const auto* p = reinterpret_cast<const uint8_t*>(r.payload.data());
        ChunkId sender_id = get_id(p), sum = get_id(p + 16);
        uint32_t raw_len = get_u32(p + 32), flags = get_u32(p + 36);
        if (raw_len > h.max_chunk || raw_len > kMaxChunkSize || (flags & ~kFlagZstd))
            return bad(r, "bad chunk record");
        std::span<const uint8_t> stored(p + kChunkHead, r.payload.size() - kChunkHead);
        std::string what = "chunk " + sender_id.hex();
        if (auto decoded = decode_growing(stored, raw_len, flags, what, raw); !decoded)
            return bad(r, decoded.error().message());
        if (checksum128(raw.data(), raw_len) != sum)
            return bad(r, what + " does not match its checksum");
        ChunkId ours = s.hasher(raw.data(), raw_len);
        auto [it, fresh] = map.try_emplace(sender_id, ours);
        if (!fresh && it->second != ours) return bad(r, what + " sent twice with different data");
        ++result.chunks_received;
        if (s.index.find(ours) || !queued.insert(ours).second) return {};
        ++result.chunks_new;
        return sink.submit_stored(ours, {stored.begin(), stored.end()}, raw_len, flags);
    }

    Result<Manifest> read(StreamReader& in) {
        WM_CHECK(in.header());
        Header h = WM_TRY(parse_header(WM_TRY(in.next()), s.limits));
        result.origin_repo = h.repository;
        result.origin_host = h.hostname;
        result.origin_snapshot = h.snapshot;
        result.base = h.base;
        Manifest m = WM_TRY(parse_manifest_record(WM_TRY(in.next()), s.limits));
        std::unordered_map<std::string, std::string> copies;
        if (!h.base.empty() || !m.parent.empty()) copies = WM_TRY(copies_of(s, h.repository));
        Record r = WM_TRY(in.next());
        if (!h.base.empty()) {
            auto base = copies.find(h.base);
            if (base == copies.end())
                return fail("receive", h.base,
                            "the stream is a delta against a snapshot this repository does not "
                            "hold; send it without --since");
            WM_CHECK(map_base(s, r, base->second, map));
            r = WM_TRY(in.next());
        }
        Progress progress{0, h.chunks, 0, h.stored_bytes};
        for (; r.tag == tag::chunk; r = WM_TRY(in.next())) {
            WM_CHECK(chunk(r, h));
            ++progress.items;
            progress.bytes += r.payload.size() - kChunkHead;
            if (options.progress) options.progress(progress);
        }
        if (r.tag != tag::end) return bad(r, "unexpected record");
        WM_CHECK(in.check_end(r));
        if (result.chunks_received != h.chunks)
            return bad(r, "the header announced " + std::to_string(h.chunks) + " chunks");

        // Only now is the stream known whole: rewrite ids and the parent to ours.
        for (auto& e : m.tree) {
            if (e.type == EntryType::file) ++result.files;
            for (auto& c : e.chunks) {
                auto it = map.find(c);
                if (it == map.end())
                    return fail("receive " + printable(e.path), c.hex(),
                                "chunk not in the stream or base");
                c = it->second;
            }
        }
        auto parent = copies.find(m.parent);
        m.parent = parent == copies.end() ? "" : parent->second;
        m.origin_repo = h.repository;
        m.origin_snapshot = h.snapshot;
        m.origin_host = h.hostname;
        return m;
    }
};

// The same snapshot, whichever repository or stream it came through: what receive stores
// besides the sender's data (origin, and the parent mapped to a local copy) is left out.
bool same_snapshot(Manifest a, Manifest b) {
    for (Manifest* m : {&a, &b}) {
        m->origin_repo.clear();
        m->origin_snapshot.clear();
        m->origin_host.clear();
        m->parent.clear();
    }
    return manifest_json(a) == manifest_json(b);
}

// Where the received snapshot already exists under the sender's id: nothing to do when it is
// the same snapshot, an error when it is not (ids are the sender's key's, not ours, so two
// repositories could in principle hand out one id for different snapshots).
Result<bool> already_here(Repository::State& s, const Manifest& m) {
    if (!path_exists(s.dir + "/snapshots/" + m.origin_snapshot)) return false;
    Manifest here = WM_TRY(read_manifest(s.dir, s.hasher, m.origin_snapshot, s.limits));
    if (same_snapshot(here, m)) return true;
    return fail("receive", m.origin_snapshot,
                "a different snapshot with this id is already in the repository", EEXIST);
}

// Reads every chunk of the new packs back from disk and re-hashes it under our key: what is
// committed is what was verified, not what was in memory.
Result<> check_written(Repository::State& s, const std::vector<PackRecord>& packs) {
    for (const auto& p : packs) {
        PackFile file = WM_TRY(open_pack(s.dir + "/" + pack_rel_path(p.pack)));
        for (const auto& e : p.entries) {
            auto raw =
                WM_TRY(read_blob(file, {p.pack, e.offset, e.stored_len, e.raw_len, e.flags}));
            if (s.hasher(raw.data(), raw.size()) != e.id)
                return fail("receive", file.name, "chunk " + e.id.hex() + " reads back damaged");
        }
    }
    return {};
}

}  // namespace

Result<ReceiveResult> receive_snapshot(Repository& repo, int fd, const ReceiveOptions& options) {
    Repository::State& s = StateAccess::of(repo);
    auto lock = WM_TRY(RepoLock::take(s.lock_fd.get(), false, s.dir));
    s.index = WM_TRY(Index::load(s.dir));
    ReceiveResult result;
    StreamReader in(fd, s.limits.max_stream_record);
    PackSink sink(s.dir, s.config.compression_level, s.config.pack_size, 1);
    Receiver rx{s, options, result, sink, {}, {}};
    auto manifest = rx.read(in);
    result.bytes_read = in.bytes();
    // The id map may have rewritten the parent and added the origin: the text is checked
    // against the limit again, before anything is committed.
    Result<std::string> text = manifest ? manifest_text(*manifest, s.limits)
                                        : Result<std::string>(std::unexpected(manifest.error()));
    auto packs = sink.finish();
    if (!text || !packs) {
        if (packs) remove_packs(s.dir, *packs);
        return std::unexpected(!text ? text.error() : packs.error());
    }
    result.bytes_added = sink.bytes_added();
    if (auto checked = check_written(s, *packs); !checked) {
        remove_packs(s.dir, *packs);
        return std::unexpected(checked.error());
    }
    result.id = manifest->origin_snapshot;
    auto present = already_here(s, *manifest);
    if (!present || *present) {
        // Its chunks are all here already unless the repository lost some: what was written
        // is kept only for a snapshot this receive adds.
        remove_packs(s.dir, *packs);
        if (!present) return std::unexpected(present.error());
        result.already_present = true;
        result.bytes_added = 0;
        return result;
    }
    // Packs are durable (fsynced at finish); then the index naming them; the manifest last.
    if (!packs->empty()) {
        WM_CHECK(write_index_file(s.dir, *packs));
        for (const auto& p : *packs)
            s.index.add(p);
    }
    WM_CHECK(write_manifest(s.dir, s.hasher, *text, result.id));
    return result;
}

std::string repository_id(Repository& repo) {
    return StateAccess::of(repo).config.id;
}

Result<std::vector<std::string>> copies_from(Repository& repo, const std::string& sender_id) {
    Repository::State& s = StateAccess::of(repo);
    auto lock = WM_TRY(RepoLock::take(s.lock_fd.get(), false, s.dir));
    std::vector<std::string> out;
    for (const auto& [theirs, ours] : WM_TRY(copies_of(s, sender_id)))
        out.push_back(theirs);
    return out;
}

}  // namespace wmrun::snapshot
