#include "unified.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "cgroup_dir.hpp"

namespace wmrun::cgroups::detail {

namespace {

constexpr auto kFreezeTimeout = std::chrono::seconds(10);

std::set<std::string> words(const std::string& text) {
    std::set<std::string> out;
    std::istringstream in(text);
    for (std::string w; in >> w;)
        out.insert(w);
    return out;
}

// The "frozen" value of cgroup.events, read at offset 0 so the same fd can be polled again.
Result<bool> events_frozen(int fd, const std::string& path) {
    char buf[256];
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0) return sys_error("read", path);
    std::string_view text(buf, static_cast<std::size_t>(n));
    auto pos = text.find("frozen ");
    if (pos == std::string_view::npos || pos + 7 >= text.size())
        return fail("read", path, "no \"frozen\" entry");
    return text[pos + 7] == '1';
}

}  // namespace

namespace {

// The ancestors of `path` below `root`, root first, and then the cgroup itself.
std::vector<std::string> levels(const std::string& root, const std::string& path) {
    std::vector<std::string> out{root};
    for (std::size_t pos = 1; pos <= path.size();) {
        auto next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        out.push_back(root + path.substr(0, next));
        pos = next + 1;
    }
    return out;
}

void enable_in(const std::string& dir, const std::set<std::string>& wanted) {
    auto available = read_value(dir, "cgroup.controllers");
    if (!available) return;
    std::string all;
    for (const auto& c : words(*available))
        if (wanted.empty() || wanted.contains(c)) all += (all.empty() ? "+" : " +") + c;
    if (all.empty() || write_value(dir, "cgroup.subtree_control", all)) return;
    // One at a time, so that one refused controller does not block the others.
    for (const auto& c : words(*available))
        if (wanted.empty() || wanted.contains(c))
            (void)write_value(dir, "cgroup.subtree_control", "+" + c);
}

}  // namespace

Result<> UnifiedDir::create(bool delegate_all) const {
    auto dirs = levels(root_, path_);
    for (std::size_t i = 1; i < dirs.size(); ++i) {
        if (delegate_all) enable_in(dirs[i - 1], {});
        if (::mkdir(dirs[i].c_str(), 0755) < 0 && errno != EEXIST)
            return sys_error("mkdir", dirs[i]);
    }
    return {};
}

Result<> UnifiedDir::delegate(const std::set<std::string>& controllers) const {
    auto dirs = levels(root_, path_);
    for (std::size_t i = 0; i + 1 < dirs.size(); ++i)
        enable_in(dirs[i], controllers);
    for (const auto& c : controllers)
        if (!this->controllers().contains(c))
            return fail(c, dir(), "controller cannot be enabled for this cgroup", ENODEV);
    return {};
}

std::set<std::string> UnifiedDir::controllers() const {
    auto text = read_value(dir(), "cgroup.controllers");
    return text ? words(*text) : std::set<std::string>{};
}

bool UnifiedDir::can_freeze() const {
    return has_file(dir(), "cgroup.freeze");
}
bool UnifiedDir::can_kill() const {
    return has_file(dir(), "cgroup.kill");
}

Result<> UnifiedDir::set_frozen(bool want) const {
    std::string events_path = dir() + "/cgroup.events";
    // Opened before the write so that no change notification can be missed.
    int raw = ::open(events_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) return sys_error("open", events_path);
    UniqueFd events(raw);
    WM_CHECK(write_value(dir(), "cgroup.freeze", want ? "1" : "0"));
    auto deadline = std::chrono::steady_clock::now() + kFreezeTimeout;
    // kernfs sends at most one cgroup.events notification per file every 10 ms, so a state
    // reached just after the first read would wait for the next one: the file is read again
    // after short sleeps (20 us doubling to 1 ms), and POLLPRI still ends a sleep early.
    auto nap = std::chrono::microseconds(20);
    for (;;) {
        if (WM_TRY(events_frozen(events.get(), events_path)) == want) return {};
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return fail(want ? "freeze" : "thaw", dir(), "timed out waiting for cgroup.events",
                        ETIMEDOUT);
        auto wait = std::min(nap, left);
        timespec ts{static_cast<time_t>(wait.count() / 1000000),
                    static_cast<long>(wait.count() % 1000000) * 1000};
        pollfd pfd{events.get(), POLLPRI, 0};
        if (::ppoll(&pfd, 1, &ts, nullptr) < 0 && errno != EINTR)
            return sys_error("ppoll", events_path);
        nap = std::min(nap * 2, std::chrono::microseconds(1000));
    }
}

Result<bool> UnifiedDir::frozen() const {
    auto v = read_value(dir(), "cgroup.freeze");
    if (!v) return std::unexpected(v.error());
    return *v == "1";
}

Result<> UnifiedDir::kill() const {
    return write_value(dir(), "cgroup.kill", "1");
}

Result<> UnifiedDir::enter(pid_t pid) const {
    return write_pid(dir(), "cgroup.procs", pid);
}

Result<std::vector<pid_t>> UnifiedDir::pids() const {
    return read_pids_recursive(dir(), "cgroup.procs");
}

Result<UniqueFd> UnifiedDir::open_dir() const {
    // Not O_PATH: CLONE_INTO_CGROUP takes the fd through fdget(), which refuses O_PATH fds.
    int fd = ::open(dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", dir());
    return UniqueFd(fd);
}

Result<> UnifiedDir::destroy() const {
    return remove_cgroup(dir());
}

}  // namespace wmrun::cgroups::detail
