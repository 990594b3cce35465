#include "wmrun/overlay/image.hpp"

#include "json_read.hpp"

namespace wmrun::overlay {

using detail::Doc;
using detail::get_key_set;
using detail::get_string;
using detail::get_string_map;
using detail::get_strings;
using detail::member;

Result<Compression> layer_compression(std::string_view type, const std::string& where) {
    // The "nondistributable" types are deprecated but still valid to read (media-types.md).
    static constexpr std::string_view nondist =
        "application/vnd.oci.image.layer.nondistributable.v1.tar";
    if (type == media_type::layer_tar || type == nondist) return Compression::none;
    if (type == media_type::layer_gzip || type == std::string(nondist) + "+gzip")
        return Compression::gzip;
    if (type == media_type::layer_zstd || type == std::string(nondist) + "+zstd")
        return Compression::zstd;
    return fail("read layer", where, "unsupported layer media type \"" + std::string(type) + "\"");
}

Result<> check_volume_path(std::string_view path, const std::string& where) {
    std::string shown = "\"" + std::string(path) + "\"";
    if (path.find('\0') != std::string_view::npos)
        return fail("image volume", where, shown + ": has a NUL byte");
    bool below_root = false;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        std::string_view part = path.substr(pos, next - pos);
        // Even a ".." that stays below / is refused: the path is cleaned, escaped and joined in
        // more than one place, and one of them taking it literally is enough to climb out.
        if (part == "..") return fail("image volume", where, shown + ": \"..\" in a volume path");
        if (!part.empty() && part != ".") below_root = true;
        pos = next + 1;
    }
    if (!below_root)
        return fail("image volume", where, shown + ": a volume at / would cover the rootfs");
    return {};
}

std::string Descriptor::ref_name() const {
    auto it = annotations.find(std::string(ref_name_annotation));
    return it == annotations.end() ? std::string() : it->second;
}

namespace {

Result<Json> parse_object(std::string_view text, const Doc& d, const JsonLimits& limits) {
    auto j = parse_json(std::string(text), d.where, limits);
    if (!j) {
        // The size bound is ImageLimits::max_document_bytes, which import takes as a flag.
        bool too_large = j.error().err == EFBIG;
        return fail(d.op, d.where, j.error().detail + (too_large ? " (--max-manifest-size)" : ""));
    }
    if (!j->is_object()) return d.error("(document)", "must be a JSON object");
    return j;
}

Result<> check_schema_version(const Doc& d, const Json& j) {
    const Json* v = member(j, "schemaVersion");
    if (v == nullptr) return d.error("schemaVersion", "is required");
    if (!v->is_number_integer() || v->get<std::int64_t>() != 2)
        return d.error("schemaVersion", "must be 2");
    return {};
}

Result<> check_media_type_field(const Doc& d, const Json& j, std::string_view want,
                                std::string& out) {
    out = WM_TRY(get_string(d, j, "", "mediaType", false));
    if (!out.empty() && out != want)
        return d.error("mediaType", "is \"" + out + "\", expected \"" + std::string(want) + "\"");
    return {};
}

Result<Descriptor> descriptor_at(const Doc& d, const Json& j, const std::string& field) {
    if (!j.is_object()) return d.error(field, "must be an object");
    Descriptor out;
    out.media_type = WM_TRY(get_string(d, j, field, "mediaType", true));
    if (out.media_type.find('/') == std::string::npos)
        return d.error(field + ".mediaType", "\"" + out.media_type + "\" is not a media type");
    std::string digest = WM_TRY(get_string(d, j, field, "digest", true));
    auto parsed = parse_digest(digest, d.where);
    if (!parsed) return d.error(field + ".digest", parsed.error().detail);
    out.digest = *parsed;
    const Json* size = member(j, "size");
    if (size == nullptr) return d.error(field + ".size", "is required");
    if (!size->is_number_integer() || size->get<std::int64_t>() < 0)
        return d.error(field + ".size", "must be a non-negative integer");
    out.size = size->get<std::int64_t>();
    out.urls = WM_TRY(get_strings(d, j, field, "urls"));
    out.annotations = WM_TRY(get_string_map(d, j, field, "annotations"));
    out.artifact_type = WM_TRY(get_string(d, j, field, "artifactType", false));
    if (const Json* p = member(j, "platform")) {
        std::string pf = field + ".platform";
        if (!p->is_object()) return d.error(pf, "must be an object");
        Platform plat;
        plat.architecture = WM_TRY(get_string(d, *p, pf, "architecture", true));
        plat.os = WM_TRY(get_string(d, *p, pf, "os", true));
        plat.os_version = WM_TRY(get_string(d, *p, pf, "os.version", false));
        plat.variant = WM_TRY(get_string(d, *p, pf, "variant", false));
        plat.os_features = WM_TRY(get_strings(d, *p, pf, "os.features"));
        out.platform = std::move(plat);
    }
    return out;
}

}  // namespace

Result<Descriptor> parse_descriptor(const Json& j, const std::string& where) {
    return descriptor_at(Doc{"parse descriptor", where}, j, "descriptor");
}

Result<Index> parse_index(std::string_view text, const std::string& where,
                          const JsonLimits& limits) {
    Doc d{"parse image index", where};
    Json j = WM_TRY(parse_object(text, d, limits));
    WM_CHECK(check_schema_version(d, j));
    Index out;
    WM_CHECK(check_media_type_field(d, j, media_type::index, out.media_type));
    const Json* m = member(j, "manifests");
    if (m == nullptr) return d.error("manifests", "is required");
    if (!m->is_array()) return d.error("manifests", "must be an array");
    for (std::size_t i = 0; i < m->size(); ++i)
        out.manifests.push_back(
            WM_TRY(descriptor_at(d, (*m)[i], "manifests[" + std::to_string(i) + "]")));
    out.annotations = WM_TRY(get_string_map(d, j, "", "annotations"));
    return out;
}

Result<Manifest> parse_manifest(std::string_view text, const std::string& where,
                                const JsonLimits& limits) {
    Doc d{"parse image manifest", where};
    Json j = WM_TRY(parse_object(text, d, limits));
    WM_CHECK(check_schema_version(d, j));
    Manifest out;
    WM_CHECK(check_media_type_field(d, j, media_type::manifest, out.media_type));
    const Json* c = member(j, "config");
    if (c == nullptr) return d.error("config", "is required");
    out.config = WM_TRY(descriptor_at(d, *c, "config"));
    const Json* l = member(j, "layers");
    if (l == nullptr) return d.error("layers", "is required");
    if (!l->is_array()) return d.error("layers", "must be an array");
    for (std::size_t i = 0; i < l->size(); ++i)
        out.layers.push_back(
            WM_TRY(descriptor_at(d, (*l)[i], "layers[" + std::to_string(i) + "]")));
    out.annotations = WM_TRY(get_string_map(d, j, "", "annotations"));
    return out;
}

Result<ImageConfig> parse_image_config(std::string_view text, const std::string& where,
                                       const JsonLimits& limits) {
    Doc d{"parse image config", where};
    Json j = WM_TRY(parse_object(text, d, limits));
    ImageConfig out;
    out.architecture = WM_TRY(get_string(d, j, "", "architecture", true));
    out.os = WM_TRY(get_string(d, j, "", "os", true));
    out.variant = WM_TRY(get_string(d, j, "", "variant", false));
    out.created = WM_TRY(get_string(d, j, "", "created", false));
    out.author = WM_TRY(get_string(d, j, "", "author", false));

    const Json* rootfs = member(j, "rootfs");
    if (rootfs == nullptr) return d.error("rootfs", "is required");
    if (!rootfs->is_object()) return d.error("rootfs", "must be an object");
    std::string type = WM_TRY(get_string(d, *rootfs, "rootfs", "type", true));
    if (type != "layers") return d.error("rootfs.type", "must be \"layers\", got \"" + type + "\"");
    const Json* ids = member(*rootfs, "diff_ids");
    if (ids == nullptr) return d.error("rootfs.diff_ids", "is required");
    if (!ids->is_array()) return d.error("rootfs.diff_ids", "must be an array");
    for (std::size_t i = 0; i < ids->size(); ++i) {
        std::string field = "rootfs.diff_ids[" + std::to_string(i) + "]";
        if (!(*ids)[i].is_string()) return d.error(field, "must be a string");
        auto dg = parse_digest((*ids)[i].get<std::string>(), where);
        if (!dg) return d.error(field, dg.error().detail);
        out.diff_ids.push_back(*dg);
    }

    if (const Json* c = member(j, "config")) {
        if (!c->is_object()) return d.error("config", "must be an object");
        ContainerConfig& cc = out.config;
        cc.user = WM_TRY(get_string(d, *c, "config", "User", false));
        cc.exposed_ports = WM_TRY(get_key_set(d, *c, "config", "ExposedPorts"));
        cc.env = WM_TRY(get_strings(d, *c, "config", "Env"));
        cc.entrypoint = WM_TRY(get_strings(d, *c, "config", "Entrypoint"));
        cc.cmd = WM_TRY(get_strings(d, *c, "config", "Cmd"));
        cc.volumes = WM_TRY(get_key_set(d, *c, "config", "Volumes"));
        for (const auto& v : cc.volumes)
            if (auto r = check_volume_path(v, where); !r)
                return d.error("config.Volumes", r.error().detail);
        cc.working_dir = WM_TRY(get_string(d, *c, "config", "WorkingDir", false));
        cc.labels = WM_TRY(get_string_map(d, *c, "config", "Labels"));
        cc.stop_signal = WM_TRY(get_string(d, *c, "config", "StopSignal", false));
        for (std::size_t i = 0; i < cc.env.size(); ++i) {
            if (cc.env[i].find('=') == std::string::npos)
                return d.error("config.Env[" + std::to_string(i) + "]",
                               "\"" + cc.env[i] + "\" is not KEY=value");
        }
    }
    return out;
}

}  // namespace wmrun::overlay
