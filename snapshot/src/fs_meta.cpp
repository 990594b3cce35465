#include "fs_meta.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

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

Result<> write_xattrs(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& xattrs) {
    for (const auto& [name, value] : xattrs)
        if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) < 0)
            return sys_error("lsetxattr " + name, path);
    return {};
}

Result<std::vector<std::string>> read_dir_names(int dirfd, const std::string& path_for_errors) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", path_for_errors);
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return sys_error("fdopendir", path_for_errors);
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
        std::string_view n = de->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    int err = errno;
    ::closedir(d);
    if (err) return sys_error("readdir", path_for_errors, err);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace wmrun::snapshot
