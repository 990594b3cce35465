#include "rootfs/mount_options.hpp"

#include <sys/mount.h>

#include <map>

namespace wmrun::runtime {

namespace {

struct AttrFlag {
    unsigned long long set;
    unsigned long long clr;
};

// The mount(8) flags that are per-mount attributes in the new API.
const std::map<std::string, AttrFlag>& attr_flags() {
    static const std::map<std::string, AttrFlag> table = {
        {"ro", {MOUNT_ATTR_RDONLY, 0}},
        {"rw", {0, MOUNT_ATTR_RDONLY}},
        {"nosuid", {MOUNT_ATTR_NOSUID, 0}},
        {"suid", {0, MOUNT_ATTR_NOSUID}},
        {"nodev", {MOUNT_ATTR_NODEV, 0}},
        {"dev", {0, MOUNT_ATTR_NODEV}},
        {"noexec", {MOUNT_ATTR_NOEXEC, 0}},
        {"exec", {0, MOUNT_ATTR_NOEXEC}},
        {"noatime", {MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}},
        {"relatime", {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}},
        {"strictatime", {MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME}},
        {"atime", {0, 0}},
        {"norelatime", {0, 0}},
        {"nostrictatime", {0, 0}},
        {"nodiratime", {MOUNT_ATTR_NODIRATIME, 0}},
        {"diratime", {0, MOUNT_ATTR_NODIRATIME}},
        {"nosymfollow", {MOUNT_ATTR_NOSYMFOLLOW, 0}},
        {"symfollow", {0, MOUNT_ATTR_NOSYMFOLLOW}},
    };
    return table;
}

struct Propagation {
    unsigned long long flag;
    bool recursive;
};

const std::map<std::string, Propagation>& propagation_flags() {
    static const std::map<std::string, Propagation> table = {
        {"private", {MS_PRIVATE, false}},       {"rprivate", {MS_PRIVATE, true}},
        {"shared", {MS_SHARED, false}},         {"rshared", {MS_SHARED, true}},
        {"slave", {MS_SLAVE, false}},           {"rslave", {MS_SLAVE, true}},
        {"unbindable", {MS_UNBINDABLE, false}}, {"runbindable", {MS_UNBINDABLE, true}},
    };
    return table;
}

}  // namespace

MountOptions parse_mount_options(const std::vector<std::string>& options) {
    MountOptions out;
    for (const auto& opt : options) {
        if (opt == "bind") {
            out.bind = true;
        } else if (opt == "rbind") {
            out.bind = out.recursive = true;
        } else if (opt == "idmap") {
            out.idmap = true;
        } else if (opt == "ridmap") {
            out.idmap = out.recursive_idmap = true;
        } else if (opt == "tmpcopyup") {
            out.tmpcopyup = true;
        } else if (opt == "sync" || opt == "dirsync" || opt == "mand" || opt == "lazytime") {
            out.sb_flags.push_back(opt);
        } else if (opt == "async" || opt == "nomand" || opt == "nolazytime" || opt == "remount" ||
                   opt == "defaults") {
            // Defaults already; remount has no meaning for a fresh mount.
        } else if (auto a = attr_flags().find(opt); a != attr_flags().end()) {
            out.attr_set = (out.attr_set & ~a->second.clr) | a->second.set;
            out.attr_clr = (out.attr_clr & ~a->second.set) | a->second.clr;
        } else if (opt.size() > 1 && opt[0] == 'r' && attr_flags().count(opt.substr(1))) {
            // runc's recursive variants (rro, rnosuid, ...): the attribute on every submount.
            const auto& rec = attr_flags().at(opt.substr(1));
            out.attr_set = (out.attr_set & ~rec.clr) | rec.set;
            out.attr_clr = (out.attr_clr & ~rec.set) | rec.clr;
            out.recursive_attrs = true;
        } else if (auto p = propagation_flags().find(opt); p != propagation_flags().end()) {
            out.propagation = p->second.flag;
            out.propagation_recursive = p->second.recursive;
        } else if (auto eq = opt.find('='); eq != std::string::npos) {
            out.data.emplace_back(opt.substr(0, eq), opt.substr(eq + 1));
        } else {
            out.data.emplace_back(opt, std::string());
        }
    }
    return out;
}

const std::vector<std::string>& known_mount_options() {
    static const std::vector<std::string> list = [] {
        std::vector<std::string> v = {"bind",       "rbind",   "idmap",    "ridmap", "sync",
                                      "dirsync",    "mand",    "lazytime", "async",  "nomand",
                                      "nolazytime", "remount", "defaults"};
        for (const auto& [name, _] : attr_flags()) {
            v.push_back(name);
            v.push_back("r" + name);
        }
        for (const auto& [name, _] : propagation_flags())
            v.push_back(name);
        return v;
    }();
    return list;
}

}  // namespace wmrun::runtime
