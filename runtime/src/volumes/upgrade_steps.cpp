// upgrade's steps: wmrun commands as children, stopping a container, readiness (upgrade_steps.hpp).
#include "volumes/upgrade_steps.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "process/process_setup.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/process.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

namespace {

int ms_until(UpgradeClock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - UpgradeClock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT32_MAX));
}

// Waits for `fd` to become readable until the deadline; false when it passed.
bool readable_by(int fd, UpgradeClock::time_point deadline) {
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, ms_until(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

Result<Status> status_of(const GlobalOptions& g, const std::string& id) {
    StateStore store(g.root);
    auto state = WM_TRY(store.load(id));
    return current_status(store, state);
}

}  // namespace

std::vector<std::string> command_beyond_image(const Json& config,
                                              const overlay::ContainerConfig& image) {
    std::vector<std::string> args;
    if (const Json* p = config.contains("process") ? &config["process"] : nullptr;
        p && p->contains("args") && (*p)["args"].is_array())
        for (const auto& a : (*p)["args"])
            if (a.is_string()) args.push_back(a.get<std::string>());
    std::vector<std::string> defaults = image.entrypoint;
    defaults.insert(defaults.end(), image.cmd.begin(), image.cmd.end());
    if (args == defaults) return {};
    auto n = std::min(args.size(), image.entrypoint.size());
    if (std::equal(image.entrypoint.begin(), image.entrypoint.begin() + long(n), args.begin()))
        args.erase(args.begin(), args.begin() + long(n));
    return args;
}

namespace {

Result<int> spawn_wmrun(const GlobalOptions& g, const std::vector<std::string>& global_args,
                        const std::vector<std::string>& args, const std::string& notify_socket,
                        UpgradeClock::time_point deadline, const std::string& what,
                        bool null_stdio) {
    std::vector<std::string> full = wmrun_argv(g);
    full.insert(full.end(), global_args.begin(), global_args.end());
    full.insert(full.end(), args.begin(), args.end());
    auto argv = c_strings(full);
    pid_t child = ::fork();
    if (child < 0) return sys_error("fork", what);
    if (child == 0) {
        if (notify_socket.empty())
            ::unsetenv("NOTIFY_SOCKET");
        else
            ::setenv("NOTIFY_SOCKET", notify_socket.c_str(), 1);
        if (null_stdio) {
            int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            for (int fd = 0; fd < 3; ++fd)
                ::dup2(null, fd);
        } else {
            // Our stdout is the command's report (--json); what a check prints goes with the
            // errors.
            ::dup2(2, 1);
        }
        sys::close_range(3, ~0U, 0);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    UniqueFd pidfd(sys::pidfd_open(child, 0));
    if (pidfd && !readable_by(pidfd.get(), deadline)) {
        ::kill(child, SIGKILL);
        wait_status(child);
        return fail(what, "", "did not finish in time", ETIMEDOUT);
    }
    return wait_status(child);
}

}  // namespace

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

Result<int> run_wmrun(const GlobalOptions& g, const std::vector<std::string>& args,
                      const std::string& notify_socket, UpgradeClock::time_point deadline,
                      const std::string& what) {
    return spawn_wmrun(g, {}, args, notify_socket, deadline, what, false);
}

Result<> create_detached(const GlobalOptions& g, const std::vector<std::string>& create_args,
                         const std::string& notify_socket, UpgradeClock::time_point deadline) {
    char log[] = "/tmp/wmrun-create-log-XXXXXX";
    UniqueFd logfd(::mkostemp(log, O_CLOEXEC));
    if (!logfd) return sys_error("mkstemp", log);
    std::string log_path = log;
    auto rc = spawn_wmrun(g, {"--log", log_path, "--log-format", "text"}, create_args,
                          notify_socket, deadline, "create", true);
    std::string text = read_file(log_path).value_or("");
    ::unlink(log_path.c_str());
    if (!rc) return std::unexpected(rc.error());
    if (*rc == 0) return {};
    // The log's last line is create's error (text format: time=... level=error msg="...").
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    std::string last =
        text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    auto msg = last.find("msg=");
    if (msg != std::string::npos) last = last.substr(msg + 4);
    if (last.size() >= 2 && last.front() == '"' && last.back() == '"')
        last = last.substr(1, last.size() - 2);
    return fail("", "", last.empty() ? "create failed (exit " + std::to_string(*rc) + ")" : last);
}

Result<> stop_processes(const GlobalOptions& g, const std::string& id,
                        std::int64_t stop_timeout_ms) {
    StateStore store(g.root);
    auto state = WM_TRY(store.load(id));
    Status status = current_status(store, state);
    if (status != Status::running && status != Status::paused) return {};
    if (status == Status::paused) WM_CHECK(resume_container(g, id));
    auto pidfd = open_process(state.pid, state.start_time);
    if (!pidfd) return {};  // exited meanwhile
    (void)kill_container(g, id, SIGTERM, false);
    auto deadline = UpgradeClock::now() + std::chrono::milliseconds(stop_timeout_ms);
    if (readable_by(pidfd->get(), deadline)) return {};
    (void)kill_container(g, id, SIGKILL, true);
    if (!readable_by(pidfd->get(), UpgradeClock::now() + std::chrono::seconds(10)))
        return fail("stop", id, "the container's init outlived SIGKILL for 10 s", ETIMEDOUT);
    return {};
}

Result<> stop_and_delete(const GlobalOptions& g, const std::string& id,
                         std::int64_t stop_timeout_ms) {
    if (auto s = StateStore(g.root).load(id); !s && s.error().err == ENOENT) return {};
    WM_CHECK(stop_processes(g, id, stop_timeout_ms));
    return delete_container(g, id, true);
}

NotifyListener::~NotifyListener() {
    if (path_.empty()) return;
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
}

Result<NotifyListener> NotifyListener::open() {
    char tmpl[] = "/tmp/wmrun-upgrade-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return sys_error("mkdtemp", tmpl);
    std::string dir = tmpl, path = dir + "/notify.sock";
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        auto err = sys_error("bind", path);
        ::rmdir(dir.c_str());
        return err;
    }
    return NotifyListener(std::move(fd), dir, path);
}

Result<bool> NotifyListener::wait_ready(UpgradeClock::time_point deadline) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, sizeof buf - 1, 0);
        if (n >= 0) {
            std::string text(buf, static_cast<std::size_t>(n));
            if (("\n" + text + "\n").find("\nREADY=1\n") != std::string::npos) return true;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return sys_error("recv", path_);
        if (!readable_by(fd_.get(), deadline)) return false;
    }
}

Result<> start_and_wait_ready(const GlobalOptions& g, const std::string& id, const ReadyCheck& r,
                              UpgradeClock::time_point deadline) {
    // With a notify socket, start itself waits for READY=1 and passes it on to ours.
    std::string notify = r.notify ? r.notify->path() : "";
    auto started = run_wmrun(g, {"start", id}, notify, deadline, "start");
    if (!started && r.notify && started.error().err == ETIMEDOUT)
        return fail("wait for READY=1", id, "not sent in time", ETIMEDOUT);
    if (!started) return std::unexpected(started.error());
    if (*started != 0) return fail("start", id, "failed (its error is above)");
    if (r.notify && !WM_TRY(r.notify->wait_ready(deadline)))
        return fail("wait for READY=1", id, "not sent in time", ETIMEDOUT);
    if (r.check.empty()) {
        // Nothing to ask: an app that dies at once dies within a second.
        auto settle = std::min(deadline, UpgradeClock::now() + std::chrono::seconds(1));
        std::this_thread::sleep_until(settle);
    }
    int last = -1;
    for (bool first = true; !r.check.empty(); first = false) {
        if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (WM_TRY(status_of(g, id)) != Status::running) break;
        if (UpgradeClock::now() >= deadline)
            return fail("--check", r.check,
                        "did not pass in time (last exit status " + std::to_string(last) + ")",
                        ETIMEDOUT);
        auto ran = run_wmrun(g, {"exec", id, "sh", "-c", r.check}, "", deadline, "--check");
        if (ran && *ran == 0) break;
        if (ran) last = *ran;
    }
    if (WM_TRY(status_of(g, id)) != Status::running)
        return fail("start", id, "the container exited right after it started");
    return {};
}

}  // namespace wmrun::runtime
