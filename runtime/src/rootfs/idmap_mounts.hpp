// Idmapped mounts (config.md "Mounts": the `idmap`/`ridmap` options, a mount's uidMappings and
// gidMappings). MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the user namespace of the mounted
// filesystem (the host's for a bind of a host directory) and a user namespace fd carrying the
// mapping, so `wmrun create` makes each such mount, detached, before it lets the init go;
// the init only attaches it inside the rootfs. runc works the same way.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

// `idmap`, `ridmap`, or mappings of its own (runc applies those even without the option).
bool is_idmapped(const Mount& m);

// The checks on a mount's mappings the kernel would only make half way through create: every
// range non-empty, inside 32 bits, at most 340 of them, none overlapping another on either
// side. Errors name the field, e.g. "mounts[2].uidMappings[1].size: must not be zero".
Result<> check_idmapped_mounts(const Spec& spec);

// One detached, idmapped mount per idmapped entry of spec.mounts, in order, made with the
// caller's (host) privileges. Mounts without mappings of their own take the container's user
// namespace: the init's (`init_pid`, its maps already written) or the one it joins by path.
Result<std::vector<UniqueFd>> prepare_idmapped_mounts(const Spec& spec, const std::string& bundle,
                                                      pid_t init_pid);

// Parent to init over the sync socket: one SCM_RIGHTS message per prepared mount, in order.
Result<> send_idmapped_mounts(int sock, const std::vector<UniqueFd>& mounts);

// The init's side: indexed like spec.mounts, -1 where the mount is an ordinary one.
Result<std::vector<int>> receive_idmapped_mounts(int sock, const Spec& spec);

}  // namespace wmrun::runtime
