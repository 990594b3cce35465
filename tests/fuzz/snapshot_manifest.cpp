// Snapshot manifests as restore, diff, verify and receive read them (read_manifest). The first
// byte picks what the rest is:
//   even: the manifest's JSON text. The harness frames it as write_manifest does (magic, one
//         zstd frame, keyed checksum): the key sits in the repository's config, so a hostile
//         repository carries valid checksums, and the JSON reader behind them is fuzzed.
//   odd:  the file as it is on disk, named by its last 16 bytes: the framing itself (frame
//         header, sizes) before the checksum is checked.
#include <zstd.h>

#include "common/fuzz_support.hpp"
#include "manifest.hpp"
#include "repo_internal.hpp"

using namespace wmrun;
using namespace wmrun::snapshot;

namespace {

std::string repo;
const KeyedHasher hasher(Key{1, 2, 3});

std::string framed(std::string_view text, std::string& id) {
    std::string out = "WMSNAP01";
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    size_t n = ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 1);
    fuzz::require(!ZSTD_isError(n), "zstd cannot compress the input");
    out.append(frame.data(), n);
    ChunkId sum = hasher(text.data(), text.size());
    put_id(out, sum);
    id = sum.hex();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    repo = fuzz::scratch_dir() + "/repo";
    fuzz::make_dir(repo + "/snapshots");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view rest = fuzz::as_text(data + 1, size - 1);
    std::string id, file;
    if (data[0] % 2 == 0) {
        file = framed(rest, id);
    } else {
        if (rest.size() < 16) return 0;
        file = std::string(rest);
        id = get_id(data + size - 16).hex();
    }
    fuzz::write_whole(repo + "/snapshots/" + id, file);
    auto m = read_manifest(repo, hasher, id);
    if (!m) {
        fuzz::require_one_line(m.error());
    } else {
        // What was read writes back to a text that reads back the same.
        std::string again = manifest_json(*m);
        auto m2 = parse_manifest_json(again, "rewritten manifest");
        fuzz::require(m2.has_value(), "a manifest read back fails to parse once rewritten: " +
                                          (m2 ? std::string() : m2.error().message()));
        fuzz::require(manifest_json(*m2) == again, "a manifest changes when rewritten twice");
    }
    ::unlink((repo + "/snapshots/" + id).c_str());
    return 0;
}
