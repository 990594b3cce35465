// An image config as import and `run --image` read it: parse_image_config, then
// check_runnable against a manifest with one layer per diff_id (the manifest target varies
// that side).
#include "common/fuzz_support.hpp"
#include "wmrun/overlay/layout.hpp"

using namespace wmrun;
using namespace wmrun::overlay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string where = "blobs/sha256/config";
    auto c = parse_image_config(fuzz::as_text(data, size), where);
    if (!c) {
        fuzz::require_one_line(c.error());
        return 0;
    }
    Manifest m;
    m.config.media_type = media_type::config;
    m.layers.resize(c->diff_ids.size());
    for (auto& layer : m.layers)
        layer.media_type = media_type::layer_gzip;
    if (auto r = check_runnable(m, *c, ImageSelector{}, where); !r)
        fuzz::require_one_line(r.error());
    return 0;
}
