#include "wmrun/base/path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "wmrun/base/syscall.hpp"

namespace wmrun {

namespace {

constexpr std::uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

std::vector<std::string> split_components(const std::string& path) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        std::string part = path.substr(pos, next - pos);
        if (!part.empty() && part != ".") out.push_back(std::move(part));
        pos = next + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        if (i) out += '/';
        out += parts[i];
    }
    return out.empty() ? "." : out;
}

}  // namespace

std::string clean_relative(const std::string& path) {
    auto parts = split_components(path);
    return join(parts, parts.size());
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
    std::string rel = clean_relative(path);
    int fd = sys::openat2(rootfd, rel.c_str(), static_cast<std::uint64_t>(flags | O_CLOEXEC), mode,
                          kResolve);
    if (fd < 0) return sys_error("openat2", "/" + (rel == "." ? std::string() : rel));
    return UniqueFd(fd);
}

Result<UniqueFd> mkdir_all_in_root(int rootfd, const std::string& path, mode_t mode) {
    auto parts = split_components(path);
    UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
    if (!cur) return sys_error("dup", "/");
    for (std::size_t i = 0; i < parts.size(); ++i) {
        std::string upto = join(parts, i + 1);
        int fd = sys::openat2(rootfd, upto.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolve);
        if (fd < 0 && errno == ENOENT) {
            // Make the component in its resolved parent, then resolve again from the root so a
            // symlink swapped in meanwhile is still clamped.
            if (::mkdirat(cur.get(), parts[i].c_str(), mode) < 0 && errno != EEXIST)
                return sys_error("mkdirat", "/" + upto);
            fd = sys::openat2(rootfd, upto.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolve);
        }
        if (fd < 0) return sys_error("openat2", "/" + upto);
        cur.reset(fd);
    }
    return cur;
}

Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, bool is_dir) {
    if (is_dir) return mkdir_all_in_root(rootfd, path);
    auto parts = split_components(path);
    if (parts.empty()) return fail("create file", "/", "is the root directory");
    std::string name = parts.back();
    parts.pop_back();
    auto parent = WM_TRY(mkdir_all_in_root(rootfd, join(parts, parts.size())));
    std::string rel = clean_relative(path);
    int fd = sys::openat2(rootfd, rel.c_str(), O_PATH | O_CLOEXEC, 0, kResolve);
    if (fd < 0 && errno == ENOENT) {
        // O_EXCL|O_NOFOLLOW: never create through a dangling symlink that points outside.
        int made = ::openat(parent.get(), name.c_str(),
                            O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
        if (made < 0 && errno != EEXIST) return sys_error("create", "/" + rel);
        if (made >= 0) ::close(made);
        fd = sys::openat2(rootfd, rel.c_str(), O_PATH | O_CLOEXEC, 0, kResolve);
    }
    if (fd < 0) return sys_error("openat2", "/" + rel);
    return UniqueFd(fd);
}

}  // namespace wmrun
