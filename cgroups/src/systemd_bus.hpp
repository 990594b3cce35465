// A connection to systemd's manager over D-Bus (libsystemd's sd-bus): the calls the systemd
// driver makes, each waiting for its job to finish as runc does.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "systemd_unit.hpp"

struct sd_bus;

namespace wmrun::cgroups::detail {

class SystemdBus {
  public:
    // As root, systemd's private socket (as systemctl does; no dbus-daemon needed), else the
    // system bus; the user's bus when rootless. Fails clearly when systemd is not the init.
    static Result<SystemdBus> connect(bool user);

    SystemdBus(SystemdBus&&) noexcept;
    SystemdBus& operator=(SystemdBus&&) noexcept;
    ~SystemdBus();

    // StartTransientUnit: a scope holding `pid` with Delegate=yes in `unit.slice`, or a slice
    // (no pid: the caller moves it in). Returns when the job is done.
    Result<> start_unit(const SystemdUnit& unit, pid_t pid, const std::string& description,
                        const std::vector<UnitProperty>& properties);
    // SetUnitProperties, runtime only (nothing is written under /etc).
    Result<> set_properties(const std::string& unit, const std::vector<UnitProperty>& properties);
    // The values the unit has now of the properties `like` names, each of the same type: what
    // an update puts back when it fails after systemd took the new ones.
    Result<std::vector<UnitProperty>> get_properties(const std::string& unit,
                                                     const std::vector<UnitProperty>& like);
    // StopUnit and wait; a unit systemd no longer knows (a scope whose processes all exited is
    // collected) is fine. A failed unit is reset so that its name can be reused.
    Result<> stop_unit(const std::string& unit);

  private:
    struct BusUnref {
        void operator()(sd_bus* bus) const;
    };
    struct Jobs;  // JobRemoved signals seen: job path -> result
    SystemdBus(sd_bus* bus, std::unique_ptr<Jobs> jobs);
    // The job's object path; "" when `missing_ok` and systemd has no such unit.
    Result<std::string> call_for_job(const std::string& method, const std::string& unit,
                                     void* message, bool missing_ok);
    Result<> wait_for_job(const std::string& job, const std::string& unit);

    std::unique_ptr<sd_bus, BusUnref> bus_;
    std::unique_ptr<Jobs> jobs_;
};

}  // namespace wmrun::cgroups::detail
