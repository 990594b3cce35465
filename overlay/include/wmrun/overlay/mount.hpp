// Mounting overlayfs through the new mount API (fsopen/fsconfig/fsmount/move_mount).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
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

// Owns a mount: unmounts it on destruction unless released (a container's rootfs outlives
// the wmrun process that made it).
class OverlayMount {
  public:
    OverlayMount() = default;
    explicit OverlayMount(std::string target) : target_(std::move(target)) {}
    OverlayMount(OverlayMount&& o) noexcept : target_(std::exchange(o.target_, {})) {}
    OverlayMount& operator=(OverlayMount&& o) noexcept;
    OverlayMount(const OverlayMount&) = delete;
    OverlayMount& operator=(const OverlayMount&) = delete;
    ~OverlayMount() { (void)unmount(); }

    const std::string& target() const { return target_; }
    std::string release() { return std::exchange(target_, {}); }
    Result<> unmount();

  private:
    std::string target_;
};

Result<OverlayMount> mount_overlay(const OverlaySpec& spec);

// Unmounts what a released OverlayMount left; lazily (MNT_DETACH) if it is busy.
Result<> unmount_overlay(const std::string& target);

}  // namespace wmrun::overlay
