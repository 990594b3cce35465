// Mounting overlayfs through the new mount API (fsopen/fsconfig/fsmount/move_mount).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/mount.hpp"
#include "wmrun/overlay/unpack.hpp"

namespace wmrun::overlay {

struct MountOptions {
    bool read_only = false;
    // Use one "lowerdir=a:b:c" value even where "lowerdir+" exists (Linux < 6.8 has only that).
    bool single_lowerdir = false;
};

struct OverlaySpec {
    std::vector<std::string> lower;  // topmost first
    std::string upper;
    std::string work;
    std::string target;
    WhiteoutMode mode = WhiteoutMode::root;  // rootless mounts with userxattr
    MountOptions options;
};

// Owns the overlay mount: unmounted on destruction unless released (a container's rootfs
// outlives the wmrun process that made it).
using OverlayMount = MountGuard;

Result<OverlayMount> mount_overlay(const OverlaySpec& spec);

// Unmounts what a released OverlayMount left; lazily (MNT_DETACH) if it is busy.
Result<> unmount_overlay(const std::string& target);

}  // namespace wmrun::overlay
