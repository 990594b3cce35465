// The content-addressed image store (docs/image-store.md): blobs/<alg>/<hex> verified on
// write, layers/<diff-id hex>/ unpacked once, images/ naming manifests, tmp/ for imports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/overlay/layout.hpp"
#include "wmrun/overlay/limits.hpp"
#include "wmrun/overlay/mount.hpp"
#include "wmrun/overlay/unpack.hpp"

namespace wmrun::overlay {

inline constexpr const char* kDefaultStoreRoot = "/var/lib/wmrun";

struct ImportProgress {
    std::size_t layers_done = 0;
    std::size_t layers_total = 0;
    std::uint64_t bytes_done = 0;  // compressed layer bytes read so far
    std::uint64_t bytes_total = 0;
    double bytes_per_second = 0;
};
using ProgressFn = std::function<void(const ImportProgress&)>;

struct ImportOptions {
    std::string name;      // store name; empty: the ref.name annotation of the image
    ImageSelector select;  // which image of the layout (ref, platform)
    ProgressFn progress;   // optional; called from the importing thread
    ImageLimits limits;    // what the image's documents and layers may cost
};

struct ImageRecord {
    std::string name;
    Descriptor manifest;
};

// An image as stored: its record, validated manifest and config, and its unpacked layers.
struct StoredImage {
    ImageRecord record;
    Manifest manifest;
    ImageConfig config;
    std::vector<std::string> layer_dirs;  // lowest first, as the config's diff_ids
};

struct GcResult {
    std::size_t blobs_removed = 0;
    std::size_t layers_removed = 0;
};

class Store {
  public:
    // Creates the directories as needed. The mode decides how layers' whiteouts are written.
    static Result<Store> open(const std::string& root = kDefaultStoreRoot,
                              WhiteoutMode mode = WhiteoutMode::root);

    const std::string& root() const { return root_; }
    std::string blob_path(const Digest& d) const;
    std::string layer_path(const Digest& diff_id) const;
    std::string container_dir(const std::string& id) const;

    // Imports one image from a layout directory or an oci-archive tar; re-importing under a
    // name points it at the new manifest.
    Result<ImageRecord> import(const std::string& source, const ImportOptions& options);
    Result<std::vector<ImageRecord>> list() const;  // sorted by name
    Result<StoredImage> get(const std::string& name) const;
    Result<> remove(const std::string& name);
    // Removes blobs and layers no image references, except layers in `in_use_diff_ids`
    // (those of existing containers), and leftovers of interrupted imports.
    Result<GcResult> gc(const std::set<Digest>& in_use_diff_ids = {});

    // Makes containers/<id>/{upper,work,merged}, records the image's layers in
    // containers/<id>/layers.json (gc keeps them while that directory exists) and mounts them
    // on merged. Fails if merged is a mount point already. An existing upper dir is reused.
    Result<OverlayMount> mount_container(const std::string& image_name, const std::string& id,
                                         const MountOptions& options = {}) const;
    // Unmounts containers/<id>/merged if it is mounted and removes it; the volume layer
    // (upper, work, volumes, layers.json) stays for a later mount_container.
    Result<> unmount_container(const std::string& id) const;
    // Unmounts and removes containers/<id> with its volume layer. ENOENT when there is none.
    Result<> remove_container(const std::string& id) const;
    // The diff-ids every containers/*/layers.json names.
    Result<std::set<Digest>> container_layers() const;

  private:
    Result<UniqueFd> lock(int operation) const;

    std::string root_;
    WhiteoutMode mode_ = WhiteoutMode::root;
};

}  // namespace wmrun::overlay
