// prune and rebuild_index: the operations that delete, under the exclusive lock.
#include <fcntl.h>
#include <unistd.h>

#include <unordered_set>

#include "fs_meta.hpp"
#include "manifest.hpp"
#include "pack_sink.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

Result<> clear_tmp(const std::string& repo) {
    std::string tmp = repo + "/tmp";
    UniqueFd dir = WM_TRY(open_file(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const auto& name : WM_TRY(read_dir_names(dir.get(), tmp)))
        if (::unlinkat(dir.get(), name.c_str(), 0) < 0 && errno != ENOENT)
            return sys_error("unlink", tmp + "/" + name);
    return {};
}

// Makes `packs` the whole index: writes one new index file, then deletes the others.
Result<> replace_index(const std::string& repo, const std::vector<PackRecord>& packs,
                       const std::vector<std::string>& old_files) {
    std::string name = WM_TRY(write_index_file(repo, packs));
    for (const auto& old : old_files) {
        if (old == name) continue;
        std::string path = repo + "/index/" + old;
        crash_point();
        if (::unlink(path.c_str()) < 0 && errno != ENOENT) return sys_error("unlink", path);
    }
    return fsync_dir(repo + "/index");
}

Result<> remove_pack(const std::string& repo, const ChunkId& pack) {
    std::string path = repo + "/" + pack_rel_path(pack);
    crash_point();
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) return sys_error("unlink", path);
    return {};
}

}  // namespace

Result<> Repository::rebuild_index() {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), true, s_->dir));
    WM_CHECK(clear_tmp(s_->dir));
    Index old = WM_TRY(Index::load(s_->dir));
    std::vector<PackRecord> packs;
    for (const auto& id : WM_TRY(list_packs(s_->dir))) {
        auto contents = WM_TRY(read_pack(s_->dir + "/" + pack_rel_path(id), false));
        packs.push_back({id, std::move(contents.entries)});
    }
    WM_CHECK(replace_index(s_->dir, packs, old.files()));
    s_->index = WM_TRY(Index::load(s_->dir));
    return {};
}

Result<PruneResult> Repository::prune(const ProgressFn& progress) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), true, s_->dir));
    WM_CHECK(clear_tmp(s_->dir));
    s_->index = WM_TRY(Index::load(s_->dir));  // creates since open() added index files

    std::unordered_set<ChunkId, ChunkIdHash> used;
    for (const auto& snap : WM_TRY(snapshot_ids(s_->dir)))
        for (const auto& e : WM_TRY(read_manifest(s_->dir, s_->hasher, snap, s_->limits)).tree)
            used.insert(e.chunks.begin(), e.chunks.end());

    PruneResult result;
    std::vector<PackRecord> keep;
    std::vector<ChunkId> drop;
    PackSink sink(s_->dir, s_->config.compression_level, s_->config.pack_size, 1);
    std::vector<ChunkId> all_packs = WM_TRY(list_packs(s_->dir));
    Progress prog{0, all_packs.size(), 0, 0};
    for (const auto& pack : all_packs) {
        ++prog.items;
        if (progress) progress(prog);
        std::string path = s_->dir + "/" + pack_rel_path(pack);
        PackFile file = WM_TRY(open_pack(path));
        auto contents = WM_TRY(read_pack(file, false));
        // A chunk is live here only if it is used and the index points at this copy of it;
        // other copies (left by an interrupted prune or create) are garbage.
        std::vector<PackEntry> live;
        uint64_t dead_bytes = 0;
        for (const auto& e : contents.entries) {
            const Location* loc = s_->index.find(e.id);
            if (used.contains(e.id) && loc && loc->pack == pack && loc->offset == e.offset)
                live.push_back(e);
            else
                dead_bytes += e.stored_len, ++result.chunks_removed;
        }
        if (live.size() == contents.entries.size()) {
            keep.push_back({pack, std::move(contents.entries)});
            continue;
        }
        drop.push_back(pack);
        result.bytes_freed += dead_bytes;
        if (live.empty()) {
            ++result.packs_deleted;
            continue;
        }
        ++result.packs_rewritten;
        for (const auto& e : live) {
            // Copied in stored form: no recompression, and the bytes are checked first.
            std::vector<uint8_t> stored;
            WM_CHECK(read_stored(file, {pack, e.offset, e.stored_len, e.raw_len, e.flags}, stored));
            auto raw = WM_TRY(decode_blob(stored, e.raw_len, e.flags, path));
            if (s_->hasher(raw.data(), raw.size()) != e.id)
                return fail("prune", path, "chunk " + e.id.hex() + " is damaged; run verify");
            WM_CHECK(sink.submit_stored(e.id, std::move(stored), e.raw_len, e.flags));
        }
    }
    auto written = WM_TRY(sink.finish());
    // Pack ids are content hashes: rewriting the live chunks left by an interrupted prune can
    // produce, byte for byte, a pack that is also on the drop list as that prune's orphan.
    // The file is now the new pack, so it must not be deleted.
    for (const auto& w : written)
        std::erase(drop, w.pack);
    keep.insert(keep.end(), written.begin(), written.end());
    if (drop.empty()) return result;
    // New packs are durable; the new index must be too before any old pack goes.
    WM_CHECK(replace_index(s_->dir, keep, s_->index.files()));
    for (const auto& pack : drop)
        WM_CHECK(remove_pack(s_->dir, pack));
    s_->index = WM_TRY(Index::load(s_->dir));
    return result;
}

}  // namespace wmrun::snapshot
