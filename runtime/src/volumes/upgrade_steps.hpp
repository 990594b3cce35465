#pragma once
// The steps upgrade and migrate are made of (upgrade.hpp, migrate.hpp): wmrun commands run as
// children, so that every process that enters a container comes from a sealed binary as the CLI's
// own do; stopping a container; and waiting until a started one is ready.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

using UpgradeClock = std::chrono::steady_clock;

// The command a container made from an image was given (run --image ID -- CMD...), read from
// its config: empty when it runs its image's Entrypoint and Cmd.
std::vector<std::string> command_beyond_image(const Json& config,
                                              const overlay::ContainerConfig& image);

// Reaps child `pid` and returns its exit status as a shell reports it (128 + signal).
int wait_status(pid_t pid);

// `wmrun --root R --rootless X [--systemd-cgroup] ARGS...` from this binary, its stdout and
// stderr our stderr; NOTIFY_SOCKET set to `notify_socket`, or unset when that is empty. Returns its
// exit status, or fails naming `what` when it does not exit by `deadline` (it is killed).
Result<int> run_wmrun(const GlobalOptions& g, const std::vector<std::string>& args,
                      const std::string& notify_socket, UpgradeClock::time_point deadline,
                      const std::string& what);

// SIGTERM to the init (a paused or hibernated container is thawed first), SIGKILL to every
// process after `stop_timeout_ms`; returns once the init is gone. A stopped or created
// container is left as it is.
Result<> stop_processes(const GlobalOptions& g, const std::string& id,
                        std::int64_t stop_timeout_ms);
// stop_processes, then delete; the volume layer of an --image container stays. A container
// that does not exist is no error.
Result<> stop_and_delete(const GlobalOptions& g, const std::string& id,
                         std::int64_t stop_timeout_ms);

// `wmrun create ARGS...` for a container that runs detached from us: its stdin, stdout and
// stderr, which the container keeps, are /dev/null (a pipe of ours, or an ssh session, would be
// held open by it for good); create's error comes back through a log file.
Result<> create_detached(const GlobalOptions& g, const std::vector<std::string>& create_args,
                         const std::string& notify_socket, UpgradeClock::time_point deadline);

// A datagram socket of our own in a temp directory, for the container's READY=1.
class NotifyListener {
  public:
    static Result<NotifyListener> open();
    NotifyListener(NotifyListener&& o) noexcept
        : fd_(std::move(o.fd_)),
          dir_(std::exchange(o.dir_, {})),
          path_(std::exchange(o.path_, {})) {}
    NotifyListener& operator=(NotifyListener&&) = delete;
    ~NotifyListener();
    const std::string& path() const { return path_; }
    // True once a datagram with a READY=1 line has come, false at the deadline.
    Result<bool> wait_ready(UpgradeClock::time_point deadline);

  private:
    NotifyListener(UniqueFd fd, std::string dir, std::string path)
        : fd_(std::move(fd)), dir_(std::move(dir)), path_(std::move(path)) {}
    UniqueFd fd_;
    std::string dir_, path_;
};

struct ReadyCheck {
    std::string check;                 // sh -c CMD through exec, retried until it exits 0
    NotifyListener* notify = nullptr;  // READY=1 awaited on it
};

// Starts a created container and waits until it is ready by `r` before `deadline`; with
// neither check it must still run a second after its start. The error says what was missed.
Result<> start_and_wait_ready(const GlobalOptions& g, const std::string& id, const ReadyCheck& r,
                              UpgradeClock::time_point deadline);

}  // namespace wmrun::runtime
