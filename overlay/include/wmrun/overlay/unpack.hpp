// Unpacking one layer blob (layer.md) into the store's layers/<diff-id hex>/, with whiteouts
// converted to overlayfs form, verifying the blob's digest and size and the diff-id on the way.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/overlay/limits.hpp"

namespace wmrun::overlay {

// root: whiteouts are char 0/0 devices, opaque dirs carry trusted.overlay.opaque=y; device
// nodes are made. rootless: opaque dirs carry user.overlay.opaque=y (mount with userxattr);
// whiteouts stay char 0/0, which the kernel lets anyone create (Linux 5.8+); other device
// nodes are rejected.
enum class WhiteoutMode { root, rootless };

struct UnpackOptions {
    WhiteoutMode mode = WhiteoutMode::root;
    // Called as compressed bytes are read, with the running count; must be cheap.
    std::function<void(std::uint64_t)> on_bytes;
    // When set and true, the unpack stops at its next read with ECANCELED (another layer of the
    // same import failed).
    const std::atomic<bool>* cancel = nullptr;
    // What the layer may unpack to; past a limit it stops with an error naming it.
    LayerLimits limits;
};

struct UnpackResult {
    std::string path;  // <layers_dir>/<diff-id hex>
    std::uint64_t compressed_bytes = 0;
    std::uint64_t uncompressed_bytes = 0;
    bool already_present = false;  // nothing was read
};

// Unpacks the layer blob read from `blob_fd` (a file, a pipe or a memfd, read once to its end)
// into the directory `root_fd`, which the caller made fresh and empty, and removes if this
// fails. The blob's digest and size and the diff-id are verified (at the end: a mismatch fails
// after the members were written), whiteouts converted, members resolved below root_fd only;
// nothing is written outside it. `where` names the blob in errors.
Result<UnpackResult> unpack_layer_into(int blob_fd, const Descriptor& layer, const Digest& diff_id,
                                       int root_fd, const UnpackOptions& options = {},
                                       const std::string& where = "layer blob");

// Reads `blob_path` as described by `layer`, unpacks into a temp dir under `layers_dir` and
// renames it to <layers_dir>/<diff_id hex> once complete and synced. A hostile or corrupt
// layer is rejected and leaves nothing behind.
Result<UnpackResult> unpack_layer(const std::string& blob_path, const Descriptor& layer,
                                  const Digest& diff_id, const std::string& layers_dir,
                                  const UnpackOptions& options = {});

}  // namespace wmrun::overlay
