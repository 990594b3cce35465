// Reading an OCI image layout (image-layout.md) from a directory or an oci-archive tar, and
// picking one runnable image from it: by ref name, then by platform through nested indexes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/overlay/temp_dir.hpp"

namespace wmrun::overlay {

struct ImageSelector {
    std::string ref;  // org.opencontainers.image.ref.name in index.json; empty: the only image
    std::string os = "linux";
    std::string architecture = "amd64";
    std::string variant;  // empty: any
};

// A manifest and config read, verified against their descriptors and checked runnable.
struct ResolvedImage {
    Descriptor manifest_descriptor;
    Manifest manifest;
    ImageConfig config;
    std::string ref_name;  // of the top-level index.json entry it was reached from
};

// Checks what running needs beyond each document's own validity: an image config media type,
// supported layer media types, one diff_id per layer, and the wanted platform.
Result<> check_runnable(const Manifest& m, const ImageConfig& c, const ImageSelector& want,
                        const std::string& where);

inline constexpr std::size_t kMaxDocumentSize = 8u << 20;

class Layout {
  public:
    // Validates oci-layout (imageLayoutVersion 1.0.0) and index.json.
    static Result<Layout> open(const std::string& dir);

    const std::string& dir() const { return dir_; }
    const Index& index() const { return index_; }
    std::string blob_path(const Digest& d) const;

    // Reads a small blob (manifest, index, config), verifying its size and digest.
    Result<std::string> read_blob(const Descriptor& d, std::size_t max = kMaxDocumentSize) const;

    Result<ResolvedImage> resolve(const ImageSelector& want) const;

  private:
    std::string dir_;
    Index index_;
};

// An oci-archive (a tar of a layout) extracted into a temp dir under `temp_parent`; the dir
// goes away with this object. Only directories and regular files are accepted from the tar.
class ArchiveLayout {
  public:
    static Result<ArchiveLayout> extract(const std::string& tar_path,
                                         const std::string& temp_parent);
    const Layout& layout() const { return *layout_; }

  private:
    TempDir dir_;
    std::optional<Layout> layout_;
};

}  // namespace wmrun::overlay
