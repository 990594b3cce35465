// Logging in runc's forms, so containerd's shim and podman can read it: logrus text
// (time="..." level=error msg="...") or JSON lines ({"level":"error","msg":"...","time":"..."}).
// Without --log, lines go to stderr. The library logs; only tools/ prints command errors.
#pragma once

#include <string>
#include <string_view>

namespace wmrun::log {

enum class Level { debug, info, warning, error };
enum class Format { text, json };

// `path` empty means stderr. Returns false (and keeps stderr) when the file cannot be opened.
bool init(const std::string& path, Format format, bool debug);
void write(Level level, std::string_view msg);
bool debug_enabled();
// True when a --log file was given: command errors then go to it as well as to stderr.
bool to_file();

inline void debug(std::string_view msg) {
    if (debug_enabled()) write(Level::debug, msg);
}
inline void info(std::string_view msg) {
    write(Level::info, msg);
}
inline void warn(std::string_view msg) {
    write(Level::warning, msg);
}
inline void error(std::string_view msg) {
    write(Level::error, msg);
}

// Now in UTC as RFC 3339 with nanoseconds, the form of runc's log lines and state files.
std::string rfc3339_now();

// The line as it would be written, without the newline; exposed for tests.
std::string format_line(Format format, Level level, std::string_view msg, std::string_view time);

}  // namespace wmrun::log
