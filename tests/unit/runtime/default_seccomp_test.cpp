// The seccomp profile of `wmrun spec`: it parses with the runtime's own parser, libseccomp
// compiles it, and once loaded (in a child, never in the test process) it denies what an
// escape needs while a normal program still runs.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <set>
#include <string>

#include "../../../runtime/src/process/seccomp.hpp"
#include "wmrun/runtime/spec.hpp"

using namespace wmrun;
using namespace wmrun::runtime;

namespace {

Seccomp default_profile(bool rootless) {
    auto s = parse_spec(Json::parse(default_spec(rootless, 1000, 1000).dump()));
    INFO((s ? std::string() : s.error().message()));
    REQUIRE(s);
    REQUIRE(s->linux_->seccomp);
    return *s->linux_->seccomp;
}

std::set<std::string> allowed_unconditionally(const Seccomp& s) {
    std::set<std::string> out;
    for (const auto& sc : s.syscalls)
        if (sc.action == "SCMP_ACT_ALLOW" && sc.args.empty())
            out.insert(sc.names.begin(), sc.names.end());
    return out;
}

// Runs body in a child that loads the profile first; body returns the child's exit code,
// errno values above all. -1 from the helper means the profile did not load.
int in_filtered_child(const Seccomp& s, const std::function<int()>& body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (!load_seccomp(s)) ::_exit(250);
        ::_exit(body());
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

// errno of a raw syscall, or 0 when it succeeded.
int errno_of(long rc) {
    return rc < 0 ? errno : 0;
}

}  // namespace

TEST_CASE("the default profile is an allow list with EPERM for everything else") {
    for (bool rootless : {false, true}) {
        INFO("rootless " << rootless);
        Seccomp s = default_profile(rootless);
        CHECK(s.default_action == "SCMP_ACT_ERRNO");
        CHECK(s.default_errno_ret == 1u);
        CHECK(s.architectures ==
              std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"});
        auto allowed = allowed_unconditionally(s);
        CHECK(allowed.size() > 300);
        for (const char* normal : {"read", "write", "openat", "execve", "mmap", "futex",
                                   "rt_sigreturn", "exit_group", "wait4", "getdents64"})
            CHECK(allowed.count(normal) == 1);
        for (const char* danger : {"mount",
                                   "umount2",
                                   "ptrace",
                                   "kexec_load",
                                   "kexec_file_load",
                                   "bpf",
                                   "keyctl",
                                   "add_key",
                                   "request_key",
                                   "init_module",
                                   "finit_module",
                                   "delete_module",
                                   "open_by_handle_at",
                                   "perf_event_open",
                                   "userfaultfd",
                                   "unshare",
                                   "setns",
                                   "clone",
                                   "clone3",
                                   "swapon",
                                   "swapoff",
                                   "reboot",
                                   "pivot_root",
                                   "acct",
                                   "quotactl",
                                   "syslog",
                                   "fsopen",
                                   "fsmount",
                                   "move_mount",
                                   "open_tree",
                                   "chroot",
                                   "process_vm_writev",
                                   "socket",
                                   "personality"})
            CHECK(allowed.count(danger) == 0);
    }
}

TEST_CASE("clone is allowed only without namespace flags, clone3 answers ENOSYS") {
    Seccomp s = default_profile(false);
    auto clone = std::find_if(s.syscalls.begin(), s.syscalls.end(), [](const auto& sc) {
        return sc.names == std::vector<std::string>{"clone"};
    });
    REQUIRE(clone != s.syscalls.end());
    CHECK(clone->action == "SCMP_ACT_ALLOW");
    REQUIRE(clone->args.size() == 1);
    CHECK(clone->args[0].index == 0);
    CHECK(clone->args[0].op == "SCMP_CMP_MASKED_EQ");
    CHECK(clone->args[0].value == 0x7E020000u);  // every CLONE_NEW* flag
    CHECK(clone->args[0].value_two == 0);
    auto clone3 = std::find_if(s.syscalls.begin(), s.syscalls.end(), [](const auto& sc) {
        return sc.names == std::vector<std::string>{"clone3"};
    });
    REQUIRE(clone3 != s.syscalls.end());
    CHECK(clone3->action == "SCMP_ACT_ERRNO");
    CHECK(clone3->errno_ret == unsigned{ENOSYS});
}

TEST_CASE("loaded, the default profile denies escapes and keeps a process working") {
    Seccomp s = default_profile(false);
    CHECK(in_filtered_child(s, [] { return 0; }) == 0);
    CHECK(in_filtered_child(
              s, [] { return errno_of(::mount("none", "/tmp", "tmpfs", 0, nullptr)); }) == EPERM);
    CHECK(in_filtered_child(s, [] { return errno_of(::unshare(CLONE_NEWUSER)); }) == EPERM);
    CHECK(in_filtered_child(s, [] { return errno_of(::syscall(SYS_ptrace, 0, 0, 0, 0)); }) ==
          EPERM);
    CHECK(in_filtered_child(s, [] { return errno_of(::syscall(SYS_keyctl, 0, 0, 0, 0)); }) ==
          EPERM);
    CHECK(in_filtered_child(s, [] { return errno_of(::syscall(SYS_bpf, 0, 0, 0)); }) == EPERM);
    CHECK(in_filtered_child(s, [] {
              clone_args args{};
              args.flags = CLONE_NEWUSER;
              return errno_of(::syscall(SYS_clone3, &args, sizeof args));
          }) == ENOSYS);
    // clone with a namespace flag fails; the plain fork that glibc falls back to works.
    CHECK(in_filtered_child(s, [] {
              return errno_of(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
          }) == EPERM);
    CHECK(in_filtered_child(s, [] {
              pid_t pid = ::fork();
              if (pid == 0) ::_exit(7);
              int status = 0;
              if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return 100;
              return WEXITSTATUS(status);
          }) == 7);
    CHECK(in_filtered_child(s, [] {
              int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
              char buf[64];
              bool ok = fd >= 0 && ::read(fd, buf, sizeof buf) > 0;
              return ok ? 0 : 100;
          }) == 0);
}

TEST_CASE("a custom errnoRet on one syscall is what that syscall returns") {
    Seccomp s = default_profile(false);
    // Out of the allow list first: libseccomp refuses two rules for one syscall.
    for (auto& sc : s.syscalls)
        std::erase(sc.names, std::string("getppid"));
    s.syscalls.push_back(SeccompSyscall{{"getppid"}, "SCMP_ACT_ERRNO", 42u, {}});
    CHECK(in_filtered_child(s, [] { return errno_of(::syscall(SYS_getppid)); }) == 42);
}
