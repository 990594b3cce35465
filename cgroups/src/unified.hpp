// One cgroup in a cgroup2 hierarchy: the whole cgroup on a v2 host, and the companion
// directory in /sys/fs/cgroup/unified on a hybrid host (freeze, kill, process list).
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::cgroups::detail {

class UnifiedDir {
  public:
    UnifiedDir(std::string root, std::string path)
        : root_(std::move(root)), path_(std::move(path)) {}

    const std::string& root() const { return root_; }
    std::string dir() const { return root_ + path_; }

    // mkdir of every level; with `delegate`, each ancestor enables all the controllers it has
    // for its children (failures there surface when a limit is written, as in runc).
    Result<> create(bool delegate) const;
    // Enables `controllers` in every ancestor, for a limit asked later (hybrid hugetlb).
    Result<> delegate(const std::set<std::string>& controllers) const;
    // Controllers enabled for this cgroup (its cgroup.controllers).
    std::set<std::string> controllers() const;
    bool can_freeze() const;
    bool can_kill() const;
    // Writes cgroup.freeze and waits on cgroup.events until the state is reached.
    Result<> set_frozen(bool frozen) const;
    Result<bool> frozen() const;
    Result<> kill() const;
    Result<> enter(pid_t pid) const;
    Result<std::vector<pid_t>> pids() const;
    Result<UniqueFd> open_dir() const;
    Result<> destroy() const;

  private:
    std::string root_, path_;
};

}  // namespace wmrun::cgroups::detail
