#include "wmrun/base/process.hpp"

#include <sstream>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun {

namespace {

// Fields after the command name, which ends at the last ')'.
Result<std::string> stat_tail(const std::string& stat, const std::string& name) {
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 > stat.size())
        return fail("parse", name, "malformed stat line");
    return stat.substr(close + 2);
}

}  // namespace

Result<std::uint64_t> parse_stat_start_time(const std::string& stat) {
    auto tail = WM_TRY(stat_tail(stat, "stat"));
    std::istringstream in(tail);
    std::string field;
    // tail starts at field 3 (state); start time is field 22.
    for (int i = 3; i <= 22; ++i) {
        if (!(in >> field)) return fail("parse", "stat", "too few fields");
    }
    try {
        return std::stoull(field);
    } catch (...) {
        return fail("parse", "stat", "bad start time");
    }
}

Result<std::uint64_t> process_start_time(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    auto stat = WM_TRY(read_file(path));
    auto r = parse_stat_start_time(stat);
    if (!r) return fail("parse", path, r.error().detail);
    return r;
}

Result<char> process_state(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    auto stat = WM_TRY(read_file(path));
    auto tail = WM_TRY(stat_tail(stat, path));
    if (tail.empty()) return fail("parse", path, "no state");
    return tail[0];
}

Result<UniqueFd> open_process(pid_t pid, std::uint64_t start_time) {
    if (pid <= 0) return fail("open process", std::to_string(pid), "no such process", ESRCH);
    int fd = sys::pidfd_open(pid, 0);
    if (fd < 0) return sys_error("pidfd_open", std::to_string(pid));
    UniqueFd pidfd(fd);
    // Checked after pidfd_open: if the start time still matches now, the pidfd refers to the
    // process we recorded, and it can no longer be swapped for another.
    auto st = process_start_time(pid);
    if (!st || *st != start_time)
        return fail("open process", std::to_string(pid), "pid was reused", ESRCH);
    return pidfd;
}

bool process_alive(pid_t pid, std::uint64_t start_time) {
    // One read for both fields: stats asks this of every container.
    auto stat = read_one_record_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return false;
    auto st = parse_stat_start_time(*stat);
    if (!st || *st != start_time) return false;
    auto tail = stat_tail(*stat, "stat");
    return tail && !tail->empty() && (*tail)[0] != 'Z' && (*tail)[0] != 'X';
}

}  // namespace wmrun
