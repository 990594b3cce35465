#include "process/sysctl.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "process/procfs.hpp"

namespace wmrun::runtime {

namespace {

// The System V IPC sysctls are per IPC namespace (ipc_namespaces(7)); fs.mqueue.* too.
constexpr std::array<std::string_view, 8> kIpcSysctls = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",         "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};

// sysctl(8) takes either separator; the kernel's /proc/sys path is the slashed form.
std::string dotted(const std::string& key) {
    std::string out = key;
    std::replace(out.begin(), out.end(), '/', '.');
    return out;
}

// A namespace of the container's own: a new one, or one joined by path that is not the
// namespace `wmrun create` runs in (the host's, as runc compares it).
bool has_own_namespace(const Linux& l, NamespaceType type) {
    const Namespace* ns = l.find_namespace(type);
    if (ns == nullptr) return false;
    if (ns->path.empty()) return true;
    struct stat theirs {}, ours {};
    std::string self = std::string("/proc/self/ns/") + namespace_name(type);
    if (::stat(ns->path.c_str(), &theirs) < 0 || ::stat(self.c_str(), &ours) < 0) return false;
    return theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
}

// The path below /proc/sys: sysctl(8) takes dots or slashes; with slashes, dots are part of
// names (net/ipv4/conf/eth0.1/rp_filter).
std::string proc_path(const std::string& key) {
    std::string out = key;
    if (key.find('/') == std::string::npos) std::replace(out.begin(), out.end(), '.', '/');
    return out;
}

Result<> check_one(const Linux& l, const std::string& given) {
    std::string key = dotted(given);
    auto refuse = [&](const std::string& why) {
        return fail("linux.sysctl", given, why, EINVAL);
    };
    // Each component is a plain name: nothing may climb out of /proc/sys.
    std::string path = proc_path(given);
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t end = std::min(path.find('/', start), path.size());
        std::string_view part(path.data() + start, end - start);
        if (part.empty() || part == "." || part == "..") return refuse("is not a sysctl name");
        start = end + 1;
    }
    bool ipc = std::find(kIpcSysctls.begin(), kIpcSysctls.end(), key) != kIpcSysctls.end() ||
               key.starts_with("fs.mqueue.");
    if (ipc) {
        if (has_own_namespace(l, NamespaceType::ipc)) return {};
        return refuse("is not allowed in the host's IPC namespace");
    }
    if (key.starts_with("net.")) {
        if (has_own_namespace(l, NamespaceType::network)) return {};
        return refuse("is not allowed in the host's network namespace");
    }
    if (key == "kernel.domainname" || key == "kernel.hostname") {
        if (!has_own_namespace(l, NamespaceType::uts))
            return refuse("is not allowed in the host's UTS namespace");
        if (key == "kernel.hostname")
            return refuse("conflicts with the config's hostname field: set that instead");
        return {};
    }
    return refuse("is not in a namespace of the container's own: it would change the host");
}

}  // namespace

Result<> check_sysctls(const Linux& l) {
    for (const auto& [key, value] : l.sysctl)
        WM_CHECK(check_one(l, key));
    return {};
}

Result<> apply_sysctls(const std::map<std::string, std::string>& sysctl) {
    if (sysctl.empty()) return {};
    // A private instance: a bind mount or symlink planted over a /proc/sys file of the
    // container's cannot redirect the write (CVE-2025-52881 class). /proc/sys/net shows the
    // network namespace of the writer, which is the container's.
    auto proc = WM_TRY(Procfs::open());
    for (const auto& [key, value] : sysctl) {
        if (auto r = proc.write("sys/" + proc_path(key), value); !r)
            return std::unexpected(with_context(r.error(), "sysctl " + key));
    }
    return {};
}

}  // namespace wmrun::runtime
