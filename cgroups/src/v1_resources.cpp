// linux.resources -> cgroup v1 files, in the order runc writes them where order matters.
#include <string>

#include "cgroup_dir.hpp"
#include "convert.hpp"
#include "drivers.hpp"
#include "v1.hpp"
#include "write_journal.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/cgroups/devices.hpp"

namespace wmrun::cgroups::detail {

namespace {

Result<std::string> dir_of(const V1Dirs& dirs, const std::string& controller) {
    auto it = dirs.find(controller);
    if (it == dirs.end())
        return fail(controller, "", "cgroup v1 controller is not mounted", ENODEV);
    return it->second;
}

Result<> apply_memory(WriteJournal& j, const V1Dirs& dirs, const Memory& m) {
    if (m.kernel) log::debug("memory.kernel is deprecated by the kernel; skipped");
    bool any =
        m.limit || m.reservation || m.swap || m.kernel_tcp || m.swappiness || m.disable_oom_killer;
    if (!any) return {};
    auto dir = WM_TRY(dir_of(dirs, "memory"));
    const char* memsw = "memory.memsw.limit_in_bytes";
    // swap_set/swap rather than an optional: g++ 12 misreads the optional as uninitialised.
    bool swap_set = m.swap.has_value();
    std::int64_t swap = m.swap.value_or(0);
    // Unlimited memory without a swap figure means unlimited memory+swap too.
    if (m.limit && *m.limit == -1 && !swap_set && has_file(dir, memsw)) {
        swap_set = true;
        swap = -1;
    }
    if (swap_set && !has_file(dir, memsw)) {
        if (swap != -1)
            return fail("memory.swap", dir, "swap accounting is not enabled (swapaccount=1)",
                        ENOENT);
        swap_set = false;
    }
    auto write_limit = [&]() -> Result<> {
        return m.limit ? j.write(dir, "memory.limit_in_bytes", std::to_string(*m.limit))
                       : Result<>{};
    };
    auto write_swap = [&]() -> Result<> {
        return swap_set ? j.write(dir, memsw, std::to_string(swap)) : Result<>{};
    };
    // memory.limit_in_bytes <= memory.memsw.limit_in_bytes must hold after each write, so
    // raise memsw first when the new memsw exceeds the current memory limit.
    bool swap_first = false;
    if (m.limit && swap_set) {
        auto current = WM_TRY(read_u64(dir, "memory.limit_in_bytes"));
        swap_first = swap == -1 || current < static_cast<std::uint64_t>(swap);
    }
    if (swap_first) {
        WM_CHECK(write_swap());
        WM_CHECK(write_limit());
    } else {
        WM_CHECK(write_limit());
        WM_CHECK(write_swap());
    }
    if (m.reservation)
        WM_CHECK(j.write(dir, "memory.soft_limit_in_bytes", std::to_string(*m.reservation)));
    if (m.kernel_tcp)
        WM_CHECK(j.write(dir, "memory.kmem.tcp.limit_in_bytes", std::to_string(*m.kernel_tcp)));
    if (m.swappiness) {
        if (*m.swappiness > 100)
            return fail("memory.swappiness", std::to_string(*m.swappiness), "must be 0-100");
        WM_CHECK(j.write(dir, "memory.swappiness", std::to_string(*m.swappiness)));
    }
    if (m.disable_oom_killer && *m.disable_oom_killer)
        WM_CHECK(j.write(dir, "memory.oom_control", "1"));
    return {};
}

Result<> apply_cpu(WriteJournal& j, const V1Dirs& dirs, const Cpu& c) {
    bool any = (c.shares && *c.shares) || c.quota || c.period || c.burst || c.realtime_period ||
               c.realtime_runtime || c.idle;
    if (any) {
        auto dir = WM_TRY(dir_of(dirs, "cpu"));
        if (c.shares && *c.shares != 0) {
            WM_CHECK(j.write(dir, "cpu.shares", std::to_string(*c.shares)));
            // The kernel clamps out-of-range shares silently; say so instead.
            auto got = WM_TRY(read_u64(dir, "cpu.shares"));
            if (got != *c.shares)
                return fail(
                    "cpu.shares", dir,
                    "asked " + std::to_string(*c.shares) + ", kernel set " + std::to_string(got));
        }
        // A shorter period can be refused (EINVAL) while the old quota is in place; then the
        // period goes in after the quota.
        bool period_pending = false;
        if (c.period && *c.period != 0) {
            auto r = j.write(dir, "cpu.cfs_period_us", std::to_string(*c.period));
            if (!r && (r.error().err != EINVAL || !c.quota)) return r;
            period_pending = !r;
        }
        if (c.quota) WM_CHECK(j.write(dir, "cpu.cfs_quota_us", std::to_string(*c.quota)));
        if (period_pending)
            WM_CHECK(j.write(dir, "cpu.cfs_period_us", std::to_string(*c.period)));
        if (c.burst) WM_CHECK(j.write(dir, "cpu.cfs_burst_us", std::to_string(*c.burst)));
        if (c.realtime_period && *c.realtime_period != 0)
            WM_CHECK(j.write(dir, "cpu.rt_period_us", std::to_string(*c.realtime_period)));
        if (c.realtime_runtime && *c.realtime_runtime != 0)
            WM_CHECK(j.write(dir, "cpu.rt_runtime_us", std::to_string(*c.realtime_runtime)));
        if (c.idle) WM_CHECK(j.write(dir, "cpu.idle", std::to_string(*c.idle)));
    }
    if (!c.cpus.empty() || !c.mems.empty()) {
        auto dir = WM_TRY(dir_of(dirs, "cpuset"));
        if (!c.cpus.empty()) WM_CHECK(j.write(dir, "cpuset.cpus", c.cpus));
        if (!c.mems.empty()) WM_CHECK(j.write(dir, "cpuset.mems", c.mems));
    }
    return {};
}

std::string devno(std::int64_t major, std::int64_t minor) {
    return std::to_string(major) + ":" + std::to_string(minor);
}

Result<> apply_blkio(WriteJournal& j, const V1Dirs& dirs, const BlockIo& b) {
    bool any = b.weight || b.leaf_weight || !b.weight_devices.empty() ||
               !b.throttle_read_bps.empty() || !b.throttle_write_bps.empty() ||
               !b.throttle_read_iops.empty() || !b.throttle_write_iops.empty();
    if (!any) return {};
    auto dir = WM_TRY(dir_of(dirs, "blkio"));
    // CFQ's blkio.weight is gone from recent kernels; BFQ offers blkio.bfq.weight instead.
    auto weight_file = [&](const char* cfq, const char* bfq) -> Result<std::string> {
        if (has_file(dir, cfq)) return std::string(cfq);
        if (has_file(dir, bfq)) return std::string(bfq);
        return fail(
            "blkio", dir,
            std::string("no ") + cfq + " or " + bfq + " (is the CFQ or BFQ I/O scheduler in use?)",
            ENOENT);
    };
    if (b.weight && *b.weight != 0) {
        auto file = WM_TRY(weight_file("blkio.weight", "blkio.bfq.weight"));
        WM_CHECK(j.write(dir, file, std::to_string(*b.weight)));
    }
    if (b.leaf_weight && *b.leaf_weight != 0)
        WM_CHECK(j.write(dir, "blkio.leaf_weight", std::to_string(*b.leaf_weight)));
    for (const auto& d : b.weight_devices) {
        if (d.weight) {
            auto file = WM_TRY(weight_file("blkio.weight_device", "blkio.bfq.weight_device"));
            WM_CHECK(
                j.write(dir, file, devno(d.major, d.minor) + " " + std::to_string(*d.weight)));
        }
        if (d.leaf_weight)
            WM_CHECK(j.write(dir, "blkio.leaf_weight_device",
                                 devno(d.major, d.minor) + " " + std::to_string(*d.leaf_weight)));
    }
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* file) -> Result<> {
        for (const auto& t : list)
            WM_CHECK(
                j.write(dir, file, devno(t.major, t.minor) + " " + std::to_string(t.rate)));
        return {};
    };
    WM_CHECK(throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device"));
    WM_CHECK(throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device"));
    WM_CHECK(throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device"));
    WM_CHECK(throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device"));
    return {};
}

Result<> apply_hugetlb(WriteJournal& j, const V1Dirs& dirs, const UnifiedDir* unified,
                       const std::vector<HugepageLimit>& limits) {
    if (limits.empty()) return {};
    auto it = dirs.find("hugetlb");
    if (it == dirs.end()) {
        // Hybrid hosts may bind hugetlb to the unified tree instead.
        if (unified && unified->delegate({"hugetlb"}))
            return apply_hugetlb_v2(j, unified->dir(), limits);
        return fail("hugetlb", "", "controller is mounted on neither v1 nor v2", ENODEV);
    }
    for (const auto& h : limits) {
        std::string file = "hugetlb." + h.page_size + ".limit_in_bytes";
        if (!has_file(it->second, file))
            return fail("hugetlb", it->second + "/" + file, "page size not supported", ENOENT);
        WM_CHECK(j.write(it->second, file, std::to_string(h.limit)));
    }
    return {};
}

Result<> apply_devices(WriteJournal& j, const V1Dirs& dirs, const std::vector<DeviceRule>& rules) {
    if (rules.empty()) return {};
    auto it = dirs.find("devices");
    if (it == dirs.end()) {
        if (only_default_device_rules(rules)) {
            log::debug("devices cgroup not mounted; default device rules not enforced");
            return {};
        }
        return fail("devices", "", "cgroup v1 controller is not mounted", ENODEV);
    }
    for (const auto& rule : rules) {
        bool all = rule.type == 'a' && !rule.major && !rule.minor;
        // "a" alone resets the whitelist (deny) or opens it (allow) completely.
        std::string line = all ? "a" : device_rule_v1(rule);
        WM_CHECK(j.write(it->second, rule.allow ? "devices.allow" : "devices.deny", line));
    }
    return {};
}

Result<> apply_network(WriteJournal& j, const V1Dirs& dirs, const Network& n) {
    if (n.class_id) {
        auto dir = WM_TRY(dir_of(dirs, "net_cls"));
        WM_CHECK(j.write(dir, "net_cls.classid", std::to_string(*n.class_id)));
    }
    if (!n.priorities.empty()) {
        auto dir = WM_TRY(dir_of(dirs, "net_prio"));
        for (const auto& p : n.priorities)
            WM_CHECK(
                j.write(dir, "net_prio.ifpriomap", p.name + " " + std::to_string(p.priority)));
    }
    return {};
}

Result<> apply_rdma(WriteJournal& j, const V1Dirs& dirs, const std::map<std::string, Rdma>& rdma) {
    if (rdma.empty()) return {};
    auto dir = WM_TRY(dir_of(dirs, "rdma"));
    for (const auto& [device, limit] : rdma) {
        std::string line = device;
        if (limit.hca_handles) line += " hca_handle=" + std::to_string(*limit.hca_handles);
        if (limit.hca_objects) line += " hca_object=" + std::to_string(*limit.hca_objects);
        WM_CHECK(j.write(dir, "rdma.max", line));
    }
    return {};
}

Result<> apply_unified(WriteJournal& j, const UnifiedDir* unified, const std::map<std::string, std::string>& keys) {
    if (keys.empty()) return {};
    if (!unified)
        return fail("linux.resources.unified", "", "needs a cgroup v2 hierarchy", ENOTSUP);
    auto controllers = unified->controllers();
    for (const auto& [key, value] : keys)
        WM_CHECK(check_unified_key(key, controllers));
    for (const auto& [key, value] : keys) {
        if (!has_file(unified->dir(), key))
            return fail("linux.resources.unified", unified->dir() + "/" + key, "no such file");
        WM_CHECK(j.write(unified->dir(), key, value));
    }
    return {};
}

}  // namespace

Result<> apply_v1(const V1Dirs& dirs, const UnifiedDir* unified, const Resources& r) {
    // Each file's old value is read before it is written, and all of them are put back when
    // one write fails (the journal's destructor), so the limits change whole or not at all.
    WriteJournal j;
    WM_CHECK(apply_devices(j, dirs, r.devices));
    if (r.memory) WM_CHECK(apply_memory(j, dirs, *r.memory));
    if (r.cpu) WM_CHECK(apply_cpu(j, dirs, *r.cpu));
    if (r.pids && r.pids->limit && *r.pids->limit != 0) {
        auto dir = WM_TRY(dir_of(dirs, "pids"));
        WM_CHECK(j.write(dir, "pids.max", limit_v2(*r.pids->limit)));
    }
    if (r.block_io) WM_CHECK(apply_blkio(j, dirs, *r.block_io));
    WM_CHECK(apply_hugetlb(j, dirs, unified, r.hugepage_limits));
    if (r.network) WM_CHECK(apply_network(j, dirs, *r.network));
    WM_CHECK(apply_rdma(j, dirs, r.rdma));
    WM_CHECK(apply_unified(j, unified, r.unified));
    j.commit();
    return {};
}

}  // namespace wmrun::cgroups::detail
