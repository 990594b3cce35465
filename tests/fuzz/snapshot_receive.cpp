// `wmrun snapshot receive` of a stream (receive_snapshot) into a repository that holds an
// earlier snapshot of the sender, so that delta streams find their base. The first byte picks
// what the rest is:
//   even: the stream as it comes down the pipe: the framing (record lengths, checksums, the
//         END! record) is fuzzed with the rest.
//   odd:  a list of records, each a 4-byte tag, a u32 length (little-endian) and the payload,
//         framed by the project's StreamWriter: a sender that means harm computes valid
//         checksums, so the record parsers behind them are fuzzed.
// The repository is $WMRUN_FUZZ_RECEIVE_REPO (made by fuzz-seeds, copied here once) or else an
// empty one. Receive must leave it as it was on any error; on success verify must pass, and
// what receive added is removed again before the next input.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/fuzz_support.hpp"
#include "repo_internal.hpp"
#include "stream_format.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/snapshot/stream.hpp"

using namespace wmrun;
using namespace wmrun::snapshot;

namespace {

std::string repo;
UniqueFd stream;

void frame_records(std::string_view in) {
    StreamWriter w(stream.get());
    fuzz::require(w.header().has_value(), "cannot write the stream header");
    while (in.size() >= 8) {
        std::string_view tag = in.substr(0, 4);
        uint32_t len = get_u32(reinterpret_cast<const uint8_t*>(in.data()) + 4);
        in.remove_prefix(8);
        std::string_view payload = in.substr(0, len);
        in.remove_prefix(payload.size());
        fuzz::require(w.record(tag, payload).has_value(), "cannot write a stream record");
    }
    fuzz::require(w.finish().has_value(), "cannot finish the stream");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    repo = fuzz::scratch_dir() + "/repo";
    const char* templ = std::getenv("WMRUN_FUZZ_RECEIVE_REPO");
    if (templ && *templ) {
        std::error_code ec;
        std::filesystem::copy(templ, repo, std::filesystem::copy_options::recursive, ec);
        if (ec) fuzz::violated("copy " + std::string(templ) + ": " + ec.message());
    } else if (auto r = Repository::init(repo); !r) {
        fuzz::violated(r.error().message());
    }
    stream.reset(::memfd_create("stream", MFD_CLOEXEC));
    fuzz::require(bool(stream), "memfd_create failed");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    fuzz::require(::ftruncate(stream.get(), 0) == 0 && ::lseek(stream.get(), 0, SEEK_SET) == 0,
                  "cannot reset the stream memfd");
    std::string_view rest = fuzz::as_text(data + 1, size - 1);
    if (data[0] % 2 == 0) {
        fuzz::require(write_all(stream.get(), rest, "stream").has_value(), "cannot write stream");
    } else {
        frame_records(rest);
    }
    fuzz::require(::lseek(stream.get(), 0, SEEK_SET) == 0, "cannot rewind the stream memfd");

    auto opened = Repository::open(repo);
    if (!opened) fuzz::violated(opened.error().message());
    fuzz::Listing before = fuzz::list_tree(repo, {}, fuzz::ListBy::content);
    auto received = receive_snapshot(*opened, stream.get());
    fuzz::Listing after = fuzz::list_tree(repo, {}, fuzz::ListBy::content);
    if (!received) {
        fuzz::require_one_line(received.error());
        fuzz::require(before == after, "a failed receive changed the repository (" +
                                           received.error().message() +
                                           "):" + fuzz::listing_diff(before, after));
        return 0;
    }
    auto verified = opened->verify();
    fuzz::require(verified && verified->ok(),
                  "the repository fails verify after a successful receive");
    // Back to the repository as it was: receive only adds files (packs, an index, a manifest).
    for (auto it = after.rbegin(); it != after.rend(); ++it)
        if (!before.contains(it->first)) (void)remove_all(repo + "/" + it->first);
    fuzz::Listing cleaned = fuzz::list_tree(repo, {}, fuzz::ListBy::content);
    fuzz::require(cleaned == before,
                  "receive changed files it did not add:" + fuzz::listing_diff(before, cleaned));
    return 0;
}
