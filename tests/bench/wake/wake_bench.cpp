// Wake-on-connection latency: connect() to the first byte of the reply from the listen-server
// test app behind `wmrun activate`, for a running container (the floor), a hibernated one, and
// one that was stopped (prepared again by the activator, started by the connection). Started
// by tests/bench/wake/run; prints medians and p99 in microseconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string wmrun, bundle, root, id = "wake-bench";
    int count = 1000, cold_count = 100, idle_ms = 20, stop_ms = 30;
};

// `wmrun activate --events` as a child; its stdout is the event stream.
class Activator {
  public:
    Activator(const Options& o, const std::vector<std::string>& extra) {
        int pipefd[2];
        if (::pipe2(pipefd, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(pipefd[1], 1);
            std::vector<std::string> args = {o.wmrun,    "--root",   o.root,
                                             "activate", "--events", "--bundle",
                                             o.bundle,   "--listen", "tcp:127.0.0.1:0"};
            args.insert(args.end(), extra.begin(), extra.end());
            args.push_back(o.id);
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            _exit(127);
        }
        ::close(pipefd[1]);
        events_ = ::fdopen(pipefd[0], "r");
        std::string listen = wait_for("listen");
        auto pos = listen.find("\"port\":");
        if (pos == std::string::npos) throw std::runtime_error("no port in " + listen);
        port_ = std::atoi(listen.c_str() + pos + 7);
        wait_for("created");
    }
    ~Activator() {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        if (events_ != nullptr) std::fclose(events_);
    }

    // Reads events until one of `type` arrives; returns its line.
    std::string wait_for(const std::string& type) {
        std::string needle = "\"type\":\"" + type + "\"";
        char* line = nullptr;
        std::size_t cap = 0;
        while (::getline(&line, &cap, events_) > 0) {
            std::string text(line);
            if (text.find(needle) != std::string::npos) {
                std::free(line);
                return text;
            }
        }
        std::free(line);
        throw std::runtime_error("activator ended before a \"" + type + "\" event");
    }

    int port() const { return port_; }

  private:
    pid_t pid_ = -1;
    FILE* events_ = nullptr;
    int port_ = 0;
};

// Microseconds from connect() to the first byte read.
double first_byte_us(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto start = Clock::now();
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    char c;
    if (::recv(fd, &c, 1, 0) != 1) throw std::runtime_error("no reply");
    double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    ::close(fd);
    return us;
}

struct Summary {
    double median, p99, max;
};

Summary summarize(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto at = [&](double q) { return v[static_cast<std::size_t>(q * (v.size() - 1))]; };
    return {at(0.5), at(0.99), v.back()};
}

void report(const char* what, const std::vector<double>& v) {
    auto s = summarize(v);
    std::printf("%-34s n=%-5zu median %8.1f us   p99 %8.1f us   max %8.1f us\n", what, v.size(),
                s.median, s.p99, s.max);
    std::fflush(stdout);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--wmrun")
            o.wmrun = v;
        else if (k == "--bundle")
            o.bundle = v;
        else if (k == "--root")
            o.root = v;
        else if (k == "--count")
            o.count = std::stoi(v);
        else if (k == "--cold-count")
            o.cold_count = std::stoi(v);
        else if (k == "--idle-ms")
            o.idle_ms = std::stoi(v);
        else
            throw std::runtime_error("unknown option " + k);
    }
    if (o.wmrun.empty() || o.bundle.empty() || o.root.empty())
        throw std::runtime_error("usage: wake-bench --wmrun W --bundle B --root R [--count N]");
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    Options o = parse(argc, argv);
    std::vector<double> floor, frozen, cold;
    {
        Activator a(o, {});
        first_byte_us(a.port());  // starts it
        for (int i = 0; i < o.count; ++i)
            floor.push_back(first_byte_us(a.port()));
    }
    report("running (floor)", floor);
    {
        std::string idle = std::to_string(o.idle_ms) + "ms";
        Activator a(o, {"--idle-timeout", idle});
        first_byte_us(a.port());
        for (int i = 0; i < o.count; ++i) {
            a.wait_for("hibernate");
            frozen.push_back(first_byte_us(a.port()));
            a.wait_for("wake");
        }
    }
    report("hibernated (wake)", frozen);
    {
        std::string stop = std::to_string(o.stop_ms) + "ms";
        Activator a(o, {"--stop-after", stop, "--stop-timeout", "1s"});
        for (int i = 0; i < o.cold_count; ++i) {
            cold.push_back(first_byte_us(a.port()));
            a.wait_for("stop");
            a.wait_for("created");
        }
    }
    report("stopped, prepared (cold start)", cold);
    auto f = summarize(floor), z = summarize(frozen), c = summarize(cold);
    std::printf("wake over floor: median %.1f us, p99 %.1f us (target: p99 under 1000 us)\n",
                z.median - f.median, z.p99 - f.p99);
    std::printf("cold start to first byte: median %.1f us, p99 %.1f us (target: under 10000 us)\n",
                c.median, c.p99);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "wake-bench: %s\n", e.what());
    return 1;
}
