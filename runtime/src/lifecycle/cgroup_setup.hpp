// The runtime's view of a container's cgroup: made from config.json at create, found again
// from state.json afterwards. Delegates to cgroups::Manager.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::cgroups {
class Manager;
}

namespace wmrun::runtime {

class CgroupHandle {
  public:
    CgroupHandle();
    CgroupHandle(CgroupHandle&&) noexcept;
    CgroupHandle& operator=(CgroupHandle&&) noexcept;
    ~CgroupHandle();

    static Result<CgroupHandle> create(const GlobalOptions& g, const Spec& spec,
                                       const std::string& id);
    // A container without a usable cgroup (none recorded) yields an empty handle.
    static CgroupHandle load(const ContainerState& state);

    bool valid() const { return manager_ != nullptr; }
    UniqueFd clone_into_fd();
    Result<> enter(pid_t pid);
    Json save() const;
    void destroy();
    cgroups::Manager* manager() { return manager_.get(); }

  private:
    std::unique_ptr<cgroups::Manager> manager_;
};

}  // namespace wmrun::runtime
