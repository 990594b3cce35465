#include "cgroup_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "wmrun/base/fs.hpp"

namespace wmrun::cgroups::detail {

namespace {

std::string join(const std::string& dir, const std::string& file) {
    return dir + "/" + file;
}

std::vector<std::string> child_dirs(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return out;
    while (dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (ent->d_type == DT_DIR && name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    return out;
}

Result<> rmdir_retrying(const std::string& dir) {
    // A killed process leaves its cgroup only once it is reaped, by a parent that is not us (the
    // host's init for a detached container) and may be slow on a loaded host: wait for that.
    auto delay = std::chrono::microseconds(100);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
        if (errno != EBUSY || std::chrono::steady_clock::now() > deadline)
            return sys_error("rmdir", dir);
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::microseconds(20000));
    }
}

}  // namespace

bool has_file(const std::string& dir, const std::string& file) {
    return ::access(join(dir, file).c_str(), F_OK) == 0;
}

Result<std::string> read_value(const std::string& dir, const std::string& file) {
    auto text = WM_TRY(read_one_record_file(join(dir, file)));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

Result<> write_value(const std::string& dir, const std::string& file, std::string_view value) {
    std::string path = join(dir, file);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", path);
    // One write() per value: cgroup files take each write as a whole command.
    ssize_t n = ::write(fd, value.data(), value.size());
    int err = errno;
    ::close(fd);
    if (n < 0) return sys_error("write \"" + std::string(value) + "\"", path, err);
    return {};
}

Result<std::uint64_t> read_u64(const std::string& dir, const std::string& file) {
    auto text = WM_TRY(read_value(dir, file));
    if (text == "max") return 0;
    auto v = parse_u64(text);
    if (!v) return fail("parse", join(dir, file), "not a number: \"" + text + "\"");
    return *v;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

std::map<std::string, std::uint64_t> parse_flat_keyed(std::string_view text) {
    std::map<std::string, std::uint64_t> out;
    while (!text.empty()) {
        auto eol = text.find('\n');
        auto line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        auto sp = line.find(' ');
        if (sp == std::string_view::npos) continue;
        if (auto v = parse_u64(line.substr(sp + 1))) out[std::string(line.substr(0, sp))] = *v;
    }
    return out;
}

Result<> write_pid(const std::string& dir, const std::string& file, pid_t pid) {
    return write_value(dir, file, std::to_string(pid));
}

Result<std::vector<pid_t>> read_pids_recursive(const std::string& dir, const std::string& file) {
    std::vector<pid_t> out;
    auto text = read_file(join(dir, file));
    if (!text) return std::unexpected(text.error());
    std::string_view rest = *text;
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        if (auto v = parse_u64(rest.substr(0, eol))) out.push_back(static_cast<pid_t>(*v));
        rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    }
    for (const auto& child : child_dirs(dir)) {
        auto sub = read_pids_recursive(join(dir, child), file);
        // A child cgroup removed while we walk is not an error.
        if (!sub && sub.error().err == ENOENT) continue;
        if (!sub) return sub;
        out.insert(out.end(), sub->begin(), sub->end());
    }
    return out;
}

Result<> remove_cgroup(const std::string& dir) {
    for (const auto& child : child_dirs(dir))
        WM_CHECK(remove_cgroup(join(dir, child)));
    return rmdir_retrying(dir);
}

}  // namespace wmrun::cgroups::detail
