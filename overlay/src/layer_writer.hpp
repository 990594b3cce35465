// Writes the members of a layer tar into a directory, one archive_entry at a time, converting
// OCI whiteouts to overlayfs form. Every path is resolved through fds (entry_path.hpp); every
// member and every byte written is counted by the layer's meter (unpack_meter.hpp).
#pragma once

#include <time.h>

#include <optional>
#include <string>
#include <vector>

#include "unpack_meter.hpp"
#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/overlay/unpack.hpp"

struct archive;
struct archive_entry;

namespace wmrun::overlay::detail {

class LayerWriter {
  public:
    LayerWriter(int rootfd, WhiteoutMode mode, UnpackMeter& meter, std::string where)
        : root_(rootfd), mode_(mode), meter_(meter), where_(std::move(where)) {}

    // Writes the entry; reads its data from `a`.
    Result<> apply(archive* a, archive_entry* e);
    // Sets directory times (deferred: creating children changes them) and the root's metadata.
    Result<> finish();

  private:
    struct Meta {
        uid_t uid;
        gid_t gid;
        mode_t mode;
        timespec mtime;
    };
    struct DirTime {
        std::vector<std::string> comps;
        timespec mtime;
    };

    Result<> whiteout(int parent, const std::string& base, const std::string& shown);
    Result<> hardlink(int parent, const std::string& base, const char* target,
                      const std::string& shown, const std::vector<std::string>& comps);
    Result<> regular_file(archive* a, archive_entry* e, int parent, const std::string& base,
                          const std::string& shown);
    // Owner, mode, xattrs and times: through the open file's fd when there is one, else by
    // name under the parent (symlinks, devices, fifos).
    Result<> metadata(archive_entry* e, int fd, int parent, const std::string& base,
                      const std::string& shown, bool is_symlink);
    // The parent dir of a member, made as needed; cached, as tar members come grouped by
    // directory. Valid until the next call or remove_existing.
    Result<int> parent_dir(const std::vector<std::string>& comps);
    // Clears the name for a new member; true when an existing directory was kept instead.
    Result<bool> remove_existing(int parent, const std::string& base, bool keep_dir,
                                 const std::string& shown);
    std::string opaque_xattr() const;

    int root_;
    WhiteoutMode mode_;
    UnpackMeter& meter_;
    std::string where_;
    std::vector<DirTime> dir_times_;
    std::optional<Meta> root_meta_;
    std::string cached_parent_;
    UniqueFd cached_fd_;
};

}  // namespace wmrun::overlay::detail
