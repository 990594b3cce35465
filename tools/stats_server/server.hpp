// The HTTP side of `wmrun stats --serve`: /metrics (Prometheus text), /api/stats (the
// dashboard's JSON), / (the dashboard) and /chart.js (Debian's Chart.js, read from where
// libjs-chart.js installs it). cpp-httplib does the HTTP.
#pragma once

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/stats_serve.hpp"

namespace wmrun::stats_server {

struct ServerConfig {
    runtime::GlobalOptions global;
    runtime::ServeOptions serve;
    std::vector<std::string> ids;  // the containers to show; empty: all
    std::string chartjs_path;      // Chart.js's UMD build; a missing file is a 404
};

// Listens until SIGTERM or SIGINT, then returns. Prints "listening on http://ADDR:PORT/" once
// the socket is bound.
Result<> serve(const ServerConfig& config);

}  // namespace wmrun::stats_server
