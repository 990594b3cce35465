#pragma once
// What `snapshot create` and `restore` do to a container (snapshots.hpp): the directories its
// volume layer is in, a freeze held while changed files are read, and the swap of a restored
// volume layer.
#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

// snapshot create of a container: what to read, and a freeze held only while changed files
// are read (docs/snapshot-format.md, "Containers").
struct SnapshotSource {
    std::string dir;                   // directory the snapshot's tree starts at
    std::vector<std::string> include;  // top-level names under dir to take; empty: all
    Status status = Status::stopped;
};
// --image containers: <store>/containers/<id> with its upper/ and volumes/; bundle containers:
// the rootfs directory.
Result<SnapshotSource> snapshot_source(const GlobalOptions& g, const std::string& id);

// snapshot restore into a container: fill(dir) restores into an empty temp dir inside the
// container's directory of its image store (the state's, else `store`), whose upper/ and
// volumes/ then replace the container's own by rename. A running or paused container is refused;
// a stopped one has its overlay unmounted first. A failure before the swap changes nothing.
Result<> replace_volume_layer(const GlobalOptions& g, const std::string& id,
                              const std::string& store,
                              const std::function<Result<>(const std::string& dir)>& fill);

// Holds a running container frozen, and the container's lock so that no pause or resume runs
// in between; thaw() (or the destructor) thaws it. A container that is not running (created,
// paused, stopped) is left as it is and frozen_by_us() is false.
class FreezeGuard {
  public:
    virtual ~FreezeGuard() = default;
    virtual bool frozen_by_us() const = 0;
    virtual Result<> thaw() = 0;
};
// While frozen, a marker in the container's state names this process: a snapshot killed
// outright (SIGKILL) leaves it behind for thaw_after_killed_snapshot.
Result<std::unique_ptr<FreezeGuard>> freeze_for_snapshot(const GlobalOptions& g,
                                                         const std::string& id);

// The marker file; pause, resume and hibernate remove it, since the freeze is theirs from then.
inline constexpr const char* kSnapshotFreezeMarker = "snapshot-freeze";
// Writes the marker naming this process (pid and start time), before it freezes the container:
// should it be killed meanwhile, the next snapshot of the container thaws it.
Result<> mark_frozen_by_us(const StateStore& store, const std::string& id);

// Beside it while a migration's receiver was told to start the container and has not
// confirmed: the container may run there, so nothing but that migration (run again, once the
// receiver removed its copy) or the user (resume, which removes both) may thaw it here.
inline constexpr const char* kMigrateUnconfirmedMarker = "migrate-unconfirmed";

// Holds back the signals that end a process by default and that people, a timer's stop and a
// shutdown send (SIGTERM, SIGINT, SIGHUP, SIGQUIT) in this thread, and in the threads it starts
// from now on, until release(): a snapshot must not die while it holds a container frozen. Made
// before the snapshot starts its threads, which inherit the mask.
class EndingSignalsHeld {
  public:
    EndingSignalsHeld();
    EndingSignalsHeld(const EndingSignalsHeld&) = delete;
    EndingSignalsHeld& operator=(const EndingSignalsHeld&) = delete;
    ~EndingSignalsHeld() { release(); }
    void release();

  private:
    sigset_t old_;
    bool held_ = true;
};

// Thaws a container that a killed snapshot, or a migration that ended while it held it frozen,
// left frozen (the marker's process is gone), and removes the marker; true when it thawed.
// Snapshots of the container call it first.
Result<bool> thaw_after_killed_snapshot(const GlobalOptions& g, const std::string& id);

}  // namespace wmrun::runtime
