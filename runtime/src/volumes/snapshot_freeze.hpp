#pragma once
// What `snapshot create` and `restore` do to a container (snapshots.hpp): the directories its
// volume layer is in, a freeze held while changed files are read, and the swap of a restored
// volume layer.
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
Result<std::unique_ptr<FreezeGuard>> freeze_for_snapshot(const GlobalOptions& g,
                                                         const std::string& id);

}  // namespace wmrun::runtime
