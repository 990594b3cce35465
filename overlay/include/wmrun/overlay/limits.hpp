// What an image may cost the host (docs/image-store.md, "Limits"). Every byte of an image is
// hostile: a layer of 1 MiB can hold a gzip of 1 GiB of zeros, a sparse tar entry can claim a
// terabyte, a manifest can be gigabytes of padding. The defaults are far above what real images
// need and far below what such an image reaches; `wmrun image import` has a flag for each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "wmrun/base/json.hpp"

namespace wmrun::overlay {

// A member path longer than the kernel's PATH_MAX could not be created anyway; refusing it
// first keeps a megabyte-long pax path out of the path walk.
inline constexpr std::size_t kMaxMemberPathBytes = 4096;

// How far one compressed input may expand, and which limit says so (for the error).
struct ExpansionBudget {
    std::uint64_t bytes = 0;
    std::string limit;  // "--max-layer-ratio 100 (100 times ... once past ... bytes)"
};

struct LayerLimits {
    // What one layer may unpack to, counted twice as it is unpacked: the uncompressed tar
    // stream, and the apparent sizes of its regular files (a sparse file at its full size).
    std::uint64_t max_bytes = std::uint64_t{64} << 30;
    // ... and, past `ratio_floor`, at most this many times its compressed size (0: no bound).
    std::uint64_t max_ratio = 100;
    std::uint64_t ratio_floor = std::uint64_t{64} << 20;
    // Members (files, dirs, links, whiteouts) of one layer.
    std::uint64_t max_entries = std::uint64_t{1} << 20;

    // The budget of a layer blob of `compressed` bytes: max_bytes, or less by the ratio.
    ExpansionBudget layer_budget(std::uint64_t compressed) const;
    // The budget of an oci-archive of `size` bytes (it holds many layers: no max_bytes).
    ExpansionBudget archive_budget(std::uint64_t size) const;
};

// index.json, nested indexes, manifests and configs: 4 MiB as containers/image (podman, CRI-O,
// skopeo) caps manifests and configs and containerd caps manifests; real ones are a few KiB.
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{4} << 20;
// Their structure is at most 5 levels deep; 64 leaves room for any extension field. Fixed, not
// a flag: the store reads its documents back (Store::get) under the same bound.
inline constexpr int kMaxDocumentDepth = 64;
// oci-layout holds one short field.
inline constexpr JsonLimits kLayoutHeaderLimits{4096, 4};

struct ImageLimits {
    LayerLimits layer;
    std::size_t max_document_bytes = kMaxDocumentBytes;

    JsonLimits document() const { return {max_document_bytes, kMaxDocumentDepth}; }
};

}  // namespace wmrun::overlay
