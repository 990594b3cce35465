// The parent side of create: validate, clone the init into its namespaces (and cgroup), write
// its id maps, wait until it is ready, record the state. Shared by create and run.
#pragma once

#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

struct Launched {
    ContainerState state;
    UniqueFd pidfd;
    UniqueFd console_master;  // set when run itself asked for the console
};

// `own_console`: no --console-socket was given but the process wants a terminal; the master
// comes back to the caller (run in the foreground proxies it).
Result<Launched> launch_container(const GlobalOptions& g, const CreateOptions& o, bool own_console);

// Removes what create made: kills the init, destroys the cgroup, removes the state dir.
void destroy_container(const GlobalOptions& g, const ContainerState& state);

}  // namespace wmrun::runtime
