#include "lifecycle/hooks.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>

#include "process/process_setup.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/syscall.hpp"

namespace wmrun::runtime {

namespace {

Result<> run_hook(const Hook& hook, const std::string& state, const char* stage,
                  std::size_t index) {
    std::string name = fmt::format("hooks.{}[{}] {}", stage, index, hook.path);
    int in[2];
    if (::pipe2(in, O_CLOEXEC) < 0) return sys_error("pipe", name);
    UniqueFd read_end(in[0]), write_end(in[1]);
    std::vector<std::string> args =
        hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
    auto argv = c_strings(args);
    auto envp = c_strings(hook.env);
    int pidfd = -1;
    clone_args ca{};
    ca.flags = CLONE_PIDFD;
    ca.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    ca.exit_signal = SIGCHLD;
    long pid = sys::clone3(&ca, sizeof ca);
    if (pid < 0) return sys_error("clone3", name);
    if (pid == 0) {
        ::dup2(read_end.get(), 0);
        sys::close_range(3, ~0U, 0);
        ::execve(hook.path.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    UniqueFd child(pidfd);
    read_end.reset();
    // A hook that does not read its stdin must not make us fail with EPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    (void)write_all(write_end.get(), state, name);
    write_end.reset();

    int timeout_ms = hook.timeout ? *hook.timeout * 1000 : -1;
    pollfd p{child.get(), POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        sys::pidfd_send_signal(child.get(), SIGKILL, nullptr, 0);
        ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
        return fail("run hook", name, fmt::format("timed out after {}s", *hook.timeout), ETIMEDOUT);
    }
    int status = 0;
    if (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0) return sys_error("wait", name);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return fail("run hook", name, "could not be executed", ENOENT);
    return fail("run hook", name,
                WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                  : fmt::format("killed by signal {}", WTERMSIG(status)));
}

}  // namespace

Result<> run_hooks(const std::vector<Hook>& hooks, const OrderedJson& state, const char* stage) {
    std::string text = state.dump();
    for (std::size_t i = 0; i < hooks.size(); ++i)
        WM_CHECK(run_hook(hooks[i], text, stage, i));
    return {};
}

void run_hooks_logging_failures(const std::vector<Hook>& hooks, const OrderedJson& state,
                                const char* stage) {
    std::string text = state.dump();
    for (std::size_t i = 0; i < hooks.size(); ++i) {
        if (auto r = run_hook(hooks[i], text, stage, i); !r) log::warn(r.error().message());
    }
}

}  // namespace wmrun::runtime
