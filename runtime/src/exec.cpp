// exec: a new process in a running container's namespaces and cgroup.
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

Result<int> exec_in_container(const GlobalOptions&, const ExecOptions& o) {
    return fail("exec", o.id, "not implemented yet", ENOSYS);
}

}  // namespace wmrun::runtime
