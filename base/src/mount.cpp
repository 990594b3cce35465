#include "wmrun/base/mount.hpp"

#include <sys/mount.h>

namespace wmrun {

Result<> unmount_path(const std::string& target) {
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return {};
    if (errno == EBUSY && ::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
    return sys_error("umount", target);
}

}  // namespace wmrun
