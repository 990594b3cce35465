// What `wmrun stats` reports of each container under a state root: its state, its cgroup's
// figures and its hibernation record. Read without taking a container's lock (a long command on
// one container holds up no one's view of the others) and without thawing anything: a
// hibernated container's cgroup files are read as they are, frozen.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/cgroups/stats.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

struct ContainerStats {
    std::string id;
    std::string image;  // the --image name; empty for a container made from a bundle
    std::string state;  // display_status(): created running paused hibernated stopped
    std::string created;  // RFC 3339, as `state` prints it
    // The cgroup's figures; nullopt when the container is stopped or has no cgroup to read.
    std::optional<cgroups::Stats> cgroup;
    // CPU use since the previous reading of this container, in percent of one CPU (200: two
    // CPUs busy); nullopt when there was no previous reading to compare with.
    std::optional<double> cpu_percent;
    double uptime_seconds = 0;      // since its init started; 0 when stopped
    double hibernated_seconds = 0;  // since it was hibernated; 0 when not hibernated
    WakeRecord wakes;
    std::uint64_t read_at_ns = 0;  // CLOCK_MONOTONIC when the cgroup was read
};

// cAdvisor's working set: usage less the inactive file pages, which the kernel reclaims first.
std::uint64_t working_set_bytes(const cgroups::MemoryStats& memory);

// Reads the containers named in `ids` (all of them when empty), sorted by id. A named
// container that does not exist is an error; one deleted while the others are read is left out.
Result<std::vector<ContainerStats>> collect_stats(const GlobalOptions& g,
                                                  const std::vector<std::string>& ids);

// Successive readings with CPU % between each and the one before, as a refreshing table or a
// dashboard wants them.
class StatsSampler {
  public:
    StatsSampler(GlobalOptions g, std::vector<std::string> ids)
        : g_(std::move(g)), ids_(std::move(ids)) {}

    // The first call gives CPU % only for frozen containers (0: a frozen cgroup runs nothing).
    Result<std::vector<ContainerStats>> next();

    // One reading with CPU % for every container: a container that runs is read a second time
    // after `interval_ms`; the rest (frozen or stopped) are read once, so a host of mostly
    // hibernated containers costs one pass.
    Result<std::vector<ContainerStats>> once(unsigned interval_ms);

  private:
    struct CpuReading {
        std::uint64_t usage_ns = 0, at_ns = 0;
    };
    void fill_cpu_percent(std::vector<ContainerStats>& stats);

    GlobalOptions g_;
    std::vector<std::string> ids_;
    std::map<std::string, CpuReading> previous_;
};

// CPU use between two readings of one container, in percent of one CPU.
double cpu_percent(std::uint64_t usage_before_ns, std::uint64_t at_before_ns,
                   std::uint64_t usage_after_ns, std::uint64_t at_after_ns);

}  // namespace wmrun::runtime
