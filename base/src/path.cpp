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

std::string fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
    std::string rel = clean_relative(path);
    int fd = sys::openat2(rootfd, rel.c_str(), static_cast<std::uint64_t>(flags | O_CLOEXEC), mode,
                          kResolve);
    if (fd < 0) return sys_error("openat2", "/" + (rel == "." ? std::string() : rel));
    return UniqueFd(fd);
}

Result<UniqueFd> mkdir_all_in_root(int rootfd, const std::string& path, mode_t mode) {
    auto parts = split_components(path);
    // A dangling symlink on the way (common in images: /etc/resolv.conf -> ../run/...) is
    // followed by hand, its target made inside the root; the bound stops symlink loops.
    for (int links = 0; links < 40; ++links) {
        UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
        if (!cur) return sys_error("dup", "/");
        bool restarted = false;
        for (std::size_t i = 0; i < parts.size() && !restarted; ++i) {
            std::string upto = join(parts, i + 1);
            int fd =
                sys::openat2(rootfd, upto.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolve);
            if (fd < 0 && errno == ENOENT) {
                if (::mkdirat(cur.get(), parts[i].c_str(), mode) < 0 && errno != EEXIST)
                    return sys_error("mkdirat", "/" + upto);
                // Resolve again from the root, so a symlink swapped in meanwhile is clamped.
                fd = sys::openat2(rootfd, upto.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                  kResolve);
            }
            if (fd < 0 && errno == ENOENT) {
                char target[4096];
                ssize_t n = ::readlinkat(cur.get(), parts[i].c_str(), target, sizeof target - 1);
                if (n <= 0) return sys_error("openat2", "/" + upto, ENOENT);
                std::string link(target, static_cast<std::size_t>(n));
                std::string rest = link[0] == '/' ? link : join(parts, i) + "/" + link;
                for (std::size_t j = i + 1; j < parts.size(); ++j)
                    rest += "/" + parts[j];
                parts = split_components(rest);
                restarted = true;
                continue;
            }
            if (fd < 0) return sys_error("openat2", "/" + upto);
            cur.reset(fd);
        }
        if (!restarted) return cur;
    }
    return fail("mkdir", path, "too many levels of symbolic links", ELOOP);
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
