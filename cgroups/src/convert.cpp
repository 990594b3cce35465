#include "convert.hpp"

#include <algorithm>

namespace wmrun::cgroups::detail {

std::uint64_t shares_to_weight(std::uint64_t shares) {
    shares = std::clamp<std::uint64_t>(shares, 2, 262144);
    return 1 + ((shares - 2) * 9999) / 262142;
}

std::uint64_t blkio_weight_to_io_weight(std::uint64_t weight) {
    weight = std::clamp<std::uint64_t>(weight, 10, 1000);
    return 1 + ((weight - 10) * 9999) / 990;
}

std::string limit_v2(std::int64_t value) {
    return value < 0 ? "max" : std::to_string(value);
}

Result<std::optional<std::string>> swap_max_v2(const Memory& memory) {
    const std::string op = "memory.swap";
    if (!memory.swap) {
        // Unlimited memory without a swap figure means unlimited swap too, as on v1.
        if (memory.limit && *memory.limit == -1) return std::optional<std::string>("max");
        return std::optional<std::string>();
    }
    std::int64_t swap = *memory.swap;
    if (swap == -1) return std::optional<std::string>("max");
    if (swap < 0) return fail(op, std::to_string(swap), "must be -1 or >= 0");
    if (!memory.limit || *memory.limit == -1)
        return fail(op, std::to_string(swap), "a swap limit needs a memory limit on cgroup v2");
    if (*memory.limit < 0)
        return fail("memory.limit", std::to_string(*memory.limit), "must be -1 or >= 0");
    if (swap < *memory.limit)
        return fail(op, std::to_string(swap), "memory+swap must be >= the memory limit");
    return std::optional<std::string>(std::to_string(swap - *memory.limit));
}

std::optional<std::string> cpu_max_v2(const Cpu& cpu) {
    if (!cpu.quota && !cpu.period) return std::nullopt;
    std::string out = cpu.quota && *cpu.quota > 0 ? std::to_string(*cpu.quota) : "max";
    if (cpu.period && *cpu.period > 0) out += " " + std::to_string(*cpu.period);
    return out;
}

std::string device_rule_v1(const DeviceRule& rule) {
    auto num = [](const std::optional<std::int64_t>& v) {
        return v && *v >= 0 ? std::to_string(*v) : std::string("*");
    };
    return std::string(1, rule.type) + " " + num(rule.major) + ":" + num(rule.minor) + " " +
           (rule.access.empty() ? "rwm" : rule.access);
}

Result<> check_unified_key(const std::string& key, const std::set<std::string>& controllers) {
    const std::string op = "linux.resources.unified";
    if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos ||
        key.find('\0') != std::string::npos)
        return fail(op, key, "must be a file name of the cgroup");
    auto dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == key.size())
        return fail(op, key, "must be \"<controller>.<file>\"");
    std::string controller = key.substr(0, dot);
    if (controller != "cgroup" && !controllers.contains(controller))
        return fail(op, key, "controller \"" + controller + "\" is not enabled for the cgroup");
    return {};
}

}  // namespace wmrun::cgroups::detail
