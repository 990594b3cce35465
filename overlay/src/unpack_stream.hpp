// The single pass over a layer blob shared by unpack_layer and Store::import: every byte read
// is hashed into the blob digest, optionally copied into the store, and optionally unpacked.
#pragma once

#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/unpack.hpp"

namespace wmrun::overlay::detail {

struct StreamTargets {
    int copy_fd = -1;  // >= 0: the blob is written here as it is read
    int root_fd = -1;  // >= 0: the layer is unpacked into this directory; else only verified
};

// Reads `blob_fd` to its end once. Fails on a digest or size mismatch, on a diff-id mismatch
// (when unpacking), on a hostile member, or when options.cancel is set. Fills the byte counts
// of the result, not its path.
Result<UnpackResult> stream_layer(int blob_fd, const Descriptor& layer, const Digest& diff_id,
                                  StreamTargets to, const UnpackOptions& options,
                                  const std::string& where);

}  // namespace wmrun::overlay::detail
