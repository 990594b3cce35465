// The image layout the overlay seeds and the image-index target share, written with
// tests/unit/overlay's LayoutBuilder. Its layers are zstd or uncompressed (libarchive's gzip
// writer stamps the time), so every process that builds it gets the same blobs and digests:
// the index seeds written by fuzz-seeds point at blobs the index target's own copy holds.
#pragma once

#include <string>
#include <vector>

#include "image_builder.hpp"

namespace wmrun::fuzz {

// Members that reach every kind of entry the layer writer handles: files, dirs, symlinks,
// hardlinks, devices, a fifo, xattrs, OCI whiteouts and an opaque-dir marker.
std::vector<overlay::test::Member> sample_members();

// Writes the layout under `layout_dir`: an amd64 image tagged "1.0", an arm64 one, and a nested
// index listing both under the ref "multi". Returns the JSON of index.json.
std::string build_sample_layout(const std::string& layout_dir);

}  // namespace wmrun::fuzz
