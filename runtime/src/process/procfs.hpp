// Writes to procfs that nothing can redirect (the CVE-2025-52881 class: a container that mounts
// something over /proc/self/attr/exec or /proc/sys/... turns the runtime's write into a write
// of its choosing). Every procfs write of the runtime goes through a Procfs: a proc instance of
// its own, attached nowhere, or, where the kernel refuses one, a clone of the proc mount that
// leaves whatever is mounted on it behind; either is checked to be procfs's root, and every
// path below it is opened without following symlinks or crossing mounts.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

class Procfs {
  public:
    // What the instance shows: everything, or only the process directories (subset=pid), which
    // is what a process may hold open while the container can see it: nothing there reaches
    // further than the container's own /proc does.
    enum class View { all, pids_only };

    // A proc instance for the caller's pid namespace (fsopen/fsmount). In a user namespace the
    // kernel makes one only while the mount namespace has a fully visible /proc; otherwise the
    // proc mount at /proc of the caller's root is cloned without its submounts (open_tree
    // without AT_RECURSIVE). The result must be procfs and its root directory. Both need
    // CAP_SYS_ADMIN over the caller's namespaces.
    static Result<Procfs> open(View view = View::all);

    // For `wmrun create` itself, on the host (id maps and time offsets of its children): a
    // private instance, or, for an unprivileged caller that may not make one, the host's /proc,
    // which belongs to the administrator and not to any container. Checked the same way.
    static Result<Procfs> open_host();

    // Opens `rel` below the root ("sys/net/ipv4/ip_forward", "self/attr/exec", "123/uid_map"):
    // a leading "self" is the caller's pid in the instance's namespace; no symlink, magic link
    // or mount is followed, and the file must be on procfs.
    Result<UniqueFd> open_file(std::string_view rel, int flags) const;

    // open_file(rel, O_WRONLY) and one write of `value`; errors name /proc/<rel>.
    Result<> write(std::string_view rel, std::string_view value) const;

    // A new open file description for `fd` of the calling process (as open("/proc/self/fd/N")
    // would, but through this instance: nothing can be mounted on its fd links).
    Result<UniqueFd> reopen(int fd, int flags) const;

  private:
    Procfs(UniqueFd root, std::string self) : root_(std::move(root)), self_(std::move(self)) {}
    // Checks the root and reads its "self" link: the caller's pid as that instance numbers it
    // (a clone of another namespace's /proc numbers it differently from getpid()).
    static Result<Procfs> from_root(UniqueFd root);
    std::string resolve_self(std::string_view rel) const;

    UniqueFd root_;
    std::string self_;
};

}  // namespace wmrun::runtime
