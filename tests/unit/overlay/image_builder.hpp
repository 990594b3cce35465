// Test fixtures: tars written with libarchive and image layouts assembled by hand, so the
// tests depend on no image tool.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "wmrun/base/json.hpp"
#include "wmrun/overlay/image.hpp"

namespace wmrun::overlay::test {

struct Member {
    std::string path;
    char type = 'f';  // f file, d dir, l symlink, h hardlink, c char dev, b block dev, p fifo
    std::string data;
    std::string link;  // symlink or hardlink target
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
    time_t mtime = 1700000000;
    dev_t rdev = 0;
    std::map<std::string, std::string> xattrs;
};

inline Member file(std::string path, std::string data, mode_t mode = 0644) {
    return Member{std::move(path), 'f', std::move(data), {}, mode};
}
inline Member dir(std::string path, mode_t mode = 0755) {
    return Member{std::move(path), 'd', {}, {}, mode};
}
inline Member sym_link(std::string path, std::string target) {
    return Member{std::move(path), 'l', {}, std::move(target), 0777};
}
inline Member hard_link(std::string path, std::string target) {
    return Member{std::move(path), 'h', {}, std::move(target)};
}

// The uncompressed tar and its compressed form.
struct Tar {
    std::string plain;
    std::string blob;
    std::vector<Member> members;
};
Tar make_tar(const std::vector<Member>& members, Compression c = Compression::gzip);

// A layer of one file of `size` zero bytes, written as a stream (the uncompressed tar is never
// held in memory): a decompression bomb in a small blob. With `sparse` the file is a hole
// after its first 4 KiB: the tar carries 4 KiB of data and a sparse map claiming the size.
struct StreamedLayer {
    std::string blob;
    Digest diff_id;
};
StreamedLayer zeros_layer(const std::string& path, std::uint64_t size, Compression c,
                          bool sparse = false);

// A scratch directory under /var/tmp, removed (after unmounting nothing) at scope exit.
class Scratch {
  public:
    Scratch();
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  private:
    std::string path_;
};

// Writes an image layout by hand.
class LayoutBuilder {
  public:
    explicit LayoutBuilder(std::string dir);
    Descriptor add_blob(const std::string& media_type, const std::string& data);
    // A config (overridable fields merged in) and manifest for these layers, each compressed
    // with `c`; returns the manifest's descriptor, not yet listed in index.json.
    Descriptor add_image(const std::vector<Tar>& layers, Compression c,
                         const Json& config_overrides = Json::object(),
                         const std::string& arch = "amd64");
    void write_index(const std::vector<Json>& manifests);
    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
};

Json descriptor_json(const Descriptor& d, const std::string& ref = {},
                     const std::string& arch = {});
std::string media_type_for(Compression c);
void write_text(const std::string& path, const std::string& data);
std::string read_text(const std::string& path);
// A tar of a directory's tree (regular files and dirs), as an oci-archive.
void tar_directory(const std::string& dir, const std::string& tar_path);

}  // namespace wmrun::overlay::test
