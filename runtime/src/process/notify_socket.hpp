// NOTIFY_SOCKET (sd_notify) through a container, as runc does it for podman's and systemd's
// Type=notify units: `create` gives the container a socket directory of its own (bind-mounted at
// /run/notify, NOTIFY_SOCKET=/run/notify/notify.sock in its environment); `start` binds the
// socket, lets the process run, waits for its READY=1 and passes it on to the caller's
// NOTIFY_SOCKET with MAINPID set to the container's init.
#pragma once

#include <sys/types.h>

#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

constexpr const char* kNotifyDirInContainer = "/run/notify";

// The caller's NOTIFY_SOCKET, or empty.
std::string host_notify_socket();

// create: makes <state_dir>/notify and adds its bind mount and the environment to the spec.
Result<> prepare_notify_socket(Spec& spec, const std::string& state_dir);

// start, before the process runs: the socket the container will send to.
Result<UniqueFd> bind_notify_socket(const std::string& state_dir);

// start, after: waits for a datagram with READY=1 (or for the init to exit, `pidfd`) and sends
// it on to `host_socket` with MAINPID=<pid>. Other messages before it are passed on as they
// come (STATUS=..., for instance).
Result<> forward_until_ready(int sock, int pidfd, pid_t pid, const std::string& host_socket);

}  // namespace wmrun::runtime
