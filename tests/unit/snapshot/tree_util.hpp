// Test helpers: temp dirs and a full description of a directory tree for exact comparison.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "wmrun/base/fs.hpp"

namespace snaptest {

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/wmrun-snap-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)wmrun::remove_all(path_); }
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  private:
    std::string path_;
};

struct Node {
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    int64_t mtime_ns = 0;
    off_t size = 0;
    dev_t rdev = 0;
    std::string target, content, link_group;
    std::vector<std::pair<off_t, off_t>> data;  // SEEK_DATA/SEEK_HOLE ranges
    std::map<std::string, std::string> xattrs;
    bool operator==(const Node&) const = default;
};

inline std::map<std::string, std::string> xattrs_of(const std::string& path) {
    std::map<std::string, std::string> out;
    char names[4096];
    ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
    for (ssize_t pos = 0; n > 0 && pos < n;) {
        std::string name(names + pos);
        pos += ssize_t(name.size()) + 1;
        char value[4096];
        ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
        out[name] = std::string(value, size_t(v > 0 ? v : 0));
    }
    return out;
}

inline void describe(const std::string& root, const std::string& rel,
                     std::map<std::string, Node>& out, std::map<ino_t, std::string>& inodes) {
    std::string path = rel.empty() ? root : root + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) < 0) return;
    Node n;
    n.mode = st.st_mode;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    n.rdev = st.st_rdev;
    n.xattrs = xattrs_of(path);
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto [it, fresh] = inodes.try_emplace(st.st_ino, rel);
        n.link_group = it->second;
    }
    if (S_ISREG(st.st_mode)) {
        n.size = st.st_size;
        n.content = wmrun::read_file(path).value_or("<unreadable>");
        int fd = ::open(path.c_str(), O_RDONLY);
        for (off_t pos = 0; pos < st.st_size;) {
            off_t d = ::lseek(fd, pos, SEEK_DATA);
            if (d < 0) break;
            off_t h = ::lseek(fd, d, SEEK_HOLE);
            n.data.emplace_back(d, h);
            pos = h;
        }
        ::close(fd);
    } else if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t len = ::readlink(path.c_str(), buf, sizeof buf);
        n.target.assign(buf, size_t(len > 0 ? len : 0));
    }
    out[rel.empty() ? "." : rel] = n;
    if (S_ISDIR(st.st_mode)) {
        DIR* d = ::opendir(path.c_str());
        std::vector<std::string> children;
        while (dirent* de = ::readdir(d))
            if (std::string(de->d_name) != "." && std::string(de->d_name) != "..")
                children.push_back(de->d_name);
        ::closedir(d);
        std::sort(children.begin(), children.end());
        for (const auto& c : children)
            describe(root, rel.empty() ? c : rel + "/" + c, out, inodes);
    }
}

inline std::map<std::string, Node> describe_tree(const std::string& root) {
    std::map<std::string, Node> out;
    std::map<ino_t, std::string> inodes;
    describe(root, "", out, inodes);
    return out;
}

}  // namespace snaptest
