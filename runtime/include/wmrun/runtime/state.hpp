// The state store under --root: one directory per container holding state.json (the OCI state
// plus wmrun's own fields), the config.json it was created from, a lock file, and exec.fifo
// while the container is created but not started. Commands on one container serialise on its
// lock; different containers do not share one. Everything read back is checked to belong to the
// caller and to be writable by no one else (docs/security.md).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

enum class Status { creating, created, running, paused, stopped };
const char* status_name(Status s);

// Upper bounds (seconds) of the buckets wake durations are counted in: Prometheus's default
// buckets from 1 ms, since a thaw takes milliseconds and an app's first reply longer.
inline constexpr std::array<double, 12> kWakeBucketBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

// The wakes of a hibernated container (wake, resume, or the activator on a connection), kept in
// its state so that `stats` can report them without asking a running activator.
struct WakeRecord {
    std::uint64_t count = 0;
    double sum_seconds = 0;
    // buckets[i]: wakes that took more than bound i-1 and at most bound i (not cumulative);
    // longer ones are only in count.
    std::array<std::uint64_t, kWakeBucketBounds.size()> buckets{};
};

struct ContainerState {
    std::string id;
    std::string oci_version;
    pid_t pid = 0;
    std::uint64_t start_time = 0;  // of pid, from /proc/PID/stat: guards against pid reuse
    std::string bundle;
    std::string rootfs;
    std::string created;  // RFC 3339, UTC
    std::string owner;
    std::map<std::string, std::string> annotations;
    Json cgroup;  // what cgroups::Manager::save() returned; null when none
    bool systemd_cgroup = false;
    bool rootless = false;
    bool started = false;     // the user process was exec'ed (start ran)
    std::string image_store;  // --image: the store whose containers/<id>/merged is the rootfs
    std::string image;        // --image: the image's name in that store
    bool hibernated = false;  // frozen by `hibernate` (memory given back), not by `pause`
    std::int64_t hibernated_at_ms = 0;  // Unix time of the hibernate; 0 when not hibernated
    WakeRecord wakes;
};

// Marks a container hibernated from now on.
void mark_hibernated(ContainerState& state);
// Clears the hibernated mark of a container that was woken, counting a wake that took `seconds`
// (from the event that woke it to its cgroup thawed).
void record_wake(ContainerState& state, double seconds);

// An exclusive flock on a container's directory, released on destruction.
class ContainerLock {
  public:
    explicit ContainerLock(UniqueFd fd) : fd_(std::move(fd)) {}

  private:
    UniqueFd fd_;
};

class StateStore {
  public:
    explicit StateStore(std::string root) : root_(std::move(root)) {}

    const std::string& root() const { return root_; }
    std::string dir(const std::string& id) const { return root_ + "/" + id; }
    std::string fifo_path(const std::string& id) const { return dir(id) + "/exec.fifo"; }

    // Makes the container's directory (failing if the id is taken) and locks it.
    Result<ContainerLock> create(const std::string& id);
    // Locks an existing container; "container does not exist" when it does not. A lock of
    // another name serialises one kind of work on the container without holding off the
    // commands that take the container's own lock (automatic snapshots, which freeze it).
    Result<ContainerLock> lock(const std::string& id, const char* name = "lock") const;
    Result<ContainerState> load(const std::string& id) const;
    Result<> save(const ContainerState& state) const;
    // The config.json the container was created from, kept beside its state: exec and the
    // poststart and poststop hooks take it from here, not from the bundle, which may have
    // changed since (or belong to someone else).
    Result<> save_config(const std::string& id, const std::string& config_json) const;
    Result<std::string> load_config(const std::string& id) const;
    // Another file of the container's own kept beside its state (`name` is a plain file name,
    // such as snapshot-policy.json): written whole or not at all, read back checked as the
    // state is, and gone with the container. load_file fails with ENOENT when there is none.
    Result<> save_file(const std::string& id, const std::string& name, std::string_view data) const;
    Result<std::string> load_file(const std::string& id, const std::string& name) const;
    Result<> remove_file(const std::string& id, const std::string& name) const;
    Result<> remove(const std::string& id) const;
    Result<std::vector<std::string>> list() const;

    // Loads many containers through one opened and checked root (stats reads every one);
    // safe to share between threads.
    class Reader {
      public:
        Result<ContainerState> load(const std::string& id) const;

      private:
        friend class StateStore;
        Reader(const StateStore& store, UniqueFd root) : store_(&store), root_(std::move(root)) {}
        const StateStore* store_;
        UniqueFd root_;
    };
    Result<Reader> reader() const;

  private:
    // The root, and a container's directory in it, each checked to be the caller's own and
    // writable by no one else; an empty root (no default for this caller) is an error.
    Result<UniqueFd> open_root(bool create) const;
    Result<UniqueFd> open_dir(const std::string& id) const;
    Result<UniqueFd> open_dir_in(int root_fd, const std::string& id) const;
    Result<ContainerState> load_from(int dirfd, const std::string& id) const;

    std::string root_;
};

// The config of a created container: the copy in its state dir (StateStore::load_config), or
// for a container made before the copy was kept, its bundle's config.json.
Result<Json> container_config(const StateStore& store, const ContainerState& state);

// Container ids: as runc, letters, digits and `_+-.`, not "." or "..", at most 1024 bytes.
Result<> validate_id(const std::string& id);

// The live status of a container from its saved state: pid liveness (with start time), the
// cgroup freezer and whether exec.fifo still exists.
Status current_status(const StateStore& store, const ContainerState& state);

// status_name(), except that a container frozen by `hibernate` reads "hibernated" (list).
const char* display_status(const ContainerState& state, Status status);

// The OCI state document (runtime.md "State"), as `wmrun state` prints it.
OrderedJson state_json(const ContainerState& state, Status status);

}  // namespace wmrun::runtime
