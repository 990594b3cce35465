// The parent side of create: validate, clone the init into its namespaces (and cgroup), write
// its id maps, wait until it is ready, record the state. Shared by create and run.
#pragma once

#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

struct Launched {
    ContainerState state;
    UniqueFd pidfd;
    UniqueFd console_master;  // set when run itself asked for the console
};

// `own_console`: no --console-socket was given but the process wants a terminal; the master
// comes back to the caller (run in the foreground proxies it).
Result<Launched> launch_container(const GlobalOptions& g, const CreateOptions& o, bool own_console);

// config-linux.md "The Container Process State": one message per connection to listenerPath,
// the JSON with the seccomp notify listener of process `pid` as SCM_RIGHTS (create and exec).
Result<> send_seccomp_listener(const Seccomp& s, const OrderedJson& state, pid_t pid, int listener);

// Removes what create made: kills the init, destroys the cgroup, removes the state dir.
void destroy_container(const GlobalOptions& g, const ContainerState& state);

}  // namespace wmrun::runtime
