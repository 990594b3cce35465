// events: a container's cgroup statistics in runc's types.Stats layout, once or as a stream
// with OOM notices, as runc's `events`.
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include "lifecycle/cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/cgroups/stats.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

namespace {

// Go's omitempty, which runc's types use for most figures: a zero is left out.
void put_nonzero(OrderedJson& j, const char* key, std::uint64_t v) {
    if (v != 0) j[key] = v;
}

// runc reports an unlimited limit as the largest value rather than 0.
std::uint64_t limit_value(std::uint64_t limit) {
    return limit == 0 ? std::numeric_limits<std::uint64_t>::max() : limit;
}

OrderedJson memory_entry(std::uint64_t limit, std::uint64_t usage, std::uint64_t max,
                         std::uint64_t failcnt = 0) {
    OrderedJson e = OrderedJson::object();
    e["limit"] = limit_value(limit);
    put_nonzero(e, "usage", usage);
    put_nonzero(e, "max", max);
    e["failcnt"] = failcnt;
    return e;
}

OrderedJson pressure_json(const cgroups::Pressure& p) {
    auto line = [](const cgroups::PressureLine& l) {
        return OrderedJson{
            {"avg10", l.avg10}, {"avg60", l.avg60}, {"avg300", l.avg300}, {"total", l.total_us}};
    };
    return OrderedJson{{"some", line(p.some)}, {"full", line(p.full)}};
}

OrderedJson cpu_json(const cgroups::Stats& s) {
    OrderedJson usage = OrderedJson::object();
    put_nonzero(usage, "total", s.cpu.usage_ns);
    usage["kernel"] = s.cpu.system_ns;
    usage["user"] = s.cpu.user_ns;
    OrderedJson throttling = OrderedJson::object();
    put_nonzero(throttling, "periods", s.cpu.periods);
    put_nonzero(throttling, "throttledPeriods", s.cpu.throttled_periods);
    put_nonzero(throttling, "throttledTime", s.cpu.throttled_ns);
    OrderedJson cpu{{"usage", usage}, {"throttling", throttling}};
    if (s.cpu_pressure) cpu["psi"] = pressure_json(*s.cpu_pressure);
    return cpu;
}

OrderedJson memory_json(const cgroups::MemoryStats& m,
                        const std::optional<cgroups::Pressure>& psi) {
    OrderedJson mem = OrderedJson::object();
    put_nonzero(mem, "cache", m.cache);
    mem["usage"] = memory_entry(m.limit, m.usage, m.peak, m.failcnt);
    // runc's swap entry counts memory plus swap, as v1's memsw files do.
    std::uint64_t swap_limit = m.limit != 0 && m.swap_limit != 0 ? m.limit + m.swap_limit : 0;
    mem["swap"] = memory_entry(swap_limit, m.usage + m.swap_usage, 0);
    if (!m.raw.empty()) {
        OrderedJson raw = OrderedJson::object();
        for (const auto& [k, v] : m.raw)
            raw[k] = v;
        mem["raw"] = raw;
    }
    if (psi) mem["psi"] = pressure_json(*psi);
    return mem;
}

OrderedJson blkio_json(const cgroups::Stats& s) {
    OrderedJson bytes = OrderedJson::array(), ios = OrderedJson::array();
    auto entry = [](const cgroups::IoDeviceStats& d, const char* op, std::uint64_t v) {
        OrderedJson e = OrderedJson::object();
        put_nonzero(e, "major", static_cast<std::uint64_t>(d.major));
        put_nonzero(e, "minor", static_cast<std::uint64_t>(d.minor));
        e["op"] = op;
        put_nonzero(e, "value", v);
        return e;
    };
    for (const auto& d : s.io) {
        bytes.push_back(entry(d, "Read", d.read_bytes));
        bytes.push_back(entry(d, "Write", d.write_bytes));
        bytes.push_back(entry(d, "Total", d.read_bytes + d.write_bytes));
        ios.push_back(entry(d, "Read", d.read_ios));
        ios.push_back(entry(d, "Write", d.write_ios));
        ios.push_back(entry(d, "Total", d.read_ios + d.write_ios));
    }
    OrderedJson blkio = OrderedJson::object();
    if (!bytes.empty()) blkio["ioServiceBytesRecursive"] = bytes;
    if (!ios.empty()) blkio["ioServicedRecursive"] = ios;
    if (s.io_pressure) blkio["psi"] = pressure_json(*s.io_pressure);
    return blkio;
}

OrderedJson stats_json(const cgroups::Stats& s) {
    OrderedJson pids = OrderedJson::object();
    put_nonzero(pids, "current", s.pids.current);
    put_nonzero(pids, "limit", s.pids.limit);
    OrderedJson hugetlb = OrderedJson::object();
    for (const auto& [size, h] : s.hugetlb) {
        OrderedJson e = OrderedJson::object();
        put_nonzero(e, "usage", h.usage);
        e["failcnt"] = h.failcnt;
        hugetlb[size] = e;
    }
    return OrderedJson{{"cpu", cpu_json(s)},
                       {"memory", memory_json(s.memory, s.memory_pressure)},
                       {"pids", pids},
                       {"blkio", blkio_json(s)},
                       {"hugetlb", hugetlb}};
}

OrderedJson event(const char* type, const std::string& id) {
    return OrderedJson{{"type", type}, {"id", id}};
}

// The saved state and cgroup of a container that is not stopped; the lock is released on return
// so that a long `events` does not hold up other commands.
struct Watched {
    ContainerState state;
    CgroupHandle cgroup;
};

Result<Watched> watched(const StateStore& store, const std::string& id) {
    auto lock = WM_TRY(store.lock(id));
    Watched w{WM_TRY(store.load(id)), {}};
    Status status = current_status(store, w.state);
    if (status == Status::stopped) return fail("check container", id, "container is stopped");
    w.cgroup = CgroupHandle::load(w.state);
    if (!w.cgroup.valid()) return fail("check container", id, "container has no cgroup", ENOTSUP);
    return w;
}

std::uint64_t oom_count(const cgroups::Stats& s) {
    // v2 counts both "oom" (limit hit) and "oom_kill"; v1's oom_control has only oom_kill.
    return std::max(s.memory.oom, s.memory.oom_kill);
}

}  // namespace

Result<OrderedJson> container_stats(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto w = WM_TRY(watched(store, id));
    auto stats = WM_TRY(w.cgroup.manager()->stats());
    OrderedJson e = event("stats", id);
    e["data"] = stats_json(stats);
    return e;
}

Result<> watch_events(const GlobalOptions& g, const std::string& id, unsigned interval_ms,
                      const EventSink& emit) {
    using Clock = std::chrono::steady_clock;
    // OOM kills are polled at this pace whatever the stats interval; reading the counters is a
    // handful of small cgroup files.
    constexpr auto kTick = std::chrono::milliseconds(100);
    StateStore store(g.root);
    auto w = WM_TRY(watched(store, id));
    auto* manager = w.cgroup.manager();
    std::uint64_t ooms = oom_count(WM_TRY(manager->stats()));
    auto interval = std::chrono::milliseconds(interval_ms == 0 ? 1 : interval_ms);
    auto next_stats = Clock::now() + interval;
    for (;;) {
        // Liveness is checked before the counters are read, so an OOM kill that ends the
        // container is still reported on the last pass.
        bool stopped = current_status(store, w.state) == Status::stopped;
        auto stats = manager->stats();
        if (!stats) {
            if (stopped || current_status(store, w.state) == Status::stopped) return {};
            return std::unexpected(with_context(stats.error(), "events " + id));
        }
        if (std::uint64_t n = oom_count(*stats); n > ooms) {
            ooms = n;
            if (!emit(event("oom", id))) return {};
        }
        if (stopped) return {};
        if (Clock::now() >= next_stats) {
            OrderedJson e = event("stats", id);
            e["data"] = stats_json(*stats);
            if (!emit(e)) return {};
            next_stats += interval;
            if (next_stats < Clock::now()) next_stats = Clock::now() + interval;
        }
        std::this_thread::sleep_for(std::min<Clock::duration>(kTick, next_stats - Clock::now()));
    }
}

}  // namespace wmrun::runtime
