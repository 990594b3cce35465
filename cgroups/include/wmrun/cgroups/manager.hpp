// The cgroup of one container: created before its init is cloned, limited, frozen, measured,
// and removed with it. One interface; a driver per host layout (docs/cgroups.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/cgroups/resources.hpp"
#include "wmrun/cgroups/stats.hpp"

namespace wmrun::cgroups {

// unified: cgroup2 on /sys/fs/cgroup. hybrid: v1 controllers plus cgroup2 on
// /sys/fs/cgroup/unified. legacy: v1 only.
enum class Layout { unified, hybrid, legacy };

Result<Layout> detect_layout();
const char* layout_name(Layout layout);

// A hierarchy as the host mounts it: what a container's /sys/fs/cgroup mirrors, each at the
// container's own cgroup.
struct Hierarchy {
    std::string mount_point;               // "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"
    bool v2 = false;
    std::vector<std::string> controllers;  // v1: "cpu", "cpuacct", "name=systemd"
};

// Every hierarchy of this host, the v1 ones sorted by mount point, then the unified one.
Result<std::vector<Hierarchy>> host_hierarchies();

// A process's cgroup in each hierarchy, from the text of /proc/<pid>/cgroup: v1 lines keyed by
// each controller they list ("memory", "name=systemd"), the unified line by "".
std::map<std::string, std::string> parse_proc_cgroup(std::string_view text);

struct Config {
    std::string cgroups_path;  // linux.cgroupsPath as written: absolute, relative, or
                               // "slice:prefix:name" with systemd
    std::string container_id;
    bool systemd = false;  // --systemd-cgroup: cgroups_path is "slice:prefix:name"
    bool rootless = false;
};

// The cgroup's path below each hierarchy root, e.g. "/wmrun/<id>" for an empty cgroupsPath,
// "/machine.slice/libpod-<name>.scope" for "machine.slice:libpod:<name>" with systemd. A
// relative cgroupsPath is taken from the hierarchy root, as crun does.
Result<std::string> resolve_path(const Config& config);

// Bytes charged to the cgroup before and after a reclaim.
struct Reclaimed {
    std::uint64_t before = 0, after = 0;
};

class Manager {
  public:
    virtual ~Manager();

    // Creates the cgroup in every hierarchy of the host's layout; an existing directory is
    // fine (a parent such as /wmrun is shared by containers).
    static Result<std::unique_ptr<Manager>> create(const Config& config);
    // Re-opens the cgroup of an existing container from what save() returned.
    static Result<std::unique_ptr<Manager>> load(const Json& saved);

    virtual Json save() const = 0;
    // Writes the limits that are set in `resources`; unset fields are left as they are, so
    // `update` can pass only what changes.
    virtual Result<> apply(const Resources& resources) = 0;
    // An O_DIRECTORY fd for clone3's CLONE_INTO_CGROUP. When it is valid it places the child in
    // every hierarchy; an invalid fd (hybrid and legacy layouts) means: clone, then enter(pid).
    virtual Result<UniqueFd> clone_into_fd() = 0;
    virtual Result<> enter(pid_t pid) = 0;
    // Returns once every process is frozen.
    virtual Result<> freeze() = 0;
    virtual Result<> thaw() = 0;
    virtual Result<bool> frozen() = 0;
    // SIGKILL on v2 (and hybrid's unified tree) is cgroup.kill; otherwise the cgroup is frozen
    // so nothing can fork, each process is signalled, and the cgroup is thawed. A frozen
    // cgroup stays frozen, except after SIGKILL: the v1 freezer holds a killed task until it is
    // thawed, so it is thawed then (as runc does).
    virtual Result<> kill_all(int signal) = 0;
    // Every process in the cgroup and its descendants.
    virtual Result<std::vector<pid_t>> pids() = 0;
    virtual Result<Stats> stats() = 0;
    // Asks the kernel to take back what it can of the cgroup's memory (page cache; anonymous
    // memory only where there is swap): memory.reclaim on v2, memory.force_empty on v1. For a
    // frozen cgroup, whose processes cannot fault the pages back in meanwhile.
    virtual Result<Reclaimed> reclaim_memory() = 0;
    // Removes the cgroup (and any child cgroups) in every hierarchy, retrying briefly while
    // exiting processes keep it busy; a missing directory is fine.
    virtual Result<> destroy() = 0;
    // The path from resolve_path().
    virtual std::string path() const = 0;
};

}  // namespace wmrun::cgroups
