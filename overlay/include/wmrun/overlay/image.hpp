// The image spec's JSON documents as plain structs, filled only after full validation:
// descriptors (descriptor.md), indexes (image-index.md), manifests (manifest.md) and image
// configs (config.md). Errors name the document and the JSON field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/overlay/digest.hpp"
#include "wmrun/overlay/limits.hpp"

namespace wmrun::overlay {

namespace media_type {
inline constexpr std::string_view layout_header = "application/vnd.oci.layout.header.v1+json";
inline constexpr std::string_view index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view empty = "application/vnd.oci.empty.v1+json";
}  // namespace media_type

inline constexpr std::string_view ref_name_annotation = "org.opencontainers.image.ref.name";

enum class Compression { none, gzip, zstd };

// The compression of a layer media type (the non-distributable variants included), or an
// error for anything that is not a tar layer.
Result<Compression> layer_compression(std::string_view media_type, const std::string& where);

struct Platform {
    std::string architecture;
    std::string os;
    std::string os_version;
    std::string variant;
    std::vector<std::string> os_features;
};

struct Descriptor {
    std::string media_type;
    Digest digest;
    std::int64_t size = 0;
    std::vector<std::string> urls;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;
    std::string artifact_type;

    // The ref.name annotation, or "".
    std::string ref_name() const;
};

struct Index {
    std::string media_type;  // may be empty: the field is optional in index.json
    std::vector<Descriptor> manifests;
    std::map<std::string, std::string> annotations;
};

struct Manifest {
    std::string media_type;
    Descriptor config;
    std::vector<Descriptor> layers;
    std::map<std::string, std::string> annotations;
};

// config.md "config": how to run the image.
struct ContainerConfig {
    std::string user;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::vector<std::string> env;            // "KEY=value"
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::vector<std::string> volumes;
    std::string working_dir;
    std::map<std::string, std::string> labels;
    std::string stop_signal;
};

struct ImageConfig {
    std::string architecture;
    std::string os;
    std::string variant;
    std::string created;
    std::string author;
    ContainerConfig config;
    std::vector<Digest> diff_ids;  // rootfs.diff_ids, lowest layer first
};

// A Volumes entry is bind-mounted over that path of the container's rootfs: it must name a
// directory below / with no ".." component ("/..", "//", "/./" and "/a/../.." are refused,
// so a volume can never cover the rootfs or sit outside it), and hold no NUL byte. The error
// names the path.
Result<> check_volume_path(std::string_view path, const std::string& where);

// `where` names the document ("<layout>/blobs/sha256/<hex>", "index.json") in errors. A text
// past the limits' size or nesting depth is refused before anything is built from it.
Result<Descriptor> parse_descriptor(const Json& j, const std::string& where);
Result<Index> parse_index(std::string_view text, const std::string& where,
                          const JsonLimits& limits = ImageLimits{}.document());
Result<Manifest> parse_manifest(std::string_view text, const std::string& where,
                                const JsonLimits& limits = ImageLimits{}.document());
Result<ImageConfig> parse_image_config(std::string_view text, const std::string& where,
                                       const JsonLimits& limits = ImageLimits{}.document());

}  // namespace wmrun::overlay
