#include "index.hpp"

#include <dirent.h>

#include <algorithm>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMIDX001";
constexpr size_t kEntrySize = 56;

Result<std::vector<std::string>> list_names(const std::string& dir, std::string_view suffix) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return sys_error("opendir", dir);
    std::vector<std::string> names;
    while (dirent* de = ::readdir(d)) {
        std::string name = de->d_name;
        if (name.size() > suffix.size() && name.ends_with(suffix)) names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

void Index::add(const PackRecord& pack) {
    for (const auto& e : pack.entries)
        map_.try_emplace(e.id, Location{pack.pack, e.offset, e.stored_len, e.raw_len, e.flags});
}

Result<Index> Index::load(const std::string& repo) {
    Index index;
    std::string dir = repo + "/index";
    for (const auto& name : WM_TRY(list_names(dir, ".idx"))) {
        std::string path = dir + "/" + name;
        std::string data = WM_TRY(read_file(path));
        const auto* p = reinterpret_cast<const uint8_t*>(data.data());
        if (data.size() < kMagic.size() + 8 + 16 || !data.starts_with(kMagic))
            return fail("read index", path, "bad header");
        ChunkId sum = checksum128(p, data.size() - 16);
        if (std::memcmp(sum.bytes.data(), p + data.size() - 16, 16) != 0)
            return fail("read index", path, "checksum mismatch");
        uint64_t n = get_u64(p + data.size() - 24);
        if (n * kEntrySize != data.size() - kMagic.size() - 24)
            return fail("read index", path, "bad entry count");
        for (uint64_t i = 0; i < n; ++i) {
            const uint8_t* e = p + kMagic.size() + i * kEntrySize;
            index.map_.try_emplace(get_id(e),
                                   Location{get_id(e + 16), get_u64(e + 32), get_u32(e + 40),
                                            get_u32(e + 44), get_u32(e + 48)});
        }
        index.files_.push_back(name);
    }
    return index;
}

Result<std::string> write_index_file(const std::string& repo,
                                     const std::vector<PackRecord>& packs) {
    std::string out(kMagic);
    uint64_t n = 0;
    for (const auto& pack : packs) {
        for (const auto& e : pack.entries) {
            put_id(out, e.id);
            put_id(out, pack.pack);
            put_u64(out, e.offset);
            put_u32(out, e.stored_len);
            put_u32(out, e.raw_len);
            put_u32(out, e.flags);
            put_u32(out, 0);
            ++n;
        }
    }
    put_u64(out, n);
    put_id(out, checksum128(out.data(), out.size()));
    std::string name = checksum128(out.data(), out.size() - 16).hex() + ".idx";
    WM_CHECK(write_repo_file(repo, "index/" + name, out));
    return name;
}

}  // namespace wmrun::snapshot
