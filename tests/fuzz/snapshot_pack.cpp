// Pack files as verify, prune and receive read them: read_pack (the trailing index and the
// checksum), then every blob it lists through read_blob (bounds, decompression).
#include "common/fuzz_support.hpp"
#include "pack.hpp"
#include "repo_internal.hpp"

using namespace wmrun;
using namespace wmrun::snapshot;

namespace {

std::string path;
// docs/snapshot-format.md, "Pack files": "WMPACK01", blobs, entries, trailer.
constexpr uint64_t kMagicSize = 8, kEntrySize = 40, kTrailerSize = 32;
// Enough blobs to reach every branch of the reader; a long list only repeats them.
constexpr size_t kMaxBlobsRead = 64;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    path = fuzz::scratch_dir() + "/fuzz.pack";
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::write_whole(path, fuzz::as_text(data, size));
    auto pack = open_pack(path);
    fuzz::require(pack.has_value(), "cannot open the pack");
    // The checksum pass zero-fills a 4 MiB buffer whatever the pack's size, which would make
    // it most of each run's time: it runs for one input length in 16.
    auto contents = read_pack(*pack, size % 16 == 0);
    if (!contents) {
        fuzz::require_one_line(contents.error());
        return 0;
    }
    // What read_pack returns, its callers trust: every blob lies between the header and the
    // pack's own index, and the arithmetic that says so does not wrap.
    uint64_t n = contents->entries.size();
    fuzz::require(size >= kMagicSize + kTrailerSize + n * kEntrySize,
                  "read_pack listed more entries than the file has room for");
    uint64_t index_off = size - kTrailerSize - n * kEntrySize;
    for (const auto& e : contents->entries) {
        fuzz::require(
            e.offset >= kMagicSize && e.offset <= index_off && e.stored_len <= index_off - e.offset,
            "read_pack returned an entry outside the blob area: offset " +
                std::to_string(e.offset) + ", length " + std::to_string(e.stored_len) +
                ", blobs end at " + std::to_string(index_off));
    }
    for (size_t i = 0; i < n && i < kMaxBlobsRead; ++i) {
        const auto& e = contents->entries[i];
        auto raw = read_blob(*pack, {e.id, e.offset, e.stored_len, e.raw_len, e.flags});
        if (!raw) fuzz::require_one_line(raw.error());
    }
    return 0;
}
