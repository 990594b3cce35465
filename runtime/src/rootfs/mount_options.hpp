// Mount options of config.json mapped to the new mount API: mount attributes for
// fsmount/mount_setattr, propagation, and filesystem data for fsconfig.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace wmrun::runtime {

struct MountOptions {
    bool bind = false;
    bool recursive = false;        // rbind
    bool recursive_attrs = false;  // rro, rnosuid, ...: attributes on every submount
    unsigned long long attr_set = 0;
    unsigned long long attr_clr = 0;
    unsigned long long propagation = 0;  // MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE
    bool propagation_recursive = false;
    bool idmap = false;
    bool recursive_idmap = false;
    bool tmpcopyup = false;
    std::vector<std::string> sb_flags;  // superblock flags fsconfig takes as flags: sync, ...
    std::vector<std::pair<std::string, std::string>> data;  // filesystem options: key[=value]
};

MountOptions parse_mount_options(const std::vector<std::string>& options);

// Whether `option` is one of the mount flags the runtime knows (for `features`).
const std::vector<std::string>& known_mount_options();

}  // namespace wmrun::runtime
