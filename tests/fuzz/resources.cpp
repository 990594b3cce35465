// linux.resources (and `wmrun update --resources`): cgroups/src/resources_parse.cpp, then the
// pure conversions the drivers apply to the result before writing any cgroup file: the v2
// values, the v1 device rules and the v2 device filter program.
#include <set>

#include "bpf_device_filter.hpp"
#include "common/fuzz_support.hpp"
#include "convert.hpp"
#include "wmrun/cgroups/resources.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;

namespace {

void convert_all(const Resources& r) {
    if (r.memory) {
        if (auto swap = detail::swap_max_v2(*r.memory); !swap) fuzz::require_one_line(swap.error());
        for (const auto& v : {r.memory->limit, r.memory->reservation})
            if (v) (void)detail::limit_v2(*v);
    }
    if (r.cpu) {
        (void)detail::cpu_max_v2(*r.cpu);
        if (r.cpu->shares) (void)detail::shares_to_weight(*r.cpu->shares);
    }
    if (r.block_io && r.block_io->weight)
        (void)detail::blkio_weight_to_io_weight(*r.block_io->weight);
    // One write to devices.allow or devices.deny is one rule: a line break would smuggle in
    // a second one.
    for (const auto& rule : r.devices) {
        std::string line = detail::device_rule_v1(rule);
        fuzz::require(line.find('\n') == std::string::npos,
                      "a v1 device rule spans lines: " + line);
    }
    if (auto prog = detail::build_device_filter(r.devices); !prog)
        fuzz::require_one_line(prog.error());
    static const std::set<std::string> controllers{"cpu", "io", "memory", "pids", "hugetlb"};
    for (const auto& [key, value] : r.unified)
        if (auto ok = detail::check_unified_key(key, controllers); !ok)
            fuzz::require_one_line(ok.error());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto doc = parse_json(std::string(fuzz::as_text(data, size)), "resources");
    if (!doc) {
        fuzz::require_one_line(doc.error());
        return 0;
    }
    auto parsed = parse_resources(*doc, "linux.resources");
    if (!parsed) {
        fuzz::require_one_line(parsed.error());
        return 0;
    }
    convert_all(*parsed);
    return 0;
}
