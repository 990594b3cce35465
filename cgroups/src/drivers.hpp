// The drivers behind Manager, and the v2 pieces the hybrid driver reuses for the controllers
// a hybrid host binds to its unified tree (hugetlb on some hosts).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "wmrun/cgroups/manager.hpp"

namespace wmrun::cgroups::detail {

// `root` is the cgroup2 mount point; tests pass /sys/fs/cgroup/unified on a hybrid host.
Result<std::unique_ptr<Manager>> create_v2(const std::string& root, const std::string& path);
Result<std::unique_ptr<Manager>> load_v2(const Json& saved);

Result<std::unique_ptr<Manager>> create_v1(Layout layout, const std::string& path, bool rootless);
Result<std::unique_ptr<Manager>> load_v1(const Json& saved);

// --systemd-cgroup: a transient unit around the cgroupfs driver of the host's layout.
Result<std::unique_ptr<Manager>> create_systemd(const Config& config);
Result<std::unique_ptr<Manager>> load_systemd(const Json& saved);

// Writes `resources` to a v2 cgroup whose enabled controllers are `controllers`: all of them
// or, when one is refused, none (the files written before it are put back).
Result<> apply_v2(const std::string& dir, const std::set<std::string>& controllers,
                  const Resources& resources);
class WriteJournal;
Result<> apply_hugetlb_v2(WriteJournal& journal, const std::string& dir,
                         const std::vector<HugepageLimit>& limits);

// Stats of a v2 cgroup; a part whose files are absent is left as it was.
void read_stats_v2(const std::string& dir, Stats& stats);
void read_hugetlb_v2(const std::string& dir, Stats& stats);
std::optional<Pressure> read_pressure(const std::string& dir, const std::string& file);

// memory.reclaim of a v2 cgroup; memory.force_empty of a v1 memory cgroup.
Result<Reclaimed> reclaim_v2(const std::string& dir);
Result<Reclaimed> reclaim_v1(const std::string& memory_dir);

}  // namespace wmrun::cgroups::detail
