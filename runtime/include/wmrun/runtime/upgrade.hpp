#pragma once
// upgrade: moves a container made from an image (--image) to another image, keeping its volume
// layer, and rolls it back on its own when the new version does not come up (docs/operations.md,
// "Upgrades"). The volume layer is the overlay upper, so what the user changed wins over both
// images; a snapshot taken before the switch is what a rollback restores.
#include <cstdint>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

struct UpgradeOptions {
    std::string id;
    std::string image;  // the new image's name in the container's store; empty for a rollback
    std::string repo;   // empty: the repository of the container's snapshot policy
    std::string check;  // sh -c CMD inside the container must exit 0 for it to count as ready
    bool wait_notify = false;              // it must send READY=1 on NOTIFY_SOCKET
    std::int64_t timeout_ms = 30000;       // from its start to ready
    std::int64_t stop_timeout_ms = 10000;  // SIGTERM to SIGKILL
};

struct UpgradeReport {
    std::string id, from, to;  // image names
    std::string snapshot;      // taken before the switch (before-upgrade or before-rollback)
    std::string repo;
    bool rolled_back = false;  // an upgrade that did not come up and went back on its own
    std::string reason;        // why it rolled back
};

// Stops the container, snapshots its volume layer, creates it again on `o.image` and starts
// it; when that fails or it is not ready within the timeout, puts the snapshot back, creates it
// on its old image and starts it, and reports rolled_back (the caller makes that an error).
Result<UpgradeReport> upgrade_container(const GlobalOptions& g, const UpgradeOptions& o);

// Goes back to the image before the container's last upgrade, restoring the volume layer of
// then; the volume layer of now is snapshotted first (before-rollback), so nothing is lost.
Result<UpgradeReport> rollback_upgrade(const GlobalOptions& g, const UpgradeOptions& o);

}  // namespace wmrun::runtime
