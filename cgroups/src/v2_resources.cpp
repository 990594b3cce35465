// linux.resources -> cgroup v2 files (Documentation/admin-guide/cgroup-v2.rst).
#include <fcntl.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "bpf_attach.hpp"
#include "bpf_device_filter.hpp"
#include "cgroup_dir.hpp"
#include "convert.hpp"
#include "drivers.hpp"
#include "write_journal.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"

namespace wmrun::cgroups::detail {

namespace {

class Writer {
  public:
    Writer(const std::string& dir, const std::set<std::string>& controllers, WriteJournal& journal)
        : dir_(dir), controllers_(controllers), journal_(journal) {}

    Result<> need(const std::string& controller) const {
        if (controllers_.contains(controller)) return {};
        return fail(controller, dir_, "controller is not available to this cgroup", ENODEV);
    }
    Result<> write(const std::string& file, const std::string& value) const {
        return journal_.write(dir_, file, value);
    }
    std::optional<std::string> read(const std::string& file) const {
        auto v = read_value(dir_, file);
        return v ? std::optional<std::string>(*v) : std::nullopt;
    }
    bool has(const std::string& file) const { return has_file(dir_, file); }
    const std::string& dir() const { return dir_; }

  private:
    const std::string& dir_;
    const std::set<std::string>& controllers_;
    WriteJournal& journal_;
};

Result<> apply_memory(const Writer& w, const Memory& m) {
    if (m.kernel || m.kernel_tcp) log::debug("cgroup v2 has no separate kernel memory limits");
    if (m.swappiness || m.disable_oom_killer)
        log::debug("memory.swappiness and oom_kill_disable do not exist on cgroup v2; skipped");
    auto swap = WM_TRY(swap_max_v2(m));
    if (!m.limit && !m.reservation && !swap) return {};
    WM_CHECK(w.need("memory"));
    // Swap first: memory.max may be lowered below the old swap figure and not the reverse.
    if (swap) {
        if (w.has("memory.swap.max"))
            WM_CHECK(w.write("memory.swap.max", *swap));
        else if (*swap != "max")
            return fail("memory.swap", w.dir(), "swap accounting is not enabled", ENOENT);
    }
    if (m.limit) WM_CHECK(w.write("memory.max", limit_v2(*m.limit)));
    if (m.reservation) WM_CHECK(w.write("memory.low", limit_v2(*m.reservation)));
    return {};
}

Result<> apply_cpu(const Writer& w, const Cpu& c) {
    if ((c.realtime_runtime && *c.realtime_runtime != 0) ||
        (c.realtime_period && *c.realtime_period != 0))
        return fail("cpu.realtime", w.dir(), "realtime scheduling is not supported on cgroup v2");
    if (c.shares && *c.shares != 0) {
        WM_CHECK(w.need("cpu"));
        WM_CHECK(w.write("cpu.weight", std::to_string(shares_to_weight(*c.shares))));
    }
    auto max = cpu_max_v2(c);
    if (max && !c.quota) {
        // A period alone keeps the quota in place, as on v1 (cpu.max takes both at once).
        WM_CHECK(w.need("cpu"));
        auto current = w.read("cpu.max").value_or("max");
        *max = current.substr(0, current.find(' ')) + max->substr(max->find(' '));
    }
    if (max) {
        WM_CHECK(w.need("cpu"));
        WM_CHECK(w.write("cpu.max", *max));
    }
    if (c.burst) {
        WM_CHECK(w.need("cpu"));
        WM_CHECK(w.write("cpu.max.burst", std::to_string(*c.burst)));
    }
    if (c.idle) {
        WM_CHECK(w.need("cpu"));
        WM_CHECK(w.write("cpu.idle", std::to_string(*c.idle)));
    }
    if (!c.cpus.empty() || !c.mems.empty()) WM_CHECK(w.need("cpuset"));
    if (!c.cpus.empty()) WM_CHECK(w.write("cpuset.cpus", c.cpus));
    if (!c.mems.empty()) WM_CHECK(w.write("cpuset.mems", c.mems));
    return {};
}

std::string devno(std::int64_t major, std::int64_t minor) {
    return std::to_string(major) + ":" + std::to_string(minor);
}

Result<> apply_io(const Writer& w, const BlockIo& b) {
    bool any = b.weight || !b.weight_devices.empty() || !b.throttle_read_bps.empty() ||
               !b.throttle_write_bps.empty() || !b.throttle_read_iops.empty() ||
               !b.throttle_write_iops.empty();
    if (!any) return {};
    WM_CHECK(w.need("io"));
    // BFQ takes the v1 weight range as is; io.weight needs it scaled.
    bool bfq = w.has("io.bfq.weight");
    auto weight_value = [&](std::uint64_t v) {
        return std::to_string(bfq ? v : blkio_weight_to_io_weight(v));
    };
    const char* weight_file = bfq ? "io.bfq.weight" : "io.weight";
    if (b.weight && *b.weight != 0) WM_CHECK(w.write(weight_file, weight_value(*b.weight)));
    for (const auto& d : b.weight_devices)
        if (d.weight)
            WM_CHECK(w.write(weight_file, devno(d.major, d.minor) + " " + weight_value(*d.weight)));
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* key) -> Result<> {
        for (const auto& t : list) {
            // 0 removes a v1 throttle; v2 spells that "max" (and refuses 0).
            std::string rate = t.rate == 0 ? "max" : std::to_string(t.rate);
            WM_CHECK(w.write("io.max", devno(t.major, t.minor) + " " + key + "=" + rate));
        }
        return {};
    };
    WM_CHECK(throttle(b.throttle_read_bps, "rbps"));
    WM_CHECK(throttle(b.throttle_write_bps, "wbps"));
    WM_CHECK(throttle(b.throttle_read_iops, "riops"));
    WM_CHECK(throttle(b.throttle_write_iops, "wiops"));
    return {};
}

Result<> apply_rdma(const Writer& w, const std::map<std::string, Rdma>& rdma) {
    if (rdma.empty()) return {};
    WM_CHECK(w.need("rdma"));
    for (const auto& [device, limit] : rdma) {
        std::string line = device;
        if (limit.hca_handles) line += " hca_handle=" + std::to_string(*limit.hca_handles);
        if (limit.hca_objects) line += " hca_object=" + std::to_string(*limit.hca_objects);
        WM_CHECK(w.write("rdma.max", line));
    }
    return {};
}

// Root of the initial user namespace: the only one that may load device programs (CAP_BPF
// counts in the initial namespace alone).
bool may_load_bpf() {
    if (::geteuid() != 0) return false;
    auto map = read_file("/proc/self/uid_map");
    if (!map) return true;
    std::istringstream in(*map);
    std::uint64_t inside = 1, outside = 1, count = 0;
    in >> inside >> outside >> count;
    return inside == 0 && outside == 0 && count == 4294967295u;
}

Result<> apply_devices(const std::string& dir, const std::vector<DeviceRule>& rules) {
    auto program = build_device_filter(rules);
    if (!program) return std::unexpected(with_context(program.error(), "devices"));
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open", dir);
    auto r = replace_device_filter(fd.get(), dir, *program);
    // A rootless container goes without the device filter, as in runc: its /dev holds only
    // bind mounts of the host's nodes, which the user could open anyway.
    if (!r && r.error().err == EPERM && !may_load_bpf()) {
        log::debug("rootless: no device filter: " + r.error().message());
        return {};
    }
    return r;
}

}  // namespace

Result<> apply_hugetlb_v2(WriteJournal& journal, const std::string& dir,
                         const std::vector<HugepageLimit>& limits) {
    for (const auto& h : limits) {
        std::string file = "hugetlb." + h.page_size + ".max";
        if (!has_file(dir, file))
            return fail("hugetlb", dir + "/" + file, "page size not supported", ENOENT);
        WM_CHECK(journal.write(dir, file, std::to_string(h.limit)));
    }
    return {};
}

Result<> apply_v2(const std::string& dir, const std::set<std::string>& controllers,
                  const Resources& r) {
    // Each file's old value is read before it is written, and all of them are put back when
    // one write fails (the journal's destructor), so the limits change whole or not at all.
    WriteJournal journal;
    Writer w(dir, controllers, journal);
    for (const auto& [key, value] : r.unified)
        WM_CHECK(check_unified_key(key, controllers));
    if (r.network && (r.network->class_id || !r.network->priorities.empty()))
        return fail("network", dir, "net_cls and net_prio exist only on cgroup v1", ENOTSUP);
    if (r.memory) WM_CHECK(apply_memory(w, *r.memory));
    if (r.cpu) WM_CHECK(apply_cpu(w, *r.cpu));
    if (r.pids && r.pids->limit && *r.pids->limit != 0) {
        WM_CHECK(w.need("pids"));
        WM_CHECK(w.write("pids.max", limit_v2(*r.pids->limit)));
    }
    if (r.block_io) WM_CHECK(apply_io(w, *r.block_io));
    if (!r.hugepage_limits.empty()) {
        WM_CHECK(w.need("hugetlb"));
        WM_CHECK(apply_hugetlb_v2(journal, dir, r.hugepage_limits));
    }
    WM_CHECK(apply_rdma(w, r.rdma));
    // After the converted values, so that explicit file values win over them.
    for (const auto& [key, value] : r.unified) {
        if (!w.has(key)) return fail("linux.resources.unified", dir + "/" + key, "no such file");
        WM_CHECK(w.write(key, value));
    }
    // Last: the device program is swapped in one step and cannot be read back, so nothing
    // that could still fail comes after it.
    if (!r.devices.empty()) WM_CHECK(apply_devices(dir, r.devices));
    journal.commit();
    return {};
}

}  // namespace wmrun::cgroups::detail
