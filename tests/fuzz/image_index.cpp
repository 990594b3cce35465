// index.json as `wmrun image import` reads it: Layout::open (oci-layout and the index's own
// validity), then resolve, which picks an image by ref name and platform through nested indexes
// and reads and verifies its manifest and config. The layout's blobs are the sample image
// (common/sample_image.cpp), which the seeds point at.
#include "common/fuzz_support.hpp"
#include "common/sample_image.hpp"
#include "wmrun/overlay/layout.hpp"

using namespace wmrun;
using namespace wmrun::overlay;

namespace {

std::string layout_dir;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    layout_dir = fuzz::scratch_dir() + "/layout";
    fuzz::build_sample_layout(layout_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::write_whole(layout_dir + "/index.json", fuzz::as_text(data, size));
    auto layout = Layout::open(layout_dir);
    if (!layout) {
        fuzz::require_one_line(layout.error());
        return 0;
    }
    for (const ImageSelector& want :
         {ImageSelector{}, ImageSelector{"1.0"}, ImageSelector{"multi", "linux", "arm64"}}) {
        auto image = layout->resolve(want);
        if (!image) fuzz::require_one_line(image.error());
    }
    return 0;
}
