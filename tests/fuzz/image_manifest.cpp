// An image manifest as import reads it from a blob: parse_manifest, then check_runnable
// against a config with one diff_id per layer (what the config target varies instead).
#include "common/fuzz_support.hpp"
#include "wmrun/overlay/layout.hpp"

using namespace wmrun;
using namespace wmrun::overlay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string where = "blobs/sha256/manifest";
    auto m = parse_manifest(fuzz::as_text(data, size), where);
    if (!m) {
        fuzz::require_one_line(m.error());
        return 0;
    }
    ImageConfig config;
    config.os = "linux";
    config.architecture = "amd64";
    config.diff_ids.resize(m->layers.size());
    if (auto r = check_runnable(*m, config, ImageSelector{}, where); !r)
        fuzz::require_one_line(r.error());
    return 0;
}
