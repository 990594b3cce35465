// verify: reads every pack, checks its checksum, re-hashes every indexed chunk, and names the
// snapshot paths that a damaged or missing chunk belongs to.
#include <fcntl.h>

#include <map>
#include <set>

#include "manifest.hpp"
#include "pack.hpp"
#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {

Result<VerifyResult> Repository::verify(const ProgressFn& progress) {
    auto lock = WM_TRY(RepoLock::take(s_->lock_fd.get(), false, s_->dir));
    VerifyResult v;
    std::map<ChunkId, std::vector<std::pair<ChunkId, const Location*>>> by_pack;
    for (const auto& [id, loc] : s_->index.entries())
        by_pack[loc.pack].emplace_back(id, &loc);

    Progress prog{0, s_->index.size(), 0, 0};
    for (const auto& [id, loc] : s_->index.entries())
        prog.bytes_total += loc.stored_len;
    std::set<ChunkId> bad;
    std::set<ChunkId> on_disk;
    for (const auto& p : WM_TRY(list_packs(s_->dir)))
        on_disk.insert(p);
    for (const auto& [pack, chunks] : by_pack) {
        std::string path = s_->dir + "/" + pack_rel_path(pack);
        ++v.packs;
        auto file = open_pack(path);
        bool pack_ok = on_disk.contains(pack) && file;
        if (pack_ok) {
            auto contents = read_pack(*file, true);
            pack_ok = contents && contents->checksum_ok;
        }
        for (const auto& [id, loc] : chunks) {
            ++v.chunks;
            bool ok = false;
            if (file) {
                auto data = read_blob(*file, *loc);
                ok = data && s_->hasher(data->data(), data->size()) == id;
            }
            ++prog.items;
            prog.bytes += loc->stored_len;
            if (progress) progress(prog);
            if (!ok) {
                bad.insert(id);
                v.damaged_chunks.push_back(id.hex());
                pack_ok = false;
            }
        }
        if (!pack_ok) v.damaged_packs.push_back(pack.hex());
    }

    std::set<std::string> missing;
    for (const auto& snap : WM_TRY(snapshot_ids(s_->dir))) {
        Manifest m = WM_TRY(read_manifest(s_->dir, s_->hasher, snap, s_->limits));
        std::set<std::string> damaged_paths;
        for (const auto& e : m.tree) {
            bool damaged = false;
            for (const auto& c : e.chunks) {
                if (!s_->index.find(c)) {
                    missing.insert(c.hex());
                    damaged = true;
                } else if (bad.contains(c)) {
                    damaged = true;
                }
            }
            if (damaged) damaged_paths.insert(e.path);
            // Every name of a damaged inode is damaged.
            if (e.type == EntryType::hardlink && damaged_paths.contains(e.link)) damaged = true;
            if (damaged) v.damaged_files.push_back({snap, e.path});
        }
    }
    v.missing_chunks.assign(missing.begin(), missing.end());
    return v;
}

}  // namespace wmrun::snapshot
