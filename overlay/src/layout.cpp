#include "wmrun/overlay/layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <optional>

#include "json_read.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::overlay {

namespace {

bool platform_matches(const Platform& p, const ImageSelector& want) {
    return p.os == want.os && p.architecture == want.architecture &&
           (want.variant.empty() || p.variant == want.variant);
}

std::string platform_name(const ImageSelector& want) {
    return want.os + "/" + want.architecture + (want.variant.empty() ? "" : "/" + want.variant);
}

constexpr int kMaxIndexDepth = 8;
// overlayfs stacks at most 500 lower layers (OVL_MAX_STACK in fs/overlayfs/params.h): an image
// with more could never be mounted, and each layer costs an unpack.
constexpr std::size_t kMaxLayers = 500;

}  // namespace

Result<> check_runnable(const Manifest& m, const ImageConfig& c, const ImageSelector& want,
                        const std::string& where) {
    if (m.config.media_type != media_type::config)
        return fail("check image", where,
                    "config.mediaType: \"" + m.config.media_type + "\" is not an image config");
    if (m.layers.size() > kMaxLayers)
        return fail("check image", where,
                    "the manifest has " + std::to_string(m.layers.size()) +
                        " layers; overlayfs stacks at most " + std::to_string(kMaxLayers));
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        auto comp = layer_compression(m.layers[i].media_type, where);
        if (!comp)
            return fail("check image", where,
                        "layers[" + std::to_string(i) + "].mediaType: " + comp.error().detail);
    }
    if (c.diff_ids.size() != m.layers.size())
        return fail("check image", where,
                    "the manifest has " + std::to_string(m.layers.size()) +
                        " layers but the config's rootfs.diff_ids has " +
                        std::to_string(c.diff_ids.size()));
    for (std::size_t i = 0; i < c.diff_ids.size(); ++i) {
        if (c.diff_ids[i].algorithm != DigestAlgorithm::sha256)
            return fail("check image", where,
                        "rootfs.diff_ids[" + std::to_string(i) + "]: must be sha256");
    }
    if (c.os != want.os || c.architecture != want.architecture)
        return fail(
            "check image", where,
            "the config is for " + c.os + "/" + c.architecture + ", not " + platform_name(want));
    return {};
}

Result<Layout> Layout::open(const std::string& dir, const ImageLimits& limits) {
    Layout l;
    l.dir_ = dir;
    l.limits_ = limits;
    std::string header_path = dir + "/oci-layout";
    detail::Doc hd{"parse oci-layout", header_path};
    auto header = read_json_file(header_path, kLayoutHeaderLimits);
    if (!header) return std::unexpected(with_context(header.error(), "open image layout"));
    if (!header->is_object()) return hd.error("(document)", "must be a JSON object");
    std::string version = WM_TRY(detail::get_string(hd, *header, "", "imageLayoutVersion", true));
    if (version != "1.0.0")
        return hd.error("imageLayoutVersion", "unsupported version \"" + version + "\"");

    std::string index_path = dir + "/index.json";
    JsonLimits doc = limits.document();
    // One byte past the limit is enough for the parser to refuse it by size.
    auto index_fd = open_file(index_path, O_RDONLY);
    if (!index_fd) return std::unexpected(with_context(index_fd.error(), "open image layout"));
    std::string index_text = WM_TRY(read_fd(index_fd->get(), index_path, doc.max_bytes + 1));
    l.index_ = WM_TRY(parse_index(index_text, index_path, doc));
    return l;
}

std::string Layout::blob_path(const Digest& d) const {
    // The hex was validated by parse_digest, so this join cannot leave blobs/.
    return dir_ + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex;
}

Result<std::string> Layout::read_blob(const Descriptor& d) const {
    std::string path = blob_path(d.digest);
    std::size_t max = limits_.max_document_bytes;
    if (d.size < 0 || static_cast<std::uint64_t>(d.size) > max)
        return fail("read blob", path,
                    "descriptor size " + std::to_string(d.size) + " exceeds the limit of " +
                        std::to_string(max) + " bytes for a " + d.media_type +
                        " (--max-manifest-size)");
    auto fd = WM_TRY(open_file(path, O_RDONLY | O_NOFOLLOW));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return sys_error("stat", path);
    if (!S_ISREG(st.st_mode)) return fail("read blob", path, "not a regular file");
    if (st.st_size != d.size)
        return fail("verify blob", path,
                    "size " + std::to_string(st.st_size) + " but the descriptor says " +
                        std::to_string(d.size));
    // Bounded by the descriptor too: a file growing meanwhile fails the verifier, not memory.
    std::string data = WM_TRY(read_fd(fd.get(), path, static_cast<std::size_t>(d.size) + 1));
    BlobVerifier v(d.digest, d.size, path);
    WM_CHECK(v.update(data.data(), data.size()));
    WM_CHECK(v.finish());
    return data;
}

Result<ResolvedImage> Layout::resolve(const ImageSelector& want) const {
    std::string index_path = dir_ + "/index.json";
    std::vector<const Descriptor*> tops;
    std::string names;
    for (const auto& d : index_.manifests) {
        if (!d.ref_name().empty()) names += (names.empty() ? "" : ", ") + d.ref_name();
        if (want.ref.empty() || d.ref_name() == want.ref) tops.push_back(&d);
    }
    if (tops.empty()) {
        if (want.ref.empty()) return fail("select image", index_path, "the index lists no images");
        return fail("select image", index_path,
                    "no image named \"" + want.ref + "\"" +
                        (names.empty() ? "" : " (names: " + names + ")"));
    }

    // Depth-first through nested indexes; the first manifest for the platform wins. Each
    // nested index is read once, however many entries name it: an index listing another
    // thousands of times, eight deep, must not cost thousands to the eighth reads.
    struct Found {
        Descriptor manifest;
        std::string ref;
    };
    std::vector<Found> found;
    std::map<std::string, std::optional<Descriptor>> seen;  // index digest -> its pick
    auto descend = [&](auto& self, const Descriptor& d,
                       int depth) -> Result<std::optional<Descriptor>> {
        if (d.platform && !platform_matches(*d.platform, want)) return std::nullopt;
        if (d.media_type == media_type::manifest) return d;
        if (d.media_type != media_type::index) return std::nullopt;  // artifacts, signatures
        if (auto it = seen.find(d.digest.str()); it != seen.end()) return it->second;
        if (depth >= kMaxIndexDepth)
            return fail("select image", blob_path(d.digest), "indexes nested too deeply");
        std::string text = WM_TRY(read_blob(d));
        Index nested = WM_TRY(parse_index(text, blob_path(d.digest), limits_.document()));
        std::optional<Descriptor> pick;
        for (const auto& child : nested.manifests) {
            pick = WM_TRY(self(self, child, depth + 1));
            if (pick) break;
        }
        seen.emplace(d.digest.str(), pick);
        return pick;
    };
    for (const Descriptor* d : tops) {
        if (auto pick = WM_TRY(descend(descend, *d, 0))) found.push_back({*pick, d->ref_name()});
    }

    if (found.empty())
        return fail("select image", index_path,
                    "no " + platform_name(want) + " image" +
                        (want.ref.empty() ? std::string() : " named \"" + want.ref + "\""));
    if (found.size() > 1 && want.ref.empty())
        return fail("select image", index_path,
                    std::to_string(found.size()) + " images match " + platform_name(want) +
                        "; choose one by name" + (names.empty() ? "" : " (" + names + ")"));

    ResolvedImage out;
    out.manifest_descriptor = found.front().manifest;
    out.ref_name = found.front().ref;
    std::string manifest_path = blob_path(out.manifest_descriptor.digest);
    std::string text = WM_TRY(read_blob(out.manifest_descriptor));
    out.manifest = WM_TRY(parse_manifest(text, manifest_path, limits_.document()));
    std::string config_path = blob_path(out.manifest.config.digest);
    std::string config_text = WM_TRY(read_blob(out.manifest.config));
    if (out.manifest.config.media_type == media_type::config)
        out.config = WM_TRY(parse_image_config(config_text, config_path, limits_.document()));
    WM_CHECK(check_runnable(out.manifest, out.config, want, manifest_path));
    return out;
}

}  // namespace wmrun::overlay
