#include "entry_path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include "wmrun/base/syscall.hpp"
#include "wmrun/overlay/limits.hpp"

namespace wmrun::overlay::detail {

namespace {

constexpr std::uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr std::uint64_t kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

std::unexpected<Error> resolve_error(const std::string& where, const std::string& shown, int e) {
    if (e == ELOOP) return fail("unpack", where, shown + ": path goes through a symlink");
    if (e == ENOTDIR) return fail("unpack", where, shown + ": a parent is not a directory");
    return sys_error("openat2", where + ": " + shown, e);
}

}  // namespace

Result<std::vector<std::string>> split_member_path(std::string_view name,
                                                   const std::string& where) {
    if (name.size() > kMaxMemberPathBytes)
        return fail("unpack", where,
                    quote_member(name) + ": a path of " + std::to_string(name.size()) +
                        " bytes, past the limit of " + std::to_string(kMaxMemberPathBytes));
    if (!name.empty() && name.front() == '/')
        return fail("unpack", where, std::string(name) + ": absolute path in archive");
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= name.size()) {
        auto next = name.find('/', pos);
        if (next == std::string_view::npos) next = name.size();
        std::string_view part = name.substr(pos, next - pos);
        if (part == "..")
            return fail("unpack", where, std::string(name) + ": \"..\" in archive path");
        if (!part.empty() && part != ".") out.emplace_back(part);
        pos = next + 1;
    }
    return out;
}

std::string quote_member(std::string_view name) {
    constexpr std::size_t kShown = 256;
    if (name.size() <= kShown) return "\"" + std::string(name) + "\"";
    return "\"" + std::string(name.substr(0, kShown)) + "...\"";
}

std::string join_components(const std::vector<std::string>& comps, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        if (i) out += '/';
        out += comps[i];
    }
    return out.empty() ? "." : out;
}

Result<UniqueFd> open_dir_below(int rootfd, const std::vector<std::string>& comps,
                                std::size_t count, bool create, const std::string& where) {
    std::string rel = join_components(comps, count);
    int fd = sys::openat2(rootfd, rel.c_str(), kDirFlags, 0, kResolve);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != ENOENT || !create) return resolve_error(where, rel, errno);

    // Walk from the root, making what is missing; each step is again NO_SYMLINKS.
    UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
    if (!cur) return sys_error("dup", where);
    for (std::size_t i = 0; i < count; ++i) {
        const char* part = comps[i].c_str();
        fd = sys::openat2(cur.get(), part, kDirFlags, 0, kResolve);
        if (fd < 0 && errno == ENOENT) {
            if (::mkdirat(cur.get(), part, 0755) < 0 && errno != EEXIST)
                return sys_error("mkdirat", where + ": " + join_components(comps, i + 1));
            fd = sys::openat2(cur.get(), part, kDirFlags, 0, kResolve);
        }
        if (fd < 0) return resolve_error(where, join_components(comps, i + 1), errno);
        cur.reset(fd);
    }
    return cur;
}

}  // namespace wmrun::overlay::detail
