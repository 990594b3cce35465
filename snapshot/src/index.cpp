#include "index.hpp"

#include <dirent.h>
#include <zstd.h>

#include <algorithm>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::snapshot {
namespace {

constexpr std::string_view kMagic = "WMIDX001";
constexpr size_t kEntrySize = 56;
constexpr size_t kTailSize = 8 + 16;  // entry count, checksum
constexpr uint64_t kPackMagicSize = 8;

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

const char* bad_location(uint64_t offset, uint32_t stored_len, uint32_t raw_len, uint32_t flags) {
    if (flags & ~kFlagZstd) return "unknown flags";
    if (raw_len > kMaxChunkSize) return "raw length past the largest chunk (64 MiB)";
    if ((flags & kFlagZstd) ? stored_len > ZSTD_COMPRESSBOUND(uint64_t(raw_len))
                            : stored_len != raw_len)
        return "stored length does not fit the raw length";
    // offset + stored_len must stay an off_t: arranged so that the sum is never computed.
    if (offset < kPackMagicSize || offset > uint64_t(INT64_MAX) - stored_len)
        return "offset out of range";
    return nullptr;
}

Result<> Index::add_file(std::string_view data, const std::string& name) {
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    if (data.size() < kMagic.size() + kTailSize || !data.starts_with(kMagic))
        return fail("read index", name, "bad header");
    ChunkId sum = checksum128(p, data.size() - 16);
    if (std::memcmp(sum.bytes.data(), p + data.size() - 16, 16) != 0)
        return fail("read index", name, "checksum mismatch");
    // The count is checked against the bytes there by division: n * kEntrySize could wrap.
    uint64_t n = get_u64(p + data.size() - kTailSize);
    size_t body = data.size() - kMagic.size() - kTailSize;
    if (body % kEntrySize != 0 || n != body / kEntrySize)
        return fail("read index", name,
                    "entry count " + std::to_string(n) + " does not match the file's " +
                        std::to_string(body) + " bytes of entries");
    const uint8_t* entries = p + kMagic.size();
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t* e = entries + i * kEntrySize;
        if (const char* bad =
                bad_location(get_u64(e + 32), get_u32(e + 40), get_u32(e + 44), get_u32(e + 48)))
            return fail("read index", name, "entry " + std::to_string(i) + ": " + bad);
    }
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t* e = entries + i * kEntrySize;
        map_.try_emplace(get_id(e), Location{get_id(e + 16), get_u64(e + 32), get_u32(e + 40),
                                             get_u32(e + 44), get_u32(e + 48)});
    }
    return {};
}

Result<Index> Index::load(const std::string& repo) {
    Index index;
    std::string dir = repo + "/index";
    for (const auto& name : WM_TRY(list_names(dir, ".idx"))) {
        std::string path = dir + "/" + name;
        WM_CHECK(index.add_file(WM_TRY(read_file(path)), path));
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
