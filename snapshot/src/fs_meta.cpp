#include "fs_meta.hpp"
#include "wmrun/base/unique_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include <algorithm>

namespace wmrun::snapshot {

std::string fd_path(int dirfd, const std::string& name) {
    return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

Result<std::vector<std::pair<std::string, std::string>>> read_xattrs(const std::string& path) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string names;
    for (;;) {  // the list can grow between the size query and the read
        ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
        if (n < 0) {
            if (errno == ENOTSUP) return out;
            return sys_error("llistxattr", path);
        }
        names.resize(size_t(n));
        n = ::llistxattr(path.c_str(), names.data(), names.size());
        if (n >= 0) {
            names.resize(size_t(n));
            break;
        }
        if (errno != ERANGE) return sys_error("llistxattr", path);
    }
    for (size_t pos = 0; pos < names.size();) {
        std::string name(names.c_str() + pos);
        pos += name.size() + 1;
        std::string value;
        for (;;) {
            ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
            if (n < 0) {
                if (errno == ENODATA) break;  // removed since listed
                return sys_error("lgetxattr " + name, path);
            }
            value.resize(size_t(n));
            n = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
            if (n >= 0) {
                value.resize(size_t(n));
                out.emplace_back(std::move(name), std::move(value));
                break;
            }
            if (errno != ERANGE) return sys_error("lgetxattr " + name, path);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

// Generic syscall numbers (the same on every architecture since 424); older headers lack them.
constexpr long kGetxattrat = 464;
constexpr long kListxattrat = 465;

struct XattrArgs {  // struct xattr_args of <linux/xattr.h>
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

std::atomic<bool> no_xattrat{false};  // set once the kernel answered ENOSYS

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> read_xattrs_at(int dirfd,
                                                                        const std::string& name) {
    if (no_xattrat.load(std::memory_order_relaxed))
        return read_xattrs(name.empty() ? "/proc/self/fd/" + std::to_string(dirfd)
                                        : fd_path(dirfd, name));
    const unsigned flags = AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0);
    auto path = [&] { return fd_path(dirfd, name); };
    std::vector<std::pair<std::string, std::string>> out;
    char small[512];
    std::string names;
    ssize_t n = ::syscall(kListxattrat, dirfd, name.c_str(), flags, small, sizeof small);
    if (n < 0 && errno == ENOSYS) {
        no_xattrat.store(true, std::memory_order_relaxed);
        return read_xattrs_at(dirfd, name);
    }
    if (n < 0 && errno == ENOTSUP) return out;
    if (n >= 0) {
        names.assign(small, size_t(n));
    } else {
        for (;;) {  // longer than the buffer: ask the size; the list can grow in between
            if (errno != ERANGE) return sys_error("llistxattr", path());
            n = ::syscall(kListxattrat, dirfd, name.c_str(), flags, nullptr, 0);
            if (n < 0) return sys_error("llistxattr", path());
            names.resize(size_t(n));
            n = ::syscall(kListxattrat, dirfd, name.c_str(), flags, names.data(), names.size());
            if (n >= 0) {
                names.resize(size_t(n));
                break;
            }
        }
    }
    for (size_t pos = 0; pos < names.size();) {
        std::string xname(names.c_str() + pos);
        pos += xname.size() + 1;
        std::string value(256, '\0');
        for (;;) {
            XattrArgs args{uint64_t(uintptr_t(value.data())), uint32_t(value.size()), 0};
            n = ::syscall(kGetxattrat, dirfd, name.c_str(), flags, xname.c_str(), &args,
                          sizeof args);
            if (n >= 0) {
                value.resize(size_t(n));
                out.emplace_back(std::move(xname), std::move(value));
                break;
            }
            if (errno == ENODATA) break;  // removed since listed
            if (errno != ERANGE) return sys_error("lgetxattr " + xname, path());
            args = {0, 0, 0};
            n = ::syscall(kGetxattrat, dirfd, name.c_str(), flags, xname.c_str(), &args,
                          sizeof args);
            if (n < 0 && errno == ENODATA) break;
            if (n < 0) return sys_error("lgetxattr " + xname, path());
            value.resize(size_t(n));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<> write_xattrs(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& xattrs) {
    for (const auto& [name, value] : xattrs)
        if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) < 0)
            return sys_error("lsetxattr " + name, path);
    return {};
}

Result<std::vector<std::string>> list_dir(int fd, const std::string& path_for_errors) {
    std::vector<std::string> names;
    alignas(8) char buf[32 << 10];
    for (;;) {
        long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) return sys_error("getdents64", path_for_errors);
        if (n == 0) break;
        for (long pos = 0; pos < n;) {
            const auto* de = reinterpret_cast<const struct dirent64*>(buf + pos);
            std::string_view name = de->d_name;
            if (name != "." && name != "..") names.emplace_back(name);
            pos += de->d_reclen;
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

Result<std::vector<std::string>> read_dir_names(int dirfd, const std::string& path_for_errors) {
    UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open", path_for_errors);
    return list_dir(fd.get(), path_for_errors);
}

}  // namespace wmrun::snapshot
