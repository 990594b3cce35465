// Seeds for image-index, image-manifest, image-config and layer-unpack: the sample layout of
// common/sample_image.cpp (LayoutBuilder, the image builder of the overlay unit tests) and its
// layers in each compression; and the regression input of a layer that expands without bound.
#include <set>
#include <stdexcept>

#include "common/sample_image.hpp"
#include "image_builder.hpp"
#include "seeds.hpp"
#include "wmrun/overlay/layout.hpp"

namespace wmrun::fuzz::seeds {

namespace {

using namespace overlay;
using overlay::test::Member;

// layer-unpack's first byte: bits 0-1 the compression (none, gzip, zstd: the enum's order),
// bit 2 rootless.
std::string layer_input(Compression c, bool rootless, std::string_view blob) {
    char mode = static_cast<char>(static_cast<int>(c) | (rootless ? 4 : 0));
    return std::string(1, mode) + std::string(blob);
}

}  // namespace

void overlay_seeds(const Out& out) {
    std::string dir = out.work("layout");
    std::string index_text = build_sample_layout(dir);
    auto layout = must(Layout::open(dir), "open the sample layout");
    out.seed("image-index", "sample", index_text);
    int n = 0;
    std::set<std::string> seen;
    // Every document of the layout, by its media type, once each.
    for (const auto& top : layout.index().manifests) {
        std::vector<Descriptor> descs{top};
        if (top.media_type == media_type::index) {
            auto nested = must(parse_index(must(layout.read_blob(top), "read"), "nested"), "parse");
            out.seed("image-index", "nested", must(layout.read_blob(top), "read"));
            descs = nested.manifests;
        }
        for (const auto& d : descs) {
            if (!seen.insert(d.digest.hex).second) continue;
            std::string manifest_text = must(layout.read_blob(d), "read a manifest");
            auto m = must(parse_manifest(manifest_text, "manifest"), "parse a manifest");
            std::string name = std::to_string(n++);
            out.seed("image-manifest", name, manifest_text);
            out.seed("image-config", name, must(layout.read_blob(m.config), "read a config"));
        }
    }

    for (auto c : {Compression::none, Compression::gzip, Compression::zstd}) {
        auto tar = test::make_tar(sample_members(), c);
        std::string name = c == Compression::gzip   ? "tar-gzip"
                           : c == Compression::zstd ? "tar-zstd"
                                                    : "tar";
        out.seed("layer-unpack", name, layer_input(c, false, tar.blob));
        out.seed("layer-unpack", name + "-rootless", layer_input(c, true, tar.blob));
    }
    std::vector<Member> deep{test::dir("a"), test::dir("a/b"), test::file("a/b/.wh.c", ""),
                             test::file("a/b/" + std::string(200, 'n'), "long name (pax)")};
    out.seed("layer-unpack", "deep",
             layer_input(Compression::none, false, test::make_tar(deep, Compression::none).blob));

    // A gzip layer of about 1 MiB holding one file of 1 GiB of zeros: before layers had an
    // expansion limit, `image import` wrote all of it into the store.
    out.regression(
        "layer-unpack", "gzip-expands-to-1GiB",
        layer_input(Compression::gzip, false,
                    test::zeros_layer("zeros", std::uint64_t{1} << 30, Compression::gzip).blob));
}

}  // namespace wmrun::fuzz::seeds
