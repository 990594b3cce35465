// A repository's index/*.idx as every snapshot command loads it (Index::load). The file's
// checksum is unkeyed, so whoever writes a hostile repository writes a matching one: the input
// is the file without its checksum, and the harness appends the right one, so that the parser
// behind the checksum is what gets fuzzed.
#include "common/fuzz_support.hpp"
#include "index.hpp"
#include "repo_internal.hpp"

using namespace wmrun;
using namespace wmrun::snapshot;

namespace {

std::string repo;
constexpr size_t kEntrySize = 56;  // docs/snapshot-format.md, "Index files"

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    repo = fuzz::scratch_dir() + "/repo";
    fuzz::make_dir(repo + "/index");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string file(fuzz::as_text(data, size));
    put_id(file, checksum128(file.data(), file.size()));
    fuzz::write_whole(repo + "/index/fuzz.idx", file);
    auto index = Index::load(repo);
    if (!index) {
        fuzz::require_one_line(index.error());
        return 0;
    }
    // Every entry the loader took is 56 bytes of the file.
    fuzz::require(index->size() <= file.size() / kEntrySize,
                  "the index holds more entries than the file has room for");
    return 0;
}
