#include "wmrun/overlay/limits.hpp"

#include <algorithm>

namespace wmrun::overlay {

ExpansionBudget LayerLimits::archive_budget(std::uint64_t size) const {
    if (max_ratio == 0) return {UINT64_MAX, "none"};
    std::uint64_t by_ratio = 0;
    if (__builtin_mul_overflow(max_ratio, size, &by_ratio)) by_ratio = UINT64_MAX;
    std::string ratio = std::to_string(max_ratio);
    return {std::max(ratio_floor, by_ratio), "--max-layer-ratio " + ratio + " (" + ratio +
                                                 " times the compressed size of " +
                                                 std::to_string(size) + " bytes, once past " +
                                                 std::to_string(ratio_floor) + " bytes)"};
}

ExpansionBudget LayerLimits::layer_budget(std::uint64_t compressed) const {
    ExpansionBudget b = archive_budget(compressed);
    if (max_bytes <= b.bytes) return {max_bytes, "--max-layer-size " + std::to_string(max_bytes)};
    return b;
}

}  // namespace wmrun::overlay
