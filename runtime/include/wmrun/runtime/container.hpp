// The container lifecycle of runtime.md, as the `wmrun` commands call it.
// Nothing here prints or exits; results and errors go back to tools/.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

struct GlobalOptions {
    std::string root;  // state root (--root)
    bool systemd_cgroup = false;
    bool rootless = false;  // running without host root privileges
};

struct CreateOptions {
    std::string id;
    std::string bundle;          // absolute
    std::string pid_file;        // empty: none
    std::string console_socket;  // empty: none
    std::string pidfd_socket;    // empty: none
    bool no_pivot = false;
    bool no_new_keyring = false;
    unsigned preserve_fds = 0;  // fds 3 .. 3+N-1 pass into the container
    std::string image_store;    // set by the --image path: recorded in the state for delete
    std::string image;          // and the image's name, recorded for stats
    // Socket activation (systemd's convention): these fds of the caller become the container's
    // fds 3 .. 3+N-1, and the process gets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (one name
    // per fd). Not combined with preserve_fds.
    std::vector<int> listen_fds;
    std::vector<std::string> listen_fd_names;
};

// create: everything up to the point where the init waits for `start`.
// On return no wmrun process stays behind; the container's init is its own.
Result<ContainerState> create_container(const GlobalOptions& g, const CreateOptions& o);

// start: lets a created container exec its process.
Result<> start_container(const GlobalOptions& g, const std::string& id);

// run's flags beside create's, as runc's.
struct RunOptions {
    bool detach = false;    // -d: return once the container has started
    bool keep = false;      // --keep: the container stays, stopped, after its process exits
    bool subreaper = true;  // false with --no-subreaper: orphans go to the host's reaper
};

// run in the foreground: create, start, forward signals, wait; returns the exit status
// (128+signal when killed) and removes the container afterwards unless r.keep, as runc does.
Result<int> run_container(const GlobalOptions& g, const CreateOptions& o, const RunOptions& r);

Result<OrderedJson> container_state(const GlobalOptions& g, const std::string& id);

// Parses "KILL", "SIGKILL", "9"; errors name the signal.
Result<int> parse_signal(const std::string& name);
Result<> kill_container(const GlobalOptions& g, const std::string& id, int signal, bool all);

Result<> delete_container(const GlobalOptions& g, const std::string& id, bool force);

struct ListEntry {
    ContainerState state;
    Status status;
};
Result<std::vector<ListEntry>> list_containers(const GlobalOptions& g);

// The pids (as seen from the host) of every process in the container.
Result<std::vector<pid_t>> container_pids(const GlobalOptions& g, const std::string& id);

Result<> pause_container(const GlobalOptions& g, const std::string& id);
Result<> resume_container(const GlobalOptions& g, const std::string& id);

// hibernate: freeze, then ask the kernel to take back the container's memory (memory.reclaim
// on v2, memory.force_empty on v1); `state` and `list` show it as hibernated until `wake` (or
// `resume`) thaws it. A running or paused container can be hibernated.
struct Hibernation {
    std::uint64_t memory_before = 0, memory_after = 0;  // bytes charged to the cgroup
    bool reclaimed = false;  // false: the kernel offers no reclaim here; memory untouched
};
Result<Hibernation> hibernate_container(const GlobalOptions& g, const std::string& id);
Result<> wake_container(const GlobalOptions& g, const std::string& id);

// activate: wake-on-connection. Owns the listening sockets and hands them to the container's
// process (LISTEN_FDS); the app accepts the connections itself. The container is created at
// once (from its bundle, or re-created when it exists created-but-not-started or stopped) and
// started by the first connection; after idle_timeout_ms with no open connection it is
// hibernated and the next connection thaws it; after stop_after_ms idle it is stopped and
// prepared again. Returns on SIGTERM or SIGINT, after stopping and deleting the container.
struct ActivateOptions {
    std::string id;
    std::string bundle;                // used when no container of that id exists
    std::string image, store;          // or: create it with --image (its volume layer stays)
    std::vector<std::string> listen;   // "tcp:HOST:PORT", "unix:PATH"
    unsigned idle_timeout_ms = 0;      // 0: never hibernate
    unsigned stop_after_ms = 0;        // 0: never stop
    unsigned stop_timeout_ms = 10000;  // SIGTERM to SIGKILL when stopping
    // Called with {"type": "listen"|"created"|"start"|"hibernate"|"wake"|"stop"|"exit", "id",
    // "time", ...}: "created" each time the container is ready for a first connection.
    std::function<void(const OrderedJson& event)> on_event;
};
Result<> activate_container(const GlobalOptions& g, const ActivateOptions& o);

struct ExecOptions {
    std::string id;
    std::optional<Json> process;  // a full process object (--process), else built from the fields
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
    std::string user;  // "uid[:gid]"
    std::vector<std::string> additional_gids;
    bool tty = false;
    bool detach = false;
    std::string pid_file;
    std::string console_socket;
    std::string pidfd_socket;
    unsigned preserve_fds = 0;
    bool no_new_privs = false;
    std::vector<std::string> caps;
    bool ignore_paused = false;    // --ignore-paused: exec into a paused container too
    std::string apparmor_profile;  // --apparmor
    std::string process_label;     // --process-label (SELinux)
};
// Returns the exit status in the foreground, 0 when detached.
Result<int> exec_in_container(const GlobalOptions& g, const ExecOptions& o);

// The runtime-spec "features" document for this build.
OrderedJson features();

// The version of the libseccomp wmrun was linked with ("2.5.4"), for --version and features.
std::string libseccomp_version();

// update: runc's `update`. `resources` is a linux.resources object; only the limits it sets are
// written. Fails when the container is stopped.
Result<> update_container(const GlobalOptions& g, const std::string& id, const Json& resources);

// runc's `events --stats`: {"type":"stats","id":..,"data":..} with data in runc's types.Stats
// layout. Fails when the container is stopped.
Result<OrderedJson> container_stats(const GlobalOptions& g, const std::string& id);

// runc's `events`: a stats event every interval_ms and an {"type":"oom"} event as soon as the
// OOM killer acts in the container. Returns when the container stops or `emit` returns false.
using EventSink = std::function<bool(const OrderedJson& event)>;
Result<> watch_events(const GlobalOptions& g, const std::string& id, unsigned interval_ms,
                      const EventSink& emit);

// --image: the bundle is <store>/containers/<id>/, its config.json made from the image config
// on top of the default spec and its rootfs an overlay of the image's layers under the
// container's volume layer (docs/image-store.md). delete unmounts it and keeps the volume layer.
struct ImageOptions {
    std::string image;              // name in the store
    std::string store;              // store root
    std::vector<std::string> args;  // replace the image's Cmd when not empty
    bool terminal = false;
};
Result<ContainerState> create_container_from_image(const GlobalOptions& g, CreateOptions o,
                                                   const ImageOptions& img);
Result<int> run_container_from_image(const GlobalOptions& g, CreateOptions o,
                                     const ImageOptions& img, const RunOptions& r);
// delete --volumes: deletes the container if it exists, then its volume layer in the store it
// was made from (or `store` when no state names one). ENOENT when neither exists.
Result<> delete_container_volumes(const GlobalOptions& g, const std::string& id, bool force,
                                  const std::string& store);

}  // namespace wmrun::runtime
