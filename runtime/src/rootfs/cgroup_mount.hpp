// A `type: cgroup` mount: the container sees its own cgroup and nothing above or beside it,
// as runc mounts it. With a cgroup namespace of its own, fresh cgroup filesystems, whose root is
// the namespace's (the container's cgroup: the init makes the namespace once it is placed);
// without one, or where the kernel refuses a fresh mount (in a user namespace), binds of the
// container's own cgroup directories. On hybrid and v1 hosts /sys/fs/cgroup is a tmpfs with a
// directory per v1 hierarchy (and `unified`), as the host has them, so that clients that read
// limits from inside (memory.limit_in_bytes, pids.max) find them. Read-only unless the mount's
// options ask for rw.
#pragma once

#include "rootfs/mount_options.hpp"
#include "wmrun/base/error.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// `target` is an O_PATH fd of the mount's destination inside the rootfs; `own_namespace`: the
// container has a cgroup namespace. `v2_only`: a `type: cgroup2` mount, the container's own
// cgroup of the unified hierarchy alone (on a hybrid host too).
Result<> mount_cgroups(int target, const std::string& dest, const MountOptions& opts,
                       bool own_namespace, bool v2_only);

}  // namespace wmrun::runtime
