#include "fuzz_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "wmrun/base/fs.hpp"

// UBSan reports and continues by default, which libFuzzer would not notice: every report is
// made fatal, so that it counts as a crash and its input is saved. Also set by tests/fuzz/run.
extern "C" const char* __ubsan_default_options() {
    return "halt_on_error=1:print_stacktrace=1";
}

namespace wmrun::fuzz {

namespace {

std::string made_scratch() {
    const char* base = std::getenv("WMRUN_FUZZ_TMP");
    std::string templ = std::string(base && *base ? base : "/dev/shm") + "/wmrun-fuzz-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) violated("mkdtemp " + templ + " failed");
    return templ;
}

void remove_scratch() {
    (void)remove_all(scratch_dir());
}

void list_into(const std::string& root, const std::string& rel, const std::string& skip, ListBy by,
               Listing& out) {
    std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : names) {
        std::string r = rel.empty() ? name : rel + "/" + name;
        if (r == skip) continue;
        struct stat st {};
        if (::lstat((root + "/" + r).c_str(), &st) < 0) continue;
        std::string desc = std::to_string(st.st_mode) + " links " + std::to_string(st.st_nlink);
        if (!S_ISDIR(st.st_mode)) desc += " size " + std::to_string(st.st_size);
        if (by == ListBy::times)
            desc += " mtime " + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec);
        else if (S_ISREG(st.st_mode))
            desc +=
                " content " + std::to_string(std::hash<std::string>{}(read_whole(root + "/" + r)));
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = ::readlink((root + "/" + r).c_str(), target, sizeof target);
            if (n > 0) desc += " -> " + std::string(target, static_cast<size_t>(n));
        }
        if (!S_ISDIR(st.st_mode) || by == ListBy::times) out[r] = desc;
        if (S_ISDIR(st.st_mode)) list_into(root, r, skip, by, out);
    }
}

}  // namespace

const std::string& scratch_dir() {
    static const std::string dir = [] {
        std::string d = made_scratch();
        std::atexit(remove_scratch);
        return d;
    }();
    return dir;
}

void make_dir(const std::string& path) {
    if (auto r = mkdir_all(path, 0755); !r) violated(r.error().message());
}

void write_whole(const std::string& path, std::string_view data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) violated("open " + path + " failed");
    UniqueFd owner(fd);
    if (auto r = write_all(fd, data, path); !r) violated(r.error().message());
}

std::string read_whole(const std::string& path) {
    auto r = read_file(path);
    if (!r) violated(r.error().message());
    return *r;
}

void violated(const std::string& what) {
    std::fprintf(stderr, "\n==fuzz== property violated: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

void require_one_line(const Error& e) {
    std::string m = e.message();
    require(!m.empty(), "an error without a message");
    require(m.find('\n') == std::string::npos && m.find('\r') == std::string::npos,
            "an error message spans lines: " + m);
}

Listing list_tree(const std::string& dir, const std::string& skip, ListBy by) {
    Listing out;
    list_into(dir, "", skip, by, out);
    return out;
}

std::string listing_diff(const Listing& before, const Listing& after) {
    std::string out;
    for (const auto& [path, desc] : before) {
        auto it = after.find(path);
        if (it == after.end())
            out += "\n  removed " + path;
        else if (it->second != desc)
            out += "\n  changed " + path + ": " + desc + " => " + it->second;
    }
    for (const auto& [path, desc] : after)
        if (!before.contains(path)) out += "\n  added " + path + " (" + desc + ")";
    return out;
}

}  // namespace wmrun::fuzz
