// pause, resume: freeze and thaw through the container's cgroup.
#include "commands.hpp"

namespace wmrun::cli {

void add_cgroup_commands(CLI::App& app, Context& ctx) {
    static std::string pause_id, resume_id;
    add_command(app, ctx, "pause", "freeze every process of a container", [&ctx]() -> Result<int> {
        WM_CHECK(runtime::pause_container(ctx.global, pause_id));
        return 0;
    })->add_option("container-id", pause_id, "container id")->required();
    add_command(app, ctx, "resume", "thaw a paused container", [&ctx]() -> Result<int> {
        WM_CHECK(runtime::resume_container(ctx.global, resume_id));
        return 0;
    })->add_option("container-id", resume_id, "container id")->required();
}

}  // namespace wmrun::cli
