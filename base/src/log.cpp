#include "wmrun/base/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace wmrun::log {

namespace {

struct State {
    int fd = STDERR_FILENO;
    Format format = Format::text;
    bool debug = false;
    bool file = false;
} g_log;

const char* level_name(Level level) {
    switch (level) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::warning:
            return "warning";
        case Level::error:
            return "error";
    }
    return "info";
}

}  // namespace

std::string rfc3339_now() {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()) %
                 std::chrono::seconds(1);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:09d}Z", buf, nanos.count());
}

namespace {

// logrus quotes a value when it has spaces or quotes, escaping as Go's %q does.
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

}  // namespace

bool init(const std::string& path, Format format, bool debug) {
    g_log.format = format;
    g_log.debug = debug;
    if (path.empty()) return true;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    g_log.fd = fd;
    g_log.file = true;
    return true;
}

bool debug_enabled() {
    return g_log.debug;
}
bool to_file() {
    return g_log.file;
}

std::string format_line(Format format, Level level, std::string_view msg, std::string_view time) {
    if (format == Format::json) {
        nlohmann::ordered_json j;
        j["level"] = level_name(level);
        j["msg"] = msg;
        j["time"] = time;
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return fmt::format("time=\"{}\" level={} msg={}", time, level_name(level), quote(msg));
}

void write(Level level, std::string_view msg) {
    std::string line = format_line(g_log.format, level, msg, rfc3339_now()) + "\n";
    // One write per line so concurrent writers to an O_APPEND log do not interleave.
    [[maybe_unused]] auto n = ::write(g_log.fd, line.data(), line.size());
}

}  // namespace wmrun::log
