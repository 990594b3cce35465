#include "wmrun/overlay/layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>

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

}  // namespace

Result<> check_runnable(const Manifest& m, const ImageConfig& c, const ImageSelector& want,
                        const std::string& where) {
    if (m.config.media_type != media_type::config)
        return fail("check image", where,
                    "config.mediaType: \"" + m.config.media_type + "\" is not an image config");
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

Result<Layout> Layout::open(const std::string& dir) {
    Layout l;
    l.dir_ = dir;
    std::string header_path = dir + "/oci-layout";
    auto header_text = read_file(header_path);
    if (!header_text)
        return std::unexpected(with_context(header_text.error(), "open image layout"));
    detail::Doc hd{"parse oci-layout", header_path};
    auto header = parse_json(*header_text, header_path);
    if (!header) return std::unexpected(header.error());
    if (!header->is_object()) return hd.error("(document)", "must be a JSON object");
    std::string version = WM_TRY(detail::get_string(hd, *header, "", "imageLayoutVersion", true));
    if (version != "1.0.0")
        return hd.error("imageLayoutVersion", "unsupported version \"" + version + "\"");

    std::string index_path = dir + "/index.json";
    auto index_text = read_file(index_path);
    if (!index_text) return std::unexpected(with_context(index_text.error(), "open image layout"));
    l.index_ = WM_TRY(parse_index(*index_text, index_path));
    return l;
}

std::string Layout::blob_path(const Digest& d) const {
    // The hex was validated by parse_digest, so this join cannot leave blobs/.
    return dir_ + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex;
}

Result<std::string> Layout::read_blob(const Descriptor& d, std::size_t max) const {
    std::string path = blob_path(d.digest);
    if (d.size < 0 || static_cast<std::uint64_t>(d.size) > max)
        return fail("read blob", path,
                    "descriptor size " + std::to_string(d.size) + " exceeds the limit of " +
                        std::to_string(max) + " bytes for a " + d.media_type);
    auto fd = WM_TRY(open_file(path, O_RDONLY | O_NOFOLLOW));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return sys_error("stat", path);
    if (!S_ISREG(st.st_mode)) return fail("read blob", path, "not a regular file");
    if (st.st_size != d.size)
        return fail("verify blob", path,
                    "size " + std::to_string(st.st_size) + " but the descriptor says " +
                        std::to_string(d.size));
    std::string data = WM_TRY(read_fd(fd.get(), path));
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

    // Depth-first through nested indexes; the first manifest for the platform wins.
    struct Found {
        Descriptor manifest;
        std::string ref;
    };
    std::vector<Found> found;
    auto descend = [&](auto& self, const Descriptor& d, const std::string& ref,
                       int depth) -> Result<bool> {
        if (d.platform && !platform_matches(*d.platform, want)) return false;
        if (d.media_type == media_type::manifest) {
            found.push_back({d, ref});
            return true;
        }
        if (d.media_type != media_type::index) return false;  // artifacts, signatures, ...
        if (depth >= kMaxIndexDepth)
            return fail("select image", blob_path(d.digest), "indexes nested too deeply");
        std::string text = WM_TRY(read_blob(d));
        Index nested = WM_TRY(parse_index(text, blob_path(d.digest)));
        for (const auto& child : nested.manifests) {
            if (WM_TRY(self(self, child, ref, depth + 1))) return true;
        }
        return false;
    };
    for (const Descriptor* d : tops)
        WM_CHECK(descend(descend, *d, d->ref_name(), 0));

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
    out.manifest = WM_TRY(parse_manifest(text, manifest_path));
    std::string config_path = blob_path(out.manifest.config.digest);
    std::string config_text = WM_TRY(read_blob(out.manifest.config));
    if (out.manifest.config.media_type == media_type::config)
        out.config = WM_TRY(parse_image_config(config_text, config_path));
    WM_CHECK(check_runnable(out.manifest, out.config, want, manifest_path));
    return out;
}

}  // namespace wmrun::overlay
