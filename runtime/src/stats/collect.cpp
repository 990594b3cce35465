// stats: every container's state and cgroup figures, read without locks and without waking a
// hibernated container (wmrun/runtime/stats.hpp).
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "lifecycle/cgroup_setup.hpp"
#include "wmrun/cgroups/manager.hpp"
#include "wmrun/runtime/stats.hpp"

namespace wmrun::runtime {

namespace {

// Readers for collect_stats, and the fewest containers worth a thread of its own.
constexpr std::size_t kMaxReaders = 8, kPerReader = 64;

std::uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// The init's start time is in clock ticks since boot (/proc/PID/stat), which CLOCK_BOOTTIME
// counts from as well.
double uptime_seconds(const ContainerState& s) {
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double since_boot = static_cast<double>(clock_ns(CLOCK_BOOTTIME)) / 1e9;
    return std::max(0.0, since_boot - static_cast<double>(s.start_time) / ticks_per_second);
}

double seconds_since_unix_ms(std::int64_t ms) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    return std::max<std::int64_t>(0, now - ms) / 1000.0;
}

// One container's figures, or nullopt when it was deleted meanwhile.
Result<std::optional<ContainerStats>> read_one(const StateStore& store,
                                               const StateStore::Reader& reader,
                                               const std::string& id, bool named) {
    auto state = reader.load(id);
    if (!state) {
        if (state.error().err == ENOENT && !named) return std::nullopt;
        return std::unexpected(state.error());
    }
    Status status = current_status(store, *state);
    ContainerStats out;
    out.id = id;
    out.image = state->image;
    out.state = display_status(*state, status);
    out.created = state->created;
    out.wakes = state->wakes;
    if (status == Status::stopped) return out;
    out.uptime_seconds = uptime_seconds(*state);
    if (status == Status::paused && state->hibernated && state->hibernated_at_ms != 0)
        out.hibernated_seconds = seconds_since_unix_ms(state->hibernated_at_ms);
    auto cgroup = CgroupHandle::load(*state);
    if (!cgroup.valid()) return out;
    // A container whose init exits while it is read loses its cgroup: it shows without figures.
    if (auto figures = cgroup.manager()->stats()) {
        out.read_at_ns = clock_ns(CLOCK_MONOTONIC);
        out.cgroup = std::move(*figures);
        // Of memory.stat's few dozen entries only what the working set needs is kept: a
        // thousand containers' maps were a few MiB of the server's resident size.
        std::erase_if(out.cgroup->memory.raw,
                      [](const auto& kv) { return !kv.first.ends_with("inactive_file"); });
    }
    return out;
}

bool frozen_or_stopped(const ContainerStats& s) {
    return s.state == "paused" || s.state == "hibernated" || !s.cgroup;
}

}  // namespace

std::uint64_t working_set_bytes(const cgroups::MemoryStats& m) {
    // v2 names it inactive_file; v1 total_inactive_file (with child cgroups) and inactive_file.
    std::uint64_t inactive = 0;
    for (const char* key : {"inactive_file", "total_inactive_file"}) {
        if (auto it = m.raw.find(key); it != m.raw.end()) inactive = it->second;
    }
    return m.usage > inactive ? m.usage - inactive : 0;
}

double cpu_percent(std::uint64_t usage_before_ns, std::uint64_t at_before_ns,
                   std::uint64_t usage_after_ns, std::uint64_t at_after_ns) {
    if (at_after_ns <= at_before_ns || usage_after_ns < usage_before_ns) return 0;
    return 100.0 * static_cast<double>(usage_after_ns - usage_before_ns) /
           static_cast<double>(at_after_ns - at_before_ns);
}

Result<std::vector<ContainerStats>> collect_stats(const GlobalOptions& g,
                                                  const std::vector<std::string>& ids) {
    StateStore store(g.root);
    std::vector<std::string> wanted = ids;
    if (wanted.empty()) wanted = WM_TRY(store.list());
    for (const auto& id : ids)
        WM_CHECK(validate_id(id));
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    if (wanted.empty()) return std::vector<ContainerStats>{};
    auto states = store.reader();
    if (!states) {
        // No state root: load says so as it does for any missing container.
        if (auto state = store.load(wanted.front()); !state) return std::unexpected(state.error());
        return std::unexpected(states.error());
    }
    // Each container costs a few dozen small reads of /proc and cgroupfs, mostly system time
    // that spreads over the CPUs: one reader per CPU, up to kMaxReaders.
    std::vector<Result<std::optional<ContainerStats>>> read(wanted.size());
    std::atomic<std::size_t> next{0};
    auto reader = [&] {
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < wanted.size();)
            read[i] = read_one(store, *states, wanted[i], !ids.empty());
    };
    std::size_t readers = std::min<std::size_t>(
        {std::max(1u, std::thread::hardware_concurrency()), kMaxReaders,
         (wanted.size() + kPerReader - 1) / kPerReader});
    {
        std::vector<std::jthread> others;
        for (std::size_t i = 1; i < readers; ++i)
            others.emplace_back(reader);
        reader();
    }
    std::vector<ContainerStats> out;
    out.reserve(wanted.size());
    for (auto& one : read) {
        if (!one) return std::unexpected(std::move(one).error());
        if (*one) out.push_back(std::move(**one));
    }
    return out;
}

void StatsSampler::fill_cpu_percent(std::vector<ContainerStats>& stats) {
    std::map<std::string, CpuReading> now;
    for (auto& s : stats) {
        if (!s.cgroup) continue;
        CpuReading r{s.cgroup->cpu.usage_ns, s.read_at_ns};
        if (auto it = previous_.find(s.id); it != previous_.end()) {
            s.cpu_percent = cpu_percent(it->second.usage_ns, it->second.at_ns, r.usage_ns, r.at_ns);
        } else if (frozen_or_stopped(s)) {
            s.cpu_percent = 0.0;
        }
        now[s.id] = r;
    }
    previous_ = std::move(now);
}

Result<std::vector<ContainerStats>> StatsSampler::next() {
    auto stats = WM_TRY(collect_stats(g_, ids_));
    fill_cpu_percent(stats);
    return stats;
}

Result<std::vector<ContainerStats>> StatsSampler::once(unsigned interval_ms) {
    auto first = WM_TRY(next());
    std::vector<std::string> running;
    for (const auto& s : first)
        if (!s.cpu_percent) running.push_back(s.id);
    if (running.empty()) return first;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    StatsSampler again(g_, running);
    again.previous_ = previous_;
    auto second = collect_stats(g_, running);
    // A container deleted meanwhile keeps its first reading, without CPU %.
    if (!second) return first;
    again.fill_cpu_percent(*second);
    for (auto& s : first) {
        auto it = std::find_if(second->begin(), second->end(),
                               [&](const ContainerStats& r) { return r.id == s.id; });
        if (it != second->end()) s = std::move(*it);
    }
    for (auto& [id, reading] : again.previous_)
        previous_[id] = reading;
    return first;
}

}  // namespace wmrun::runtime
