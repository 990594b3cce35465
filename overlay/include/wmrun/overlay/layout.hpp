// Reading an OCI image layout (image-layout.md) from a directory or an oci-archive tar, and
// picking one runnable image from it: by ref name, then by platform through nested indexes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/overlay/limits.hpp"
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

class Layout {
  public:
    // Validates oci-layout (imageLayoutVersion 1.0.0) and index.json. Every document is read
    // under `limits` (size, nesting), and so are the layers an import unpacks from it.
    static Result<Layout> open(const std::string& dir, const ImageLimits& limits = {});

    const std::string& dir() const { return dir_; }
    const Index& index() const { return index_; }
    std::string blob_path(const Digest& d) const;

    const ImageLimits& limits() const { return limits_; }
    // Reads a small blob (manifest, index, config), verifying its size (at most the limits'
    // max_document_bytes) and digest.
    Result<std::string> read_blob(const Descriptor& d) const;

    Result<ResolvedImage> resolve(const ImageSelector& want) const;

  private:
    std::string dir_;
    Index index_;
    ImageLimits limits_;
};

// An oci-archive (a tar of a layout) extracted into a temp dir under `temp_parent`; the dir
// goes away with this object. Only directories and regular files are accepted from the tar.
// A compressed archive is a stream like a layer: its members together may expand to the
// limits' archive_budget of its size, and it may hold at most max_entries members.
class ArchiveLayout {
  public:
    static Result<ArchiveLayout> extract(const std::string& tar_path,
                                         const std::string& temp_parent,
                                         const ImageLimits& limits = {});
    const Layout& layout() const { return *layout_; }

  private:
    TempDir dir_;
    std::optional<Layout> layout_;
};

}  // namespace wmrun::overlay
