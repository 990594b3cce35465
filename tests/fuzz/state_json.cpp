// state.json as every command on an existing container reads it (StateStore::load), and the
// OCI state document `wmrun state` prints from it. A state file is input to validate, not to
// trust (design.md): whatever it holds must give a state or a one-line error.
#include "common/fuzz_support.hpp"
#include "wmrun/runtime/state.hpp"

using namespace wmrun;

namespace {

std::string root;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    root = fuzz::scratch_dir() + "/root";
    fuzz::make_dir(root + "/c1");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::write_whole(root + "/c1/state.json", fuzz::as_text(data, size));
    runtime::StateStore store(root);
    auto state = store.load("c1");
    if (!state) {
        fuzz::require_one_line(state.error());
        return 0;
    }
    for (auto status : {runtime::Status::running, runtime::Status::paused})
        (void)runtime::state_json(*state, status).dump();
    return 0;
}
