// The bundle of a container made from an image in the store: <store>/containers/<id>/ with
// config.json generated from the image config (config.md "config") on the default spec, and
// rootfs = merged, the overlay of the image's layers under the container's volume layer.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::runtime {

// How a store's layers write whiteouts: as root (char devices, trusted.overlay.*) or
// rootless (the user.overlay.* forms).
overlay::WhiteoutMode whiteout_mode(bool rootless);

// Who the image's User field names, resolved against the image's /etc/passwd and /etc/group.
struct ImageUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> additional_gids;  // groups listing the user by name
    std::string home = "/";
};

// "user", "uid", "user:group", "uid:gid" and the mixed forms; names are looked up in the files
// read through `rootfd` with RESOLVE_IN_ROOT, so the image's symlinks stay inside it.
Result<ImageUser> resolve_image_user(int rootfd, const std::string& user);

// Undoes create_container_from_image's mount: unmounts merged and removes it and config.json;
// the volume layer (upper, work, volumes, layers.json) stays unless `volumes`.
Result<> release_image_rootfs(const std::string& store, const std::string& id, bool rootless,
                              bool volumes);

// Marks a launched container as made from `image` of `store`, so that delete releases its
// rootfs and stats can name the image.
Result<> record_image_store(const GlobalOptions& g, ContainerState& state,
                            const std::string& store, const std::string& image);

}  // namespace wmrun::runtime
