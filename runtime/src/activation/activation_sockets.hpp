// The listening sockets of socket activation: opened by `wmrun activate`, inherited by the
// container's process as fds 3.. (systemd's LISTEN_FDS convention), and watched by the activator
// to tell an idle app from a busy one without touching the connections themselves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

struct Listener {
    UniqueFd fd;
    std::string spec;        // as given: "tcp:127.0.0.1:8080", "unix:/run/app.sock"
    std::string name;        // its LISTEN_FDNAMES entry
    int family = 0;          // AF_INET, AF_INET6 or AF_UNIX
    std::uint16_t port = 0;  // tcp: the bound port (the kernel's choice for port 0)
    std::string path;        // unix
};

// Parses "tcp:HOST:PORT" ("[v6addr]" for IPv6, an empty HOST for every address) or
// "unix:PATH", and binds and listens. A stale unix socket file is replaced; any other file at
// PATH is an error.
Result<Listener> open_listener(const std::string& spec);

// Connections kept open by the app or waiting for it: those queued on a listener, plus the
// accepted ones not yet closed (sock_diag: TCP established, close-wait and half-open; unix
// stream sockets connected under the listener's path).
Result<std::size_t> open_connections(const std::vector<Listener>& listeners);

// True when a connection waits in some listener's accept queue.
bool connection_pending(const std::vector<Listener>& listeners);

}  // namespace wmrun::runtime
