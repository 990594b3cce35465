// linux.seccomp: the parser of runtime/src/spec and the compile to BPF through libseccomp
// that the container's init runs before it waits for `start` (not the load).
#include "process/seccomp.hpp"
#include "common/fuzz_support.hpp"
#include "spec/spec_parse_internal.hpp"
#include "wmrun/base/json.hpp"

using namespace wmrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto doc = parse_json(std::string(fuzz::as_text(data, size)), "seccomp");
    if (!doc) {
        fuzz::require_one_line(doc.error());
        return 0;
    }
    auto parsed = runtime::detail::parse_seccomp(*doc, "linux.seccomp");
    if (!parsed) {
        fuzz::require_one_line(parsed.error());
        return 0;
    }
    auto program = runtime::compile_seccomp(*parsed);
    if (!program) {
        fuzz::require_one_line(program.error());
        return 0;
    }
    fuzz::require(!program->filter.empty(), "a compiled seccomp filter without instructions");
    return 0;
}
