#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "repo_internal.hpp"
#include "wmrun/base/fs.hpp"

#include <xxhash.h>

namespace wmrun::snapshot {

Result<RepoLock> RepoLock::take(int fd, bool exclusive, const std::string& path) {
    while (::flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
        if (errno != EINTR) return sys_error("flock", path);
    return RepoLock(fd);
}

RepoLock::~RepoLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
}

uint64_t gear_seed(const Key& key) {
    return XXH3_128bits(key.data(), key.size()).low64;
}

Result<> fsync_dir(const std::string& path) {
    UniqueFd fd = WM_TRY(open_file(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (::fsync(fd.get()) < 0) return sys_error("fsync", path);
    return {};
}

Result<std::string> random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("getrandom");
        }
        got += size_t(n);
    }
    return to_hex(raw);
}

std::string to_hex(std::string_view raw) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
        hex.push_back(kDigits[c >> 4]);
        hex.push_back(kDigits[c & 15]);
    }
    return hex;
}

std::optional<std::string> hex_decode(std::string_view hex) {
    auto digit = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    if (hex.size() % 2) return std::nullopt;
    std::string raw;
    raw.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = digit(hex[i]), lo = digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        raw.push_back(char(hi << 4 | lo));
    }
    return raw;
}

Result<> write_repo_file(const std::string& repo, const std::string& rel, std::string_view data,
                         mode_t mode) {
    std::string tmp = repo + "/tmp/" + WM_TRY(random_hex(16));
    {
        UniqueFd fd = WM_TRY(open_file(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        Result<> r = write_all(fd.get(), data, tmp);
        if (r && ::fsync(fd.get()) < 0) r = sys_error("fsync", tmp);
        if (!r) {
            ::unlink(tmp.c_str());
            return r;
        }
    }
    std::string target = repo + "/" + rel;
    crash_point();
    if (::rename(tmp.c_str(), target.c_str()) < 0) {
        auto err = sys_error("rename", target);
        ::unlink(tmp.c_str());
        return err;
    }
    crash_point();
    return fsync_dir(target.substr(0, target.rfind('/')));
}

Result<> pwrite_all(int fd, const void* data, size_t len, uint64_t off, const std::string& name) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::pwrite(fd, p, len, off_t(off));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("write", name);
        }
        p += n;
        len -= size_t(n);
        off += uint64_t(n);
    }
    return {};
}

Result<> pread_all(int fd, void* data, size_t len, uint64_t off, const std::string& name) {
    char* p = static_cast<char*>(data);
    while (len > 0) {
        ssize_t n = ::pread(fd, p, len, off_t(off));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("read", name);
        }
        if (n == 0) return fail("read", name, "unexpected end of file");
        p += n;
        len -= size_t(n);
        off += uint64_t(n);
    }
    return {};
}

std::string over_limit(const std::string& what, uint64_t limit, std::string_view flag) {
    static constexpr std::pair<int, const char*> kUnits[] = {
        {30, " GiB"}, {20, " MiB"}, {10, " KiB"}};
    std::string amount = std::to_string(limit) + " bytes";
    for (auto [shift, unit] : kUnits)
        if (limit >= (uint64_t(1) << shift) && limit % (uint64_t(1) << shift) == 0) {
            amount = std::to_string(limit >> shift) + unit;
            break;
        }
    return what + " is over the limit of " + amount + " (" + std::string(flag) + ")";
}

std::string printable(std::string_view raw, size_t max) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw.substr(0, max)) {
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            out.push_back(char(c));
        } else {
            out += "\\x";
            out.push_back(kDigits[c >> 4]);
            out.push_back(kDigits[c & 15]);
        }
    }
    if (raw.size() > max) out += "...";
    return out;
}

std::string local_hostname() {
    struct utsname u{};
    if (::uname(&u) < 0) return "";
    return u.nodename;
}

}  // namespace wmrun::snapshot
