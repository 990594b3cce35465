// config.json as `wmrun create` reads it before any side effect (launch_container): load_spec
// (read under the JSON limits, parse, validate every field) and the idmapped-mount checks that
// it makes on the result before it creates anything.
#include "common/fuzz_support.hpp"
#include "rootfs/idmap_mounts.hpp"
#include "wmrun/runtime/spec.hpp"

using namespace wmrun;

namespace {

std::string bundle;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    bundle = fuzz::scratch_dir() + "/bundle";
    fuzz::make_dir(bundle);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::write_whole(bundle + "/config.json", fuzz::as_text(data, size));
    auto spec = runtime::load_spec(bundle);
    if (!spec) {
        fuzz::require_one_line(spec.error());
        return 0;
    }
    if (auto r = runtime::check_idmapped_mounts(*spec); !r) fuzz::require_one_line(r.error());
    return 0;
}
