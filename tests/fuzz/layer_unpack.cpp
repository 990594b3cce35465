// Layer unpacking (unpack_layer) of a tar, gzip or zstd blob into a fresh layers directory.
// The first byte picks the media type (bits 0-1: tar, tar+gzip, tar+zstd) and the whiteout
// mode (bit 2: rootless); the rest is the blob. The descriptor carries the blob's real digest
// and size, and the diff-id is that of the blob's uncompressed content (computed here, up to
// kMaxDiffIdBytes), so the unpack runs to its end and renames the layer into place.
//
// Asserted on every input: nothing is written, removed or linked outside the layers directory
// (canaries around it, several levels up, and the names in /); a rejected layer leaves the
// layers directory empty; an accepted one leaves exactly <diff-id hex> there.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "common/fuzz_support.hpp"
#include "image_builder.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/unpack.hpp"

using namespace wmrun;
using namespace wmrun::overlay;

namespace {

// A diff-id is not computed for content that expands past this: the unpack then meets a
// diff-id that cannot match, which it must reject like any other.
constexpr size_t kMaxDiffIdBytes = 16u << 20;

std::string sandbox, layers, blob_path;
fuzz::Listing sandbox_before;
std::set<std::string> root_before;

std::set<std::string> names_in(const std::string& dir) {
    std::set<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            out.insert(e->d_name);
        ::closedir(d);
    }
    return out;
}

struct ArchiveFree {
    void operator()(archive* a) const { archive_read_free(a); }
};

Digest uncompressed_digest(std::string_view blob, Compression c) {
    Hasher h;
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    if (c == Compression::gzip) archive_read_support_filter_gzip(a.get());
    if (c == Compression::zstd) archive_read_support_filter_zstd(a.get());
    archive_read_support_format_raw(a.get());
    archive_entry* e = nullptr;
    if (archive_read_open_memory(a.get(), blob.data(), blob.size()) != ARCHIVE_OK ||
        archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
        return h.finish();
    char buf[65536];
    size_t total = 0;
    for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) > 0;) {
        total += static_cast<size_t>(n);
        if (total > kMaxDiffIdBytes) break;
        h.update(buf, static_cast<size_t>(n));
    }
    return h.finish();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // sandbox/{canary, a/canary, a/b/canary, a/b/c/canary, a/b/c/layers}: a member that climbs
    // out of the layer with "..", a symlink or a hardlink lands among the canaries.
    sandbox = fuzz::scratch_dir() + "/sandbox";
    std::string d = sandbox;
    for (const char* sub : {"", "/a", "/b", "/c"}) {
        d += sub;
        fuzz::make_dir(d + "/dir");
        fuzz::write_whole(d + "/canary", "canary\n");
        fuzz::write_whole(d + "/dir/canary", "canary\n");
        if (::symlink("canary", (d + "/link").c_str()) < 0) fuzz::violated("symlink failed");
    }
    // Made once and emptied after each input: its parent's listing stays the same.
    layers = d + "/layers";
    fuzz::make_dir(layers);
    blob_path = fuzz::scratch_dir() + "/blob";
    sandbox_before = fuzz::list_tree(sandbox, "a/b/c/layers");
    root_before = names_in("/");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    Compression c = std::array{Compression::none, Compression::gzip, Compression::zstd,
                               Compression::none}[data[0] & 3];
    UnpackOptions options;
    options.mode = data[0] & 4 ? WhiteoutMode::rootless : WhiteoutMode::root;
    std::string_view blob = fuzz::as_text(data + 1, size - 1);
    fuzz::write_whole(blob_path, blob);
    Descriptor layer;
    layer.media_type = overlay::test::media_type_for(c);
    layer.digest = digest_of(blob);
    layer.size = static_cast<std::int64_t>(blob.size());
    Digest diff_id = uncompressed_digest(blob, c);

    auto r = unpack_layer(blob_path, layer, diff_id, layers, options);
    std::set<std::string> left = names_in(layers);
    left.erase(".");
    left.erase("..");
    if (!r) {
        fuzz::require_one_line(r.error());
        if (!left.empty())
            fuzz::violated("a rejected layer left " + *left.begin() + " behind (" +
                           r.error().message() + ")");
    } else {
        fuzz::require(left == std::set<std::string>{diff_id.hex},
                      "an unpacked layer is not alone under its diff-id in the layers dir");
    }
    fuzz::Listing after = fuzz::list_tree(sandbox, "a/b/c/layers");
    fuzz::require(after == sandbox_before, "the unpack wrote outside its directory:" +
                                               fuzz::listing_diff(sandbox_before, after));
    fuzz::require(names_in("/") == root_before, "the unpack changed the names in /");
    for (const auto& name : left)
        if (auto removed = remove_all(layers + "/" + name); !removed)
            fuzz::violated(removed.error().message());
    return 0;
}
