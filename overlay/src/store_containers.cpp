// containers/<id>/ in the store: a container's volume layer (upper + work), its overlay mount
// point (merged) and layers.json, the record that keeps its lower layers from gc.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/overlay/store.hpp"

namespace wmrun::overlay {

namespace {

Result<> check_container_id(const std::string& id) {
    bool valid = !id.empty() && id.size() <= 128 && id[0] != '.';
    for (unsigned char c : id)
        valid = valid && (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+');
    if (!valid) return fail("container", id, "invalid container id");
    return {};
}

// STATX_ATTR_MOUNT_ROOT (Linux 5.8): true when path is the root of a mount.
Result<bool> is_mount_point(const std::string& path) {
    struct statx stx {};
    if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0) {
        if (errno == ENOENT) return false;
        return sys_error("statx", path);
    }
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
        return fail("statx", path, "the kernel does not report mount roots");
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

}  // namespace

Result<OverlayMount> Store::mount_container(const std::string& image_name, const std::string& id,
                                            const MountOptions& options) const {
    WM_CHECK(check_container_id(id));
    // Shared: gc (exclusive) must not run between reading the image and recording its layers.
    auto guard = WM_TRY(lock(LOCK_SH));
    StoredImage img = WM_TRY(get(image_name));
    std::string dir = container_dir(id);
    OverlaySpec spec;
    spec.lower.assign(img.layer_dirs.rbegin(), img.layer_dirs.rend());  // topmost first
    spec.upper = dir + "/upper";
    spec.work = dir + "/work";
    spec.target = dir + "/merged";
    spec.mode = mode_;
    spec.options = options;
    if (WM_TRY(is_mount_point(spec.target)))
        return fail("mount container", spec.target, "already mounted: the id is in use", EBUSY);
    for (const auto& d : {spec.upper, spec.work, spec.target})
        WM_CHECK(mkdir_all(d, 0755));

    Json diff_ids = Json::array();
    for (const auto& d : img.config.diff_ids)
        diff_ids.push_back(d.str());
    Json record = {{"image", image_name},
                   {"manifest", img.record.manifest.digest.str()},
                   {"diffIds", diff_ids}};
    WM_CHECK(write_json_file_atomic(dir + "/layers.json", record));
    return mount_overlay(spec);
}

Result<> Store::unmount_container(const std::string& id) const {
    WM_CHECK(check_container_id(id));
    std::string merged = container_dir(id) + "/merged";
    if (WM_TRY(is_mount_point(merged))) WM_CHECK(unmount_path(merged));
    if (::rmdir(merged.c_str()) < 0 && errno != ENOENT) return sys_error("rmdir", merged);
    return {};
}

Result<> Store::remove_container(const std::string& id) const {
    WM_CHECK(check_container_id(id));
    std::string dir = container_dir(id);
    if (!path_exists(dir)) return fail("remove container", dir, "no such container", ENOENT);
    WM_CHECK(unmount_container(id));
    return remove_all(dir);
}

Result<std::set<Digest>> Store::container_layers() const {
    std::set<Digest> out;
    std::string base = root_ + "/containers";
    DIR* d = ::opendir(base.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return out;
        return sys_error("opendir", base);
    }
    std::vector<std::string> ids;
    while (dirent* ent = ::readdir(d)) {
        std::string n = ent->d_name;
        if (n != "." && n != "..") ids.push_back(n);
    }
    ::closedir(d);
    for (const auto& id : ids) {
        std::string path = base + "/" + id + "/layers.json";
        if (!path_exists(path)) continue;  // never mounted: holds no diff against any layer
        Json j = WM_TRY(read_json_file(path));
        if (!j.is_object() || !j.contains("diffIds") || !j["diffIds"].is_array())
            return fail("read container layers", path, "needs \"diffIds\"");
        for (const auto& v : j["diffIds"]) {
            if (!v.is_string()) return fail("read container layers", path, "diffIds: not strings");
            out.insert(WM_TRY(parse_digest(v.get<std::string>(), path)));
        }
    }
    return out;
}

}  // namespace wmrun::overlay
