// MountGuard: the one owner of a mount on the host, unmounted when the owner goes away.
#pragma once

#include <string>
#include <utility>

#include "wmrun/base/error.hpp"

namespace wmrun {

// Unmounts target without following a symlink there; lazily (MNT_DETACH) if it is busy.
Result<> unmount_path(const std::string& target);

class MountGuard {
  public:
    MountGuard() = default;
    explicit MountGuard(std::string target) : target_(std::move(target)) {}
    MountGuard(MountGuard&& o) noexcept : target_(std::exchange(o.target_, {})) {}
    MountGuard& operator=(MountGuard&& o) noexcept {
        if (this != &o) {
            (void)unmount();
            target_ = std::exchange(o.target_, {});
        }
        return *this;
    }
    MountGuard(const MountGuard&) = delete;
    MountGuard& operator=(const MountGuard&) = delete;
    ~MountGuard() { (void)unmount(); }

    const std::string& target() const { return target_; }
    // Keeps the mount; the caller unmounts it later with unmount_path.
    std::string release() { return std::exchange(target_, {}); }
    Result<> unmount() {
        if (target_.empty()) return {};
        auto r = unmount_path(target_);
        target_.clear();
        return r;
    }

  private:
    std::string target_;
};

}  // namespace wmrun
