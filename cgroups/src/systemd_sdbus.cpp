#include "systemd_sdbus.hpp"

#include <dlfcn.h>

namespace wmrun::cgroups::detail {

namespace {

Result<SdBusApi> load() {
    const std::string lib = "libsystemd.so.0";
    // Never closed: the functions are used until exit.
    void* handle = ::dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return fail(
            "load sd-bus", lib,
            std::string(why ? why : "dlopen failed") + " (--systemd-cgroup needs libsystemd0)");
    }
    SdBusApi api;
#define WM_SDBUS_LOAD(name)                                                  \
    api.name = reinterpret_cast<decltype(api.name)>(::dlsym(handle, #name)); \
    if (api.name == nullptr) return fail("load sd-bus", lib, "no symbol " #name);
    WM_SDBUS_FUNCTIONS(WM_SDBUS_LOAD)
#undef WM_SDBUS_LOAD
    return api;
}

}  // namespace

Result<const SdBusApi*> sdbus_api() {
    static const Result<SdBusApi> api = load();
    if (!api) return std::unexpected(api.error());
    return &*api;
}

}  // namespace wmrun::cgroups::detail
