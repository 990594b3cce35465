#include "systemd_bus.hpp"

#include "systemd_sdbus.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>

namespace wmrun::cgroups::detail {

namespace {

const char* const kService = "org.freedesktop.systemd1";
const char* const kPath = "/org/freedesktop/systemd1";
const char* const kManager = "org.freedesktop.systemd1.Manager";
// runc waits as long for a unit's job.
constexpr std::uint64_t kJobTimeoutUsec = 30'000'000;

// Only reached once connect() has loaded the library.
const SdBusApi& sd() {
    return **sdbus_api();
}

struct BusError {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    ~BusError() { sd().sd_bus_error_free(&e); }
};

struct MessageUnref {
    void operator()(sd_bus_message* m) const { sd().sd_bus_message_unref(m); }
};
using Message = std::unique_ptr<sd_bus_message, MessageUnref>;

// sd-bus returns -errno; the D-Bus error's text says more when there is one.
std::unexpected<Error> bus_error(const std::string& op, const std::string& unit, int r,
                                 const sd_bus_error* e = nullptr) {
    if (e != nullptr && sd().sd_bus_error_is_set(e))
        return fail(op, unit, std::string(e->message ? e->message : e->name), -r);
    return sys_error(op, unit, -r);
}

std::uint64_t now_usec() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

int append_property(sd_bus_message* m, const UnitProperty& p) {
    int r = sd().sd_bus_message_open_container(m, 'r', "sv");
    if (r >= 0) r = sd().sd_bus_message_append(m, "s", p.name.c_str());
    if (r < 0) return r;
    if (const auto* v = std::get_if<std::uint64_t>(&p.value)) {
        r = sd().sd_bus_message_append(m, "v", "t", *v);
    } else if (const auto* text = std::get_if<std::string>(&p.value)) {
        r = sd().sd_bus_message_append(m, "v", "s", text->c_str());
    } else if (const auto* bytes = std::get_if<std::vector<std::uint8_t>>(&p.value)) {
        r = sd().sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0) r = sd().sd_bus_message_append_array(m, 'y', bytes->data(), bytes->size());
        if (r >= 0) r = sd().sd_bus_message_close_container(m);
    } else {
        r = sd().sd_bus_message_open_container(m, 'v', "a(ss)");
        if (r >= 0) r = sd().sd_bus_message_open_container(m, 'a', "(ss)");
        for (const auto& [path, access] : std::get<DeviceAllowList>(p.value))
            if (r >= 0) r = sd().sd_bus_message_append(m, "(ss)", path.c_str(), access.c_str());
        if (r >= 0) r = sd().sd_bus_message_close_container(m);
        if (r >= 0) r = sd().sd_bus_message_close_container(m);
    }
    if (r < 0) return r;
    return sd().sd_bus_message_close_container(m);
}

int append_properties(sd_bus_message* m, const std::vector<UnitProperty>& props) {
    for (const auto& p : props)
        if (int r = append_property(m, p); r < 0) return r;
    return 0;
}

const char* signature_of(const UnitProperty& p) {
    static const char* const signatures[] = {"t", "ay", "s", "a(ss)"};
    return signatures[p.value.index()];
}

// Reads a property's value (of the type `like` has) from a Get reply.
int read_value(sd_bus_message* m, UnitProperty& like) {
    int r = 0;
    if (auto* v = std::get_if<std::uint64_t>(&like.value)) return sd().sd_bus_message_read(m, "t", v);
    if (auto* text = std::get_if<std::string>(&like.value)) {
        const char* s = nullptr;
        r = sd().sd_bus_message_read(m, "s", &s);
        if (r >= 0) *text = s;
        return r;
    }
    if (auto* bytes = std::get_if<std::vector<std::uint8_t>>(&like.value)) {
        const void* data = nullptr;
        std::size_t size = 0;
        r = sd().sd_bus_message_read_array(m, 'y', &data, &size);
        if (r >= 0) bytes->assign(static_cast<const std::uint8_t*>(data),
                                  static_cast<const std::uint8_t*>(data) + size);
        return r;
    }
    auto& entries = std::get<DeviceAllowList>(like.value);
    entries.clear();
    r = sd().sd_bus_message_enter_container(m, 'a', "(ss)");
    while (r >= 0) {
        const char *path = nullptr, *access = nullptr;
        r = sd().sd_bus_message_read(m, "(ss)", &path, &access);
        if (r <= 0) break;
        entries.emplace_back(path, access);
    }
    if (r >= 0) r = sd().sd_bus_message_exit_container(m);
    return r;
}

}  // namespace

struct SystemdBus::Jobs {
    std::map<std::string, std::string> removed;
};

void SystemdBus::BusUnref::operator()(sd_bus* bus) const {
    sd().sd_bus_flush_close_unref(bus);
}

SystemdBus::SystemdBus(sd_bus* bus, std::unique_ptr<Jobs> jobs)
    : bus_(bus), jobs_(std::move(jobs)) {}
SystemdBus::SystemdBus(SystemdBus&&) noexcept = default;
SystemdBus& SystemdBus::operator=(SystemdBus&&) noexcept = default;
SystemdBus::~SystemdBus() = default;

Result<SystemdBus> SystemdBus::connect(bool user) {
    const std::string op = "connect to systemd";
    WM_CHECK(sdbus_api());
    if (sd().sd_booted() <= 0)
        return fail(op, "/run/systemd/system",
                    "systemd not running on this host, cannot use systemd cgroups manager");
    sd_bus* raw = nullptr;
    int r;
    const char* address = "unix:path=/run/systemd/private";
    if (!user && ::access("/run/systemd/private", F_OK) == 0) {
        r = sd().sd_bus_new(&raw);
        if (r >= 0) r = sd().sd_bus_set_address(raw, address);
        if (r >= 0) r = sd().sd_bus_start(raw);
    } else {
        address = user ? "the user bus" : "the system bus";
        r = user ? sd().sd_bus_open_user(&raw) : sd().sd_bus_open_system(&raw);
    }
    std::unique_ptr<sd_bus, BusUnref> bus(raw);
    if (r < 0) return bus_error(op, address, r);
    auto jobs = std::make_unique<Jobs>();
    auto on_job_removed = [](sd_bus_message* m, void* data, sd_bus_error*) -> int {
        std::uint32_t id = 0;
        const char *job = nullptr, *unit = nullptr, *result = nullptr;
        if (sd().sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) >= 0)
            static_cast<Jobs*>(data)->removed[job] = result;
        return 0;
    };
    // Installed before any call, so that a job finishing at once is not missed.
    r = sd().sd_bus_match_signal(bus.get(), nullptr, kService, kPath, kManager, "JobRemoved",
                                 on_job_removed, jobs.get());
    if (r < 0) return bus_error(op + ": match JobRemoved", address, r);
    // On the system bus systemd signals only to subscribers (on its private socket, to all).
    BusError err;
    r = sd().sd_bus_call_method(bus.get(), kService, kPath, kManager, "Subscribe", &err.e, nullptr,
                                "");
    if (r < 0 && !sd().sd_bus_error_has_name(&err.e, "org.freedesktop.systemd1.AlreadySubscribed"))
        return bus_error(op + ": Subscribe", address, r, &err.e);
    return SystemdBus(bus.release(), std::move(jobs));
}

Result<std::string> SystemdBus::call_for_job(const std::string& method, const std::string& unit,
                                             void* message, bool missing_ok) {
    BusError err;
    sd_bus_message* reply_raw = nullptr;
    int r = sd().sd_bus_call(bus_.get(), static_cast<sd_bus_message*>(message), kJobTimeoutUsec,
                             &err.e, &reply_raw);
    Message reply(reply_raw);
    if (r < 0 && missing_ok &&
        sd().sd_bus_error_has_name(&err.e, "org.freedesktop.systemd1.NoSuchUnit"))
        return std::string();
    if (r < 0) return bus_error(method, unit, r, &err.e);
    const char* job = nullptr;
    r = sd().sd_bus_message_read(reply.get(), "o", &job);
    if (r < 0) return bus_error(method + ": reply", unit, r);
    return std::string(job);
}

Result<> SystemdBus::wait_for_job(const std::string& job, const std::string& unit) {
    const std::uint64_t deadline = now_usec() + kJobTimeoutUsec;
    while (!jobs_->removed.contains(job)) {
        int r = sd().sd_bus_process(bus_.get(), nullptr);
        if (r < 0) return bus_error("wait for job", unit, r);
        if (r > 0) continue;
        std::uint64_t now = now_usec();
        if (now >= deadline) return fail("wait for job", unit, "timed out after 30 s: " + job);
        r = sd().sd_bus_wait(bus_.get(), deadline - now);
        if (r < 0) return bus_error("wait for job", unit, r);
    }
    std::string result = jobs_->removed[job];
    jobs_->removed.erase(job);
    if (result != "done")
        return fail("job of unit", unit, "finished with result \"" + result + "\"");
    return {};
}

Result<> SystemdBus::start_unit(const SystemdUnit& unit, pid_t pid, const std::string& description,
                                const std::vector<UnitProperty>& properties) {
    const std::string method = "StartTransientUnit";
    sd_bus_message* raw = nullptr;
    int r = sd().sd_bus_message_new_method_call(bus_.get(), &raw, kService, kPath, kManager,
                                                method.c_str());
    Message m(raw);
    if (r >= 0) r = sd().sd_bus_message_append(m.get(), "ss", unit.unit.c_str(), "replace");
    if (r >= 0) r = sd().sd_bus_message_open_container(m.get(), 'a', "(sv)");
    if (r >= 0)
        r = sd().sd_bus_message_append(m.get(), "(sv)(sv)(sv)(sv)(sv)(sv)", "Description", "s",
                                       description.c_str(), "DefaultDependencies", "b", 0,
                                       "MemoryAccounting", "b", 1, "CPUAccounting", "b", 1,
                                       "IOAccounting", "b", 1, "TasksAccounting", "b", 1);
    // As runc: a slice hangs off its parent by Wants=, holds no processes and cannot delegate.
    if (r >= 0 && unit.unit.ends_with(".slice"))
        r = sd().sd_bus_message_append(m.get(), "(sv)", "Wants", "as", 1, unit.slice.c_str());
    else if (r >= 0)
        r = sd().sd_bus_message_append(m.get(), "(sv)(sv)(sv)", "Slice", "s", unit.slice.c_str(),
                                       "Delegate", "b", 1, "PIDs", "au", 1,
                                       static_cast<std::uint32_t>(pid));
    if (r >= 0) r = append_properties(m.get(), properties);
    if (r >= 0) r = sd().sd_bus_message_close_container(m.get());
    if (r >= 0) r = sd().sd_bus_message_append(m.get(), "a(sa(sv))", 0);
    if (r < 0) return bus_error(method + ": build message", unit.unit, r);
    auto job = WM_TRY(call_for_job(method, unit.unit, m.get(), false));
    return wait_for_job(job, unit.unit);
}

Result<> SystemdBus::set_properties(const std::string& unit,
                                    const std::vector<UnitProperty>& properties) {
    const std::string method = "SetUnitProperties";
    if (properties.empty()) return {};
    sd_bus_message* raw = nullptr;
    int r = sd().sd_bus_message_new_method_call(bus_.get(), &raw, kService, kPath, kManager,
                                                method.c_str());
    Message m(raw);
    if (r >= 0) r = sd().sd_bus_message_append(m.get(), "sb", unit.c_str(), 1);
    if (r >= 0) r = sd().sd_bus_message_open_container(m.get(), 'a', "(sv)");
    if (r >= 0) r = append_properties(m.get(), properties);
    if (r >= 0) r = sd().sd_bus_message_close_container(m.get());
    if (r < 0) return bus_error(method + ": build message", unit, r);
    BusError err;
    r = sd().sd_bus_call(bus_.get(), m.get(), kJobTimeoutUsec, &err.e, nullptr);
    if (r < 0) return bus_error(method, unit, r, &err.e);
    return {};
}

Result<std::vector<UnitProperty>> SystemdBus::get_properties(
    const std::string& unit, const std::vector<UnitProperty>& like) {
    BusError err;
    sd_bus_message* raw = nullptr;
    int r = sd().sd_bus_call_method(bus_.get(), kService, kPath, kManager, "GetUnit", &err.e,
                                    &raw, "s", unit.c_str());
    Message reply(raw);
    if (r < 0) return bus_error("GetUnit", unit, r, &err.e);
    const char* object = nullptr;
    r = sd().sd_bus_message_read(reply.get(), "o", &object);
    if (r < 0) return bus_error("GetUnit: reply", unit, r);
    const std::string path = object;
    const char* interface =
        unit.ends_with(".slice") ? "org.freedesktop.systemd1.Slice" : "org.freedesktop.systemd1.Scope";
    std::vector<UnitProperty> current;
    for (const auto& p : like) {
        // DeviceAllow comes twice (cleared, then the list): its value is read once.
        if (std::any_of(current.begin(), current.end(), [&](auto& c) { return c.name == p.name; }))
            continue;
        BusError get_err;
        raw = nullptr;
        r = sd().sd_bus_get_property(bus_.get(), kService, path.c_str(), interface,
                                     p.name.c_str(), &get_err.e, &raw, signature_of(p));
        Message value(raw);
        if (r < 0) return bus_error("get property " + p.name, unit, r, &get_err.e);
        UnitProperty read = p;
        if (r = read_value(value.get(), read); r < 0)
            return bus_error("get property " + p.name + ": reply", unit, r);
        if (read.name == "DeviceAllow") current.push_back({"DeviceAllow", DeviceAllowList{}});
        current.push_back(std::move(read));
    }
    return current;
}

Result<> SystemdBus::stop_unit(const std::string& unit) {
    const std::string method = "StopUnit";
    sd_bus_message* raw = nullptr;
    int r = sd().sd_bus_message_new_method_call(bus_.get(), &raw, kService, kPath, kManager,
                                                method.c_str());
    Message m(raw);
    if (r >= 0) r = sd().sd_bus_message_append(m.get(), "ss", unit.c_str(), "replace");
    if (r < 0) return bus_error(method + ": build message", unit, r);
    auto job = WM_TRY(call_for_job(method, unit, m.get(), true));
    if (!job.empty()) WM_CHECK(wait_for_job(job, unit));
    BusError err;  // a unit that is not failed is not reset: nothing to report
    sd().sd_bus_call_method(bus_.get(), kService, kPath, kManager, "ResetFailedUnit", &err.e,
                            nullptr, "s", unit.c_str());
    return {};
}

}  // namespace wmrun::cgroups::detail
