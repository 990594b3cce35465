// The sd-bus functions of libsystemd, loaded at first use with dlopen: wmrun links statically
// and Debian has no static libsystemd; and only --systemd-cgroup needs the library at all.
// Each pointer has the type of the declaration in <systemd/sd-bus.h>.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "wmrun/base/error.hpp"

namespace wmrun::cgroups::detail {

#define WM_SDBUS_FUNCTIONS(X)                                                                      \
    X(sd_booted)                                                                                   \
    X(sd_bus_new) X(sd_bus_set_address) X(sd_bus_start) X(sd_bus_open_system) X(sd_bus_open_user)  \
        X(sd_bus_flush_close_unref) X(sd_bus_match_signal) X(sd_bus_call_method) X(sd_bus_call)    \
            X(sd_bus_process) X(sd_bus_wait) X(sd_bus_error_free) X(sd_bus_error_is_set)           \
                X(sd_bus_error_has_name) X(sd_bus_message_new_method_call) X(sd_bus_message_unref) \
                    X(sd_bus_message_read) X(sd_bus_message_append) X(sd_bus_message_append_array) \
                        X(sd_bus_message_open_container) X(sd_bus_message_close_container) \
                            X(sd_bus_message_enter_container) X(sd_bus_message_exit_container) \
                                X(sd_bus_message_read_array) X(sd_bus_get_property)

struct SdBusApi {
#define WM_SDBUS_MEMBER(name) decltype(&::name) name = nullptr;
    WM_SDBUS_FUNCTIONS(WM_SDBUS_MEMBER)
#undef WM_SDBUS_MEMBER
};

// Loads libsystemd.so.0 once; later calls return the same table (or the same error).
Result<const SdBusApi*> sdbus_api();

}  // namespace wmrun::cgroups::detail
