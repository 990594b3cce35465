// wmrun-stats-server: what `wmrun stats --serve` execs. A program of its own because Debian's
// cpp-httplib is a shared library, while wmrun is linked statically for the speed of create
// (meson.build); wmrun checks the flags first and passes them on unchanged.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "server.hpp"
#include "wmrun/base/log.hpp"

#ifndef WMRUN_CHARTJS_PATH
#error "WMRUN_CHARTJS_PATH: where libjs-chart.js installs its UMD build"
#endif

int main(int argc, char** argv) {
    using namespace wmrun;
    CLI::App app{"serve wmrun's container statistics over HTTP (run by `wmrun stats --serve`)",
                 "wmrun-stats-server"};
    stats_server::ServerConfig config;
    std::string listen, token_file;
    bool allow_remote = false;
    app.add_option("--root", config.global.root, "root directory for container state")
        ->required();
    app.add_option("--listen", listen, "ADDR:PORT")->required();
    app.add_flag("--allow-remote", allow_remote, "listen on a non-loopback address");
    app.add_option("--token-file", token_file, "file holding the bearer token");
    app.add_option("container-id", config.ids, "containers to show (default: all)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        std::fprintf(stderr, "wmrun: stats: %s\n", e.what());
        return 1;
    }
    config.chartjs_path = WMRUN_CHARTJS_PATH;
    auto serve = runtime::serve_options(listen, allow_remote, token_file);
    if (!serve) {
        std::fprintf(stderr, "wmrun: stats: %s\n", serve.error().message().c_str());
        return 1;
    }
    config.serve = std::move(*serve);
    if (auto r = stats_server::serve(config); !r) {
        std::fprintf(stderr, "wmrun: stats: %s\n", r.error().message().c_str());
        return 1;
    }
    return 0;
}
