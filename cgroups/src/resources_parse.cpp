// linux.resources (config-linux.md "Control groups" and schema/config-linux.json) into Resources.
// Every field is checked against its schema type; where config-linux.md states a rule the
// schema cannot express (an entry needing one of two fields), it is checked here as well.

#include <algorithm>

#include "wmrun/base/json_fields.hpp"
#include "wmrun/cgroups/resources.hpp"

namespace wmrun::cgroups {

namespace {

using namespace wmrun::json_fields;

// runc's update and its cgroup drivers take 0 as "leave alone" for these fields, and docker
// sends 0 for every one it does not change (a 0 written to cpu.cfs_quota_us is refused).
template <typename T>
void zero_is_unset(std::optional<T>& v) {
    if (v && *v == 0) v.reset();
}

// A memory figure: -1 (unlimited) or a byte count.
Result<> check_limit(const Fields& f, std::string_view key, const std::optional<std::int64_t>& v) {
    if (v && *v < -1) return field_error(f.at(key), "must be -1 (unlimited) or a byte count");
    return {};
}

Result<DeviceRule> parse_device_rule(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    DeviceRule rule;
    rule.allow = WM_TRY(f.req_bool("allow"));
    std::string type = WM_TRY(f.string_or("type", "a"));
    // An empty type means "all", as runc reads it.
    if (type.empty()) type = "a";
    if (type != "a" && type != "c" && type != "b")
        return field_error(f.at("type"), "must be \"a\", \"c\" or \"b\", not \"" + type + "\"");
    rule.type = type[0];
    rule.major = WM_TRY(f.opt_int<std::int64_t>("major"));
    rule.minor = WM_TRY(f.opt_int<std::int64_t>("minor"));
    rule.access = WM_TRY(f.string_or("access"));
    for (char c : rule.access) {
        if (c != 'r' && c != 'w' && c != 'm')
            return field_error(f.at("access"), "must be made of \"r\", \"w\" and \"m\", not \"" +
                                                   rule.access + "\"");
    }
    return rule;
}

Result<Memory> parse_memory(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Memory m;
    m.limit = WM_TRY(f.opt_int<std::int64_t>("limit"));
    m.reservation = WM_TRY(f.opt_int<std::int64_t>("reservation"));
    m.swap = WM_TRY(f.opt_int<std::int64_t>("swap"));
    m.kernel = WM_TRY(f.opt_int<std::int64_t>("kernel"));
    m.kernel_tcp = WM_TRY(f.opt_int<std::int64_t>("kernelTCP"));
    m.swappiness = WM_TRY(f.opt_int<std::uint64_t>("swappiness"));
    m.disable_oom_killer = WM_TRY(f.opt_bool("disableOOMKiller"));
    m.use_hierarchy = WM_TRY(f.opt_bool("useHierarchy"));
    m.check_before_update = WM_TRY(f.opt_bool("checkBeforeUpdate"));
    for (auto* v : {&m.limit, &m.reservation, &m.swap, &m.kernel, &m.kernel_tcp})
        zero_is_unset(*v);
    WM_CHECK(check_limit(f, "limit", m.limit));
    WM_CHECK(check_limit(f, "reservation", m.reservation));
    WM_CHECK(check_limit(f, "swap", m.swap));
    if (m.swappiness && *m.swappiness > 100)
        return field_error(f.at("swappiness"), "must be 0 to 100");
    if (m.limit && m.swap && *m.limit > 0 && *m.swap > 0 && *m.swap < *m.limit)
        return field_error(f.at("swap"), "memory+swap must not be below the memory limit (" +
                                             std::to_string(*m.limit) + ")");
    return m;
}

// A uint64 in the schema held in an int64 in the model; larger values cannot be applied anyway.
Result<std::optional<std::int64_t>> opt_non_negative(const Fields& f, std::string_view key) {
    auto v = WM_TRY(f.opt_int<std::int64_t>(key));
    if (v && *v < 0) return field_error(f.at(key), "must not be negative");
    return v;
}

Result<Cpu> parse_cpu(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Cpu c;
    c.shares = WM_TRY(f.opt_int<std::uint64_t>("shares"));
    c.quota = WM_TRY(f.opt_int<std::int64_t>("quota"));
    c.burst = WM_TRY(opt_non_negative(f, "burst"));
    c.period = WM_TRY(f.opt_int<std::uint64_t>("period"));
    c.realtime_runtime = WM_TRY(f.opt_int<std::int64_t>("realtimeRuntime"));
    c.realtime_period = WM_TRY(f.opt_int<std::uint64_t>("realtimePeriod"));
    c.cpus = WM_TRY(f.string_or("cpus"));
    c.mems = WM_TRY(f.string_or("mems"));
    c.idle = WM_TRY(f.opt_int<std::int64_t>("idle"));
    zero_is_unset(c.shares);
    zero_is_unset(c.quota);
    zero_is_unset(c.period);
    zero_is_unset(c.realtime_runtime);
    zero_is_unset(c.realtime_period);
    // The kernel's bounds (v1 cpu.cfs_*_us and v2 cpu.max alike): a period of 1 ms to 1 s, a
    // quota of at least 1 ms or -1 (no limit).
    if (c.quota && *c.quota != -1 && *c.quota < 1000)
        return field_error(f.at("quota"), "must be -1 (no limit) or at least 1000 (us)");
    if (c.period && (*c.period < 1000 || *c.period > 1000000))
        return field_error(f.at("period"), "must be 1000 to 1000000 (us)");
    // config-linux.md: a positive quota MUST be no smaller than burst (runtimes MAY error).
    if (c.burst && c.quota && *c.quota > 0 && *c.burst > *c.quota)
        return field_error(f.at("burst"),
                           "must not be larger than quota (" + std::to_string(*c.quota) + ")");
    return c;
}

Result<Pids> parse_pids(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    // The JSON schema still lists `limit` as required, but config-linux.md made it OPTIONAL
    // (absent: leave pids.max alone); we follow the prose.
    // 0 leaves pids.max alone, as in runc; a negative limit is "max".
    Pids p{WM_TRY(f.opt_int<std::int64_t>("limit"))};
    zero_is_unset(p.limit);
    return p;
}

Result<WeightDevice> parse_weight_device(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    WeightDevice d;
    d.major = WM_TRY(f.req_int<std::int64_t>("major"));
    d.minor = WM_TRY(f.req_int<std::int64_t>("minor"));
    d.weight = WM_TRY(f.opt_int<std::uint16_t>("weight"));
    d.leaf_weight = WM_TRY(f.opt_int<std::uint16_t>("leafWeight"));
    if (!d.weight && !d.leaf_weight)
        return field_error(path, "must have at least one of weight and leafWeight");
    return d;
}

Result<ThrottleDevice> parse_throttle_device(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    ThrottleDevice d;
    d.major = WM_TRY(f.req_int<std::int64_t>("major"));
    d.minor = WM_TRY(f.req_int<std::int64_t>("minor"));
    d.rate = WM_TRY(f.req_int<std::uint64_t>("rate"));
    return d;
}

Result<std::vector<ThrottleDevice>> parse_throttles(const Fields& f, std::string_view key) {
    std::vector<ThrottleDevice> out;
    WM_CHECK(f.each(key, [&](const Json& e, const std::string& p) -> Result<> {
        out.push_back(WM_TRY(parse_throttle_device(e, p)));
        return {};
    }));
    return out;
}

Result<BlockIo> parse_block_io(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    BlockIo b;
    b.weight = WM_TRY(f.opt_int<std::uint16_t>("weight"));
    b.leaf_weight = WM_TRY(f.opt_int<std::uint16_t>("leafWeight"));
    zero_is_unset(b.weight);
    zero_is_unset(b.leaf_weight);
    WM_CHECK(f.each("weightDevice", [&](const Json& e, const std::string& p) -> Result<> {
        b.weight_devices.push_back(WM_TRY(parse_weight_device(e, p)));
        return {};
    }));
    b.throttle_read_bps = WM_TRY(parse_throttles(f, "throttleReadBpsDevice"));
    b.throttle_write_bps = WM_TRY(parse_throttles(f, "throttleWriteBpsDevice"));
    b.throttle_read_iops = WM_TRY(parse_throttles(f, "throttleReadIOPSDevice"));
    b.throttle_write_iops = WM_TRY(parse_throttles(f, "throttleWriteIOPSDevice"));
    return b;
}

// "2MB", "1GB", "64KB": digits without a leading zero, then K, M or G, then B.
bool valid_page_size(const std::string& s) {
    if (s.size() < 3 || s[0] < '1' || s[0] > '9' || s.back() != 'B') return false;
    char unit = s[s.size() - 2];
    if (unit != 'K' && unit != 'M' && unit != 'G') return false;
    return std::all_of(s.begin(), s.end() - 2, [](char c) { return c >= '0' && c <= '9'; });
}

Result<HugepageLimit> parse_hugepage_limit(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    HugepageLimit h;
    h.page_size = WM_TRY(f.req_string("pageSize"));
    if (!valid_page_size(h.page_size))
        return field_error(f.at("pageSize"),
                           "must be a size like \"2MB\" or \"1GB\", not \"" + h.page_size + "\"");
    h.limit = WM_TRY(f.req_int<std::uint64_t>("limit"));
    return h;
}

Result<Network> parse_network(const Json& v, const std::string& path) {
    auto f = WM_TRY(Fields::of(v, path));
    Network n;
    n.class_id = WM_TRY(f.opt_int<std::uint32_t>("classID"));
    WM_CHECK(f.each("priorities", [&](const Json& e, const std::string& p) -> Result<> {
        auto pf = WM_TRY(Fields::of(e, p));
        NetworkPriority prio;
        prio.name = WM_TRY(pf.req_string("name"));
        prio.priority = WM_TRY(pf.req_int<std::uint32_t>("priority"));
        n.priorities.push_back(std::move(prio));
        return {};
    }));
    return n;
}

Result<std::map<std::string, Rdma>> parse_rdma(const Json& v, const std::string& path) {
    WM_CHECK(expect_object(v, path));
    std::map<std::string, Rdma> out;
    for (auto it = v.begin(); it != v.end(); ++it) {
        auto f = WM_TRY(Fields::of(it.value(), member_path(path, it.key())));
        Rdma r;
        r.hca_handles = WM_TRY(f.opt_int<std::uint32_t>("hcaHandles"));
        r.hca_objects = WM_TRY(f.opt_int<std::uint32_t>("hcaObjects"));
        if (!r.hca_handles && !r.hca_objects)
            return field_error(f.path(), "must have at least one of hcaHandles and hcaObjects");
        out.emplace(it.key(), r);
    }
    return out;
}

}  // namespace

Result<Resources> parse_resources(const Json& doc, const std::string& field) {
    auto f = WM_TRY(Fields::of(doc, field));
    Resources r;
    WM_CHECK(f.each("devices", [&](const Json& e, const std::string& p) -> Result<> {
        r.devices.push_back(WM_TRY(parse_device_rule(e, p)));
        return {};
    }));
    if (auto* v = f.get("memory")) r.memory = WM_TRY(parse_memory(*v, f.at("memory")));
    if (auto* v = f.get("cpu")) r.cpu = WM_TRY(parse_cpu(*v, f.at("cpu")));
    if (auto* v = f.get("pids")) r.pids = WM_TRY(parse_pids(*v, f.at("pids")));
    if (auto* v = f.get("blockIO")) r.block_io = WM_TRY(parse_block_io(*v, f.at("blockIO")));
    WM_CHECK(f.each("hugepageLimits", [&](const Json& e, const std::string& p) -> Result<> {
        r.hugepage_limits.push_back(WM_TRY(parse_hugepage_limit(e, p)));
        return {};
    }));
    if (auto* v = f.get("network")) r.network = WM_TRY(parse_network(*v, f.at("network")));
    if (auto* v = f.get("rdma")) r.rdma = WM_TRY(parse_rdma(*v, f.at("rdma")));
    r.unified = WM_TRY(f.string_map("unified"));
    return r;
}

}  // namespace wmrun::cgroups
