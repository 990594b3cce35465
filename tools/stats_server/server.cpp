// stats --serve: routes on cpp-httplib's server. Every figure comes from runtime's collection
// and renderers; this file only maps requests to them and checks the bearer token.
#include "server.hpp"

#include <malloc.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "wmrun/base/fs.hpp"
#include "wmrun/runtime/stats.hpp"
#include "wmrun/runtime/stats_format.hpp"

namespace wmrun::stats_server {

extern const char kDashboardHtml[];
extern const std::size_t kDashboardHtmlSize;

namespace {

constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

// The page and the chart library hold no figures: they load without a token, so that a browser
// can open the dashboard and hand the token (from the URL's #fragment, which it never sends)
// to the data requests.
bool needs_token(const std::string& path) {
    return path != "/" && path != "/chart.js";
}

// Hands the text to cpp-httplib without the copy that set_content makes (a scrape of a
// thousand containers is a few MiB).
void send_text(httplib::Response& res, std::string text, const char* type) {
    auto body = std::make_shared<const std::string>(std::move(text));
    res.set_content_provider(body->size(), type,
                             [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 return sink.write(body->data() + offset, length);
                             });
}

class Routes {
  public:
    explicit Routes(const ServerConfig& c) : c_(c), sampler_(c.global, c.ids) {}

    void install(httplib::Server& s) {
        s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            return authorize(req, res);
        });
        s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            metrics(res);
        });
        s.Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
            api_stats(res);
        });
        s.Get("/", [](const httplib::Request&, httplib::Response& res) {
            res.set_header("Cache-Control", "no-store");
            res.set_content(std::string(kDashboardHtml, kDashboardHtmlSize),
                            "text/html; charset=utf-8");
        });
        s.Get("/chart.js", [this](const httplib::Request&, httplib::Response& res) {
            chartjs(res);
        });
    }

  private:
    const ServerConfig& c_;
    std::mutex mu_;  // one collection at a time: the sampler keeps the previous reading
    runtime::StatsSampler sampler_;

    httplib::Server::HandlerResponse authorize(const httplib::Request& req,
                                               httplib::Response& res) {
        if (c_.serve.token.empty() || !needs_token(req.path))
            return httplib::Server::HandlerResponse::Unhandled;
        if (runtime::bearer_matches(req.get_header_value("Authorization"), c_.serve.token))
            return httplib::Server::HandlerResponse::Unhandled;
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer realm=\"wmrun\"");
        res.set_content("401 unauthorized: a bearer token is required\n", "text/plain");
        return httplib::Server::HandlerResponse::Handled;
    }

    static void failed(httplib::Response& res, const Error& e) {
        res.status = 500;
        res.set_content("wmrun stats: " + e.message() + "\n", "text/plain");
    }

    void metrics(httplib::Response& res) {
        std::lock_guard lock(mu_);
        auto stats = runtime::collect_stats(c_.global, c_.ids);
        if (!stats) return failed(res, stats.error());
        send_text(res, runtime::stats_prometheus(*stats), kPrometheusType);
    }

    void api_stats(httplib::Response& res) {
        std::lock_guard lock(mu_);
        auto stats = sampler_.next();
        if (!stats) return failed(res, stats.error());
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch());
        OrderedJson doc{{"time", now.count()}, {"containers", runtime::stats_json(*stats)}};
        res.set_header("Cache-Control", "no-store");
        send_text(res, doc.dump(), "application/json");
    }

    void chartjs(httplib::Response& res) {
        auto text = read_file(c_.chartjs_path);
        if (!text) {
            res.status = 404;
            res.set_content("Chart.js is not installed (libjs-chart.js): " + c_.chartjs_path +
                                "\n",
                            "text/plain");
            return;
        }
        res.set_header("Cache-Control", "max-age=3600");
        res.set_content(std::move(*text), "text/javascript");
    }
};

}  // namespace

Result<> serve(const ServerConfig& config) {
    // Blocked before the server's threads start, so that they inherit the mask and only the
    // waiting thread takes these signals.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    // A scrape of a thousand containers builds a few MiB of figures and text, then frees them;
    // glibc would keep that memory in an arena per server thread and on its heap. One arena
    // (collections take turns anyway) and a trim once each response is out (cpp-httplib calls
    // the logger after writing it) keep the resident size near what one scrape needs.
    ::mallopt(M_ARENA_MAX, 1);
    httplib::Server server;
    server.set_logger([](const httplib::Request&, const httplib::Response&) { ::malloc_trim(0); });
    server.set_address_family(config.serve.host.find(':') == std::string::npos ? AF_INET
                                                                               : AF_INET6);
    // SO_REUSEADDR only: cpp-httplib's default, SO_REUSEPORT, lets a second server of the
    // same user bind the port too and take half of its connections.
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    Routes routes(config);
    routes.install(server);
    std::string where = config.serve.host.find(':') == std::string::npos
                            ? fmt::format("{}:{}", config.serve.host, config.serve.port)
                            : fmt::format("[{}]:{}", config.serve.host, config.serve.port);
    if (!server.bind_to_port(config.serve.host, config.serve.port))
        return fail("listen", where, "cannot bind (address in use or not on this host)",
                    EADDRINUSE);
    std::printf("listening on http://%s/\n", where.c_str());
    std::fflush(stdout);
    std::thread stopper([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        server.stop();
    });
    bool ok = server.listen_after_bind();
    // listen_after_bind returns only after stop(), unless the server failed on its own: then
    // the waiting thread is woken with a signal of its set.
    if (server.is_running() || !ok) ::kill(::getpid(), SIGTERM);
    stopper.join();
    if (!ok) return fail("serve", where, "the HTTP server stopped with an error");
    return {};
}

}  // namespace wmrun::stats_server
