#include "process/process_setup.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "process/procfs.hpp"
#include "process/sync.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/path.hpp"
#include "wmrun/base/syscall.hpp"
#include "wmrun/base/text.hpp"

namespace wmrun::runtime {

namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
    for (const auto& kv : env)
        if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
            return kv.substr(key.size() + 1);
    return {};
}

bool is_executable_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

// cpu lists as in cpuset: "0-3,7".
Result<cpu_set_t> parse_cpu_list(const std::string& list) {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::size_t pos = 0;
    while (pos < list.size()) {
        auto comma = list.find(',', pos);
        std::string part =
            list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? list.size() : comma + 1;
        if (part.empty()) continue;
        try {
            auto dash = part.find('-');
            int lo = std::stoi(part.substr(0, dash));
            int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
            if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) throw std::out_of_range("cpu");
            for (int c = lo; c <= hi; ++c)
                CPU_SET(c, &set);
        } catch (...) {
            return fail("execCPUAffinity", list, "bad cpu list");
        }
    }
    return set;
}

int io_class(const std::string& name) {
    if (name == "IOPRIO_CLASS_RT") return 1;
    if (name == "IOPRIO_CLASS_BE") return 2;
    if (name == "IOPRIO_CLASS_IDLE") return 3;
    return 0;
}

}  // namespace

void close_fds_except(unsigned first, std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned next = first;
    for (int fd : keep) {
        if (fd < 0 || static_cast<unsigned>(fd) < next) continue;
        if (static_cast<unsigned>(fd) > next)
            sys::close_range(next, static_cast<unsigned>(fd) - 1, 0);
        next = static_cast<unsigned>(fd) + 1;
    }
    sys::close_range(next, ~0U, 0);
}

std::vector<std::string> wmrun_argv(const GlobalOptions& g) {
    std::vector<std::string> argv = {"wmrun", "--root", g.root};
    if (g.systemd_cgroup) argv.push_back("--systemd-cgroup");
    argv.insert(argv.end(), {"--rootless", g.rootless ? "true" : "false"});
    return argv;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (const auto& s : v)
        out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

Result<std::string> find_executable(const Process& p) {
    // Worded as Go's exec.LookPath, which runc calls: clients match these words (docker and
    // podman turn "executable file not found" and "no such file or directory" into exit 127).
    const std::string& prog = p.args.at(0);
    std::string quoted = "\"" + prog + "\"";
    if (prog.find('/') != std::string::npos) {
        struct stat st {};
        if (::stat(prog.c_str(), &st) < 0) {
            int e = errno;
            return fail("exec", quoted, "stat " + prog + ": " + errno_text(e), e);
        }
        if (!is_executable_file(prog)) return sys_error("exec", quoted, EACCES);
        return prog;
    }
    std::string path = env_value(p.env, "PATH");
    if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto colon = path.find(':', pos);
        std::string dir =
            path.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
        pos = colon == std::string::npos ? path.size() + 1 : colon + 1;
        std::string candidate = (dir.empty() ? "." : dir) + "/" + prog;
        if (is_executable_file(candidate)) return candidate;
    }
    return fail("exec", quoted, "executable file not found in $PATH", ENOENT);
}

Result<> apply_rlimits(const Process& p) {
    for (const auto& r : p.rlimits) {
        rlimit lim{static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
        if (::setrlimit(r.resource, &lim) < 0) return sys_error("setrlimit", r.type);
    }
    return {};
}

namespace {

// "0-3,7" -> a node mask for set_mempolicy(2), and the number of bits it spans.
Result<std::pair<std::vector<unsigned long>, unsigned long>> node_mask(const std::string& list) {
    constexpr unsigned kMaxNode = 1024;
    constexpr unsigned kBits = 8 * sizeof(unsigned long);
    std::vector<unsigned long> mask(kMaxNode / kBits, 0);
    unsigned long highest = 0;
    for (const auto& part : split(list, ',')) {
        auto dash = part.find('-');
        char* end = nullptr;
        unsigned long lo = std::strtoul(part.c_str(), &end, 10), hi = lo;
        bool ok = !part.empty() && end != part.c_str();
        if (dash != std::string::npos) {
            const char* second = part.c_str() + dash + 1;
            hi = std::strtoul(second, &end, 10);
            ok = ok && end != second;
        }
        if (!ok || *end != '\0' || hi < lo || hi >= kMaxNode)
            return fail("memoryPolicy", list, "invalid node list", EINVAL);
        for (unsigned long n = lo; n <= hi; ++n)
            mask[n / kBits] |= 1UL << (n % kBits);
        highest = std::max(highest, hi);
    }
    return std::pair{std::move(mask), highest + 2};  // maxnode counts one past the last bit
}

Result<> apply_memory_policy(const MemoryPolicy& m) {
    static const std::pair<std::string_view, int> modes[] = {{"MPOL_DEFAULT", 0},
                                                             {"MPOL_PREFERRED", 1},
                                                             {"MPOL_BIND", 2},
                                                             {"MPOL_INTERLEAVE", 3},
                                                             {"MPOL_LOCAL", 4},
                                                             {"MPOL_PREFERRED_MANY", 5},
                                                             {"MPOL_WEIGHTED_INTERLEAVE", 6}};
    int mode = 0;
    for (auto [name, value] : modes)
        if (m.mode == name) mode = value;
    for (const auto& f : m.flags) {
        if (f == "MPOL_F_STATIC_NODES") mode |= 1 << 15;
        if (f == "MPOL_F_RELATIVE_NODES") mode |= 1 << 14;
        if (f == "MPOL_F_NUMA_BALANCING") mode |= 1 << 13;
    }
    std::pair<std::vector<unsigned long>, unsigned long> nodes;
    if (!m.nodes.empty()) nodes = WM_TRY(node_mask(m.nodes));
    if (::syscall(SYS_set_mempolicy, mode, nodes.first.empty() ? nullptr : nodes.first.data(),
                  nodes.second) < 0)
        return sys_error("set_mempolicy", m.mode + (m.nodes.empty() ? "" : " " + m.nodes));
    return {};
}

}  // namespace

Result<> apply_process_attributes(const Process& p, const Linux& l) {
    // runtime-spec 1.3: the policy every process of the container starts with.
    if (l.memory_policy) WM_CHECK(apply_memory_policy(*l.memory_policy));
    if (l.personality) {
        unsigned long persona = l.personality->domain == "LINUX32" ? PER_LINUX32 : PER_LINUX;
        if (::personality(persona) < 0) return sys_error("personality", l.personality->domain);
    }
    if (p.scheduler) {
        const auto& s = *p.scheduler;
        if (s.policy == "SCHED_DEADLINE")
            return fail("scheduler", s.policy, "not supported by this runtime yet", ENOTSUP);
        sched_param param{};
        param.sched_priority = s.priority;
        if (::sched_setscheduler(0, s.policy_value, &param) < 0)
            return sys_error("sched_setscheduler", s.policy);
        if (s.nice != 0 && ::setpriority(PRIO_PROCESS, 0, s.nice) < 0)
            return sys_error("setpriority", std::to_string(s.nice));
    }
    if (p.io_priority) {
        int value = (io_class(p.io_priority->io_class) << 13) | p.io_priority->priority;
        if (::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, value) < 0)
            return sys_error("ioprio_set", p.io_priority->io_class);
    }
    return {};
}

Result<> set_oom_score_adj(const Process& p, const std::string& pid) {
    if (!p.oom_score_adj) return {};
    auto proc = WM_TRY(Procfs::open_host());
    return proc.write(pid + "/oom_score_adj", std::to_string(*p.oom_score_adj));
}

Result<> apply_cpu_affinity(const std::string& list) {
    if (list.empty()) return {};
    auto set = WM_TRY(parse_cpu_list(list));
    if (::sched_setaffinity(0, sizeof set, &set) < 0) return sys_error("sched_setaffinity", list);
    return {};
}

Result<> apply_identity(const Process& p) {
    if (p.capabilities) {
        const auto& bounding = p.capabilities->bounding;
        for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
            if (std::find(bounding.begin(), bounding.end(), cap) != bounding.end()) continue;
            if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                return sys_error("drop bounding capability",
                                 cap_to_name(static_cast<cap_value_t>(cap)));
        }
    }
    // Keep the permitted set across the uid change so the configured sets can be applied after.
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return sys_error("prctl PR_SET_KEEPCAPS", "");
    const auto& u = p.user;
    if (::setgroups(u.additional_gids.size(), u.additional_gids.data()) < 0) {
        // setgroups is denied in a user namespace made by an unprivileged user.
        if (!(errno == EPERM && u.additional_gids.empty()))
            return sys_error("setgroups", std::to_string(u.additional_gids.size()) + " groups");
    }
    if (::setresgid(u.gid, u.gid, u.gid) < 0) return sys_error("setresgid", std::to_string(u.gid));
    if (::setresuid(u.uid, u.uid, u.uid) < 0) return sys_error("setresuid", std::to_string(u.uid));
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return sys_error("prctl PR_SET_KEEPCAPS", "");
    if (u.umask) ::umask(*u.umask);
    if (p.capabilities) {
        const auto& c = *p.capabilities;
        cap_t caps = cap_init();
        if (caps == nullptr) return sys_error("cap_init", "");
        auto set = [&](cap_flag_t flag, const std::vector<int>& list) {
            std::vector<cap_value_t> values(list.begin(), list.end());
            if (!values.empty())
                cap_set_flag(caps, flag, static_cast<int>(values.size()), values.data(), CAP_SET);
        };
        set(CAP_EFFECTIVE, c.effective);
        set(CAP_PERMITTED, c.permitted);
        set(CAP_INHERITABLE, c.inheritable);
        int rc = cap_set_proc(caps);
        int e = errno;
        cap_free(caps);
        if (rc < 0) return sys_error("set capabilities", "", e);
        if (cap_reset_ambient() < 0 && errno != EINVAL)
            return sys_error("reset ambient capabilities");
        // Raising needs the capability in both permitted and inheritable. runc's default spec
        // lists ambient capabilities without inheritable ones and runc ignores the failure;
        // doing the same keeps such configs running, with a trace in the debug log.
        for (int cap : c.ambient) {
            if (cap_set_ambient(static_cast<cap_value_t>(cap), CAP_SET) < 0)
                log::debug(fmt::format("raise ambient capability {}: {}",
                                       cap_to_name(static_cast<cap_value_t>(cap)),
                                       errno_text(errno)));
        }
    }
    if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sys_error("prctl PR_SET_NO_NEW_PRIVS", "");
    return {};
}

Result<> setup_console(const Process& p, int console_sock, bool bind_dev_console) {
    UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return sys_error("open", "/dev/ptmx");
    if (::unlockpt(master.get()) < 0) return sys_error("unlockpt", "/dev/ptmx");
    // The slave is opened through the master (TIOCGPTPEER) rather than by a path the container
    // could have swapped.
    UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return sys_error("open pty peer", "/dev/ptmx");
    if (p.console_size) {
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(p.console_size->height);
        ws.ws_col = static_cast<unsigned short>(p.console_size->width);
        ::ioctl(slave.get(), TIOCSWINSZ, &ws);
    }
    if (bind_dev_console) {
        UniqueFd console(::open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!console && errno == ENOENT) {
            int made =
                ::open("/dev/console", O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
            if (made >= 0) ::close(made);
            console.reset(::open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC));
        }
        if (console) {
            UniqueFd tree(
                ::open_tree(slave.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
            if (tree && ::move_mount(tree.get(), "", console.get(), "",
                                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return sys_error("bind console", "/dev/console");
        }
    }
    WM_CHECK(send_fd(console_sock, master.get(), "console master"));
    if (::setsid() < 0) return sys_error("setsid", "");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0) return sys_error("set controlling terminal", "");
    for (int fd = 0; fd <= 2; ++fd)
        if (::dup3(slave.get(), fd, 0) < 0) return sys_error("dup3", "console");
    return {};
}

}  // namespace wmrun::runtime
