#include "wmrun/cgroups/manager.hpp"

#include "drivers.hpp"
#include "layout.hpp"

namespace wmrun::cgroups {

Manager::~Manager() = default;

Result<std::unique_ptr<Manager>> Manager::create(const Config& config) {
    auto path = WM_TRY(resolve_path(config));
    if (config.systemd) {
        auto made = detail::create_systemd(config);
        if (!made) return std::unexpected(with_context(made.error(), "create cgroup " + path));
        return made;
    }
    auto layout = WM_TRY(detect_layout());
    auto made = layout == Layout::unified ? detail::create_v2(detail::kCgroupRoot, path)
                                          : detail::create_v1(layout, path, config.rootless);
    if (!made) return std::unexpected(with_context(made.error(), "create cgroup " + path));
    return made;
}

Result<std::unique_ptr<Manager>> Manager::load(const Json& saved) {
    if (!saved.is_object()) return fail("load cgroup", "", "saved state is not an object");
    auto driver = saved.value("driver", std::string());
    if (driver == "v2") return detail::load_v2(saved);
    if (driver == "v1") return detail::load_v1(saved);
    if (driver == "systemd") return detail::load_systemd(saved);
    return fail("load cgroup", driver, "unknown cgroup driver");
}

}  // namespace wmrun::cgroups
