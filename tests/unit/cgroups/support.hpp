// Test scaffolding: a cgroup under a unique name that is removed from every hierarchy at the
// end of the test, whatever happened, with the child processes the test put into it.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../skip.hpp"
#include "cgroup_dir.hpp"
#include "layout.hpp"
#include "wmrun/cgroups/manager.hpp"

namespace cgtest {

// The value of a Result the test needs, or a failed test naming the error.
template <class T>
T ok(wmrun::Result<T> r) {
    if (!r) FAIL(r.error().message());
    return std::move(*r);
}
inline void ok(wmrun::Result<> r) {
    if (!r) FAIL(r.error().message());
}

inline std::string unique_path() {
    static int n = 0;
    return "/wmrun-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

enum class Needs { v1, v2 };

// Why the host cannot run a test that needs v1 controllers (a hybrid or legacy host) or a
// cgroup2 hierarchy (a unified or hybrid host), or empty. A layout that cannot be read fails
// the test: that is an error of the code under test, not something the host lacks.
inline std::string missing_feature(Needs needs) {
    using wmrun::cgroups::Layout;
    if (::geteuid() != 0) return "needs root";
    Layout layout = ok(wmrun::cgroups::detect_layout());
    if (needs == Needs::v1 && layout == Layout::unified)
        return "needs v1 controllers; this host has cgroup v2 only";
    if (needs == Needs::v2 && layout == Layout::legacy)
        return "needs a cgroup2 hierarchy; this host has cgroup v1 only";
    return {};
}

// The cgroup2 mount point of a host where missing_feature(Needs::v2) is empty.
inline std::string v2_root() {
    using wmrun::cgroups::Layout;
    return ok(wmrun::cgroups::detect_layout()) == Layout::unified
               ? wmrun::cgroups::detail::kCgroupRoot
               : wmrun::cgroups::detail::kHybridUnifiedRoot;
}

// Declares `root`, the host's cgroup2 mount point, or skips the test case.
#define CGTEST_V2_ROOT_OR_SKIP(root)                                                          \
    if (auto why = cgtest::missing_feature(cgtest::Needs::v2); !why.empty()) WMRUN_SKIP(why); \
    std::string root = cgtest::v2_root()

class Guard {
  public:
    explicit Guard(std::string path) : path_(std::move(path)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
        if (manager) {
            (void)manager->thaw();
            (void)manager->kill_all(SIGKILL);
        }
        for (pid_t pid : children_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (manager) (void)manager->destroy();
        // Whatever the driver missed: the same path in every hierarchy of the host.
        using namespace wmrun::cgroups::detail;
        if (auto mounts = v1_mounts())
            for (const auto& [controller, mount_point] : *mounts)
                (void)remove_cgroup(mount_point + path_);
        (void)remove_cgroup(std::string(kHybridUnifiedRoot) + path_);
        (void)remove_cgroup(std::string(kCgroupRoot) + path_);
    }

    const std::string& path() const { return path_; }

    // A child running `body` (default: sleep forever); killed and reaped by the guard.
    pid_t spawn(std::function<void()> body = {}) {
        // Signals stay blocked until the child has dropped the test framework's handlers, which
        // would otherwise report a signal that arrives early as a failure of the child.
        sigset_t all, old;
        sigfillset(&all);
        ::sigprocmask(SIG_BLOCK, &all, &old);
        pid_t pid = ::fork();
        if (pid == 0) {
            for (int sig : {SIGTERM, SIGINT, SIGSEGV, SIGABRT, SIGILL, SIGFPE, SIGBUS})
                ::signal(sig, SIG_DFL);
            ::sigprocmask(SIG_SETMASK, &old, nullptr);
            if (body) body();
            for (;;)
                ::pause();
        }
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (pid > 0) children_.push_back(pid);
        return pid;
    }
    void reaped(pid_t pid) { std::erase(children_, pid); }
    void adopt(pid_t pid) { children_.push_back(pid); }

    std::unique_ptr<wmrun::cgroups::Manager> manager;

  private:
    std::string path_;
    std::vector<pid_t> children_;
};

// Puts a hierarchy root's cgroup.subtree_control back as it was; declared before the Guard so
// that it runs after the test's cgroups are gone.
class SubtreeRestore {
  public:
    explicit SubtreeRestore(std::string root) : root_(std::move(root)) {
        auto v = wmrun::cgroups::detail::read_value(root_, "cgroup.subtree_control");
        before_ = v ? " " + *v + " " : "";
    }
    ~SubtreeRestore() {
        auto now = wmrun::cgroups::detail::read_value(root_, "cgroup.subtree_control");
        if (!now) return;
        std::string word;
        for (std::size_t i = 0; i <= now->size(); ++i) {
            if (i < now->size() && (*now)[i] != ' ') {
                word += (*now)[i];
                continue;
            }
            if (!word.empty() && before_.find(" " + word + " ") == std::string::npos)
                (void)wmrun::cgroups::detail::write_value(root_, "cgroup.subtree_control",
                                                          "-" + word);
            word.clear();
        }
    }

  private:
    std::string root_, before_;
};

// Polls `done` for up to two seconds: other work on the machine may delay a woken process.
inline bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
        if (done()) return true;
        ::usleep(5000);
    }
    return done();
}

inline std::string cgroup_file(const std::string& dir, const std::string& file) {
    auto v = wmrun::cgroups::detail::read_value(dir, file);
    return v ? *v : "<" + v.error().message() + ">";
}

}  // namespace cgtest
