#include "wmrun/base/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace wmrun {

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return sys_error("open", path);
    return UniqueFd(fd);
}

Result<std::string> read_fd(int fd, const std::string& name_for_errors, std::size_t max_bytes) {
    std::string out;
    char buf[8192];
    while (out.size() < max_bytes) {
        ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_bytes - out.size()));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("read", name_for_errors);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

Result<std::string> read_file_fd(int fd, const std::string& name_for_errors,
                                 std::size_t max_bytes) {
    std::string out;
    std::size_t chunk = 4096;
    while (out.size() < max_bytes) {
        std::size_t want = std::min(chunk, max_bytes - out.size());
        std::size_t had = out.size();
        out.resize(had + want);
        ssize_t n = ::read(fd, out.data() + had, want);
        if (n < 0) {
            out.resize(had);
            if (errno == EINTR) continue;
            return sys_error("read", name_for_errors);
        }
        out.resize(had + static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < want) break;
        chunk = std::min<std::size_t>(chunk * 2, std::size_t{1} << 20);
    }
    return out;
}

Result<std::string> read_file(const std::string& path) {
    auto fd = WM_TRY(open_file(path, O_RDONLY));
    return read_fd(fd.get(), path);
}

Result<std::string> read_one_record_file(const std::string& path) {
    auto fd = WM_TRY(open_file(path, O_RDONLY));
    return read_file_fd(fd.get(), path);
}

Result<> write_all(int fd, std::string_view data, const std::string& name_for_errors) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("write", name_for_errors);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

static std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

Result<> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    {
        auto fd = WM_TRY(open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
        if (auto r = write_all(fd.get(), data, tmp); !r) {
            ::unlink(tmp.c_str());
            return r;
        }
        if (::fsync(fd.get()) < 0) {
            int e = errno;
            ::unlink(tmp.c_str());
            return sys_error("fsync", tmp, e);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return sys_error("rename", path, e);
    }
    auto dir = WM_TRY(open_file(parent_dir(path), O_RDONLY | O_DIRECTORY));
    if (::fsync(dir.get()) < 0) return sys_error("fsync", parent_dir(path));
    return {};
}

Result<> replace_file(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    {
        auto fd = WM_TRY(open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
        if (auto r = write_all(fd.get(), data, tmp); !r) {
            ::unlink(tmp.c_str());
            return r;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return sys_error("rename", path, e);
    }
    return {};
}

Result<> write_file(const std::string& path, std::string_view data) {
    auto fd = WM_TRY(open_file(path, O_WRONLY));
    return write_all(fd.get(), data, path);
}

Result<> mkdir_all(const std::string& path, mode_t mode) {
    if (path.empty()) return {};
    std::string cur;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        cur = path.substr(0, next);
        pos = next + 1;
        if (cur.empty()) continue;
        if (::mkdir(cur.c_str(), mode) < 0 && errno != EEXIST) return sys_error("mkdir", cur);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) return sys_error("stat", path);
    if (!S_ISDIR(st.st_mode)) return fail("mkdir", path, "exists and is not a directory");
    return {};
}

static Result<> remove_tree_at(int dirfd, const std::string& shown, dev_t dev) {
    UniqueFd self(::dup(dirfd));
    if (!self) return sys_error("dup", shown);
    DIR* dir = ::fdopendir(self.release());
    if (dir == nullptr) return sys_error("opendir", shown);
    Result<> status;
    while (dirent* ent = ::readdir(dir)) {
        std::string name = ent->d_name;
        if (name == "." || name == "..") continue;
        std::string child = shown + "/" + name;
        struct stat st {};
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue;
            status = sys_error("stat", child);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) {
                status = fail("remove", child, "is a mount point");
                break;
            }
            UniqueFd sub(
                ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) {
                status = sys_error("open", child);
                break;
            }
            if (auto r = remove_tree_at(sub.get(), child, dev); !r) {
                status = r;
                break;
            }
            if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT) {
                status = sys_error("rmdir", child);
                break;
            }
        } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
            status = sys_error("unlink", child);
            break;
        }
    }
    ::closedir(dir);
    return status;
}

Result<> remove_all(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) return {};
        return sys_error("stat", path);
    }
    if (S_ISDIR(st.st_mode)) {
        auto fd = WM_TRY(open_file(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
        WM_CHECK(remove_tree_at(fd.get(), path, st.st_dev));
        if (::rmdir(path.c_str()) < 0 && errno != ENOENT) return sys_error("rmdir", path);
        return {};
    }
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) return sys_error("unlink", path);
    return {};
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace wmrun
