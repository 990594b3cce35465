#include "image_builder.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "wmrun/base/fs.hpp"

namespace wmrun::overlay::test {

namespace {

la_ssize_t append_cb(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}

archive* new_writer(Compression c) {
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (c == Compression::gzip) archive_write_add_filter_gzip(a);
    if (c == Compression::zstd) archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    return a;
}

std::string write_archive(const std::vector<Member>& members, Compression c) {
    std::string out;
    archive* a = new_writer(c);
    archive_write_open(a, &out, nullptr, append_cb, nullptr);
    for (const auto& m : members) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, m.path.c_str());
        archive_entry_set_uid(e, m.uid);
        archive_entry_set_gid(e, m.gid);
        archive_entry_set_mtime(e, m.mtime, 0);
        archive_entry_set_perm(e, m.mode);
        switch (m.type) {
            case 'f':
                archive_entry_set_filetype(e, AE_IFREG);
                break;
            case 'd':
                archive_entry_set_filetype(e, AE_IFDIR);
                break;
            case 'l':
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, m.link.c_str());
                break;
            case 'h':
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_hardlink(e, m.link.c_str());
                break;
            case 'c':
                archive_entry_set_filetype(e, AE_IFCHR);
                break;
            case 'b':
                archive_entry_set_filetype(e, AE_IFBLK);
                break;
            case 'p':
                archive_entry_set_filetype(e, AE_IFIFO);
                break;
        }
        if (m.type == 'c' || m.type == 'b') archive_entry_set_rdev(e, m.rdev);
        if (m.type == 'f') archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
        for (const auto& [k, v] : m.xattrs)
            archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
        if (archive_write_header(a, e) != ARCHIVE_OK)
            throw std::runtime_error(archive_error_string(a));
        if (m.type == 'f' && !m.data.empty()) archive_write_data(a, m.data.data(), m.data.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

la_ssize_t hash_cb(archive*, void* client, const void* buf, size_t n) {
    static_cast<Hasher*>(client)->update(buf, n);
    return static_cast<la_ssize_t>(n);
}

// Writes the one-file tar of zeros_layer through `a`, already set up with its filter and open.
void write_zeros(archive* a, const std::string& path, std::uint64_t size, bool sparse) {
    constexpr std::size_t kChunk = 1 << 20;
    constexpr std::uint64_t kData = 4096;  // the sparse file's one data block
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    if (sparse) archive_entry_sparse_add_entry(e, 0, static_cast<la_int64_t>(kData));
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    std::string zeros(kChunk, '\0');
    for (std::uint64_t left = sparse ? kData : size; left > 0;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
        if (archive_write_data(a, zeros.data(), n) != static_cast<la_ssize_t>(n))
            throw std::runtime_error(archive_error_string(a));
        left -= n;
    }
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
}

}  // namespace

StreamedLayer zeros_layer(const std::string& path, std::uint64_t size, Compression c, bool sparse) {
    StreamedLayer out;
    archive* blob = new_writer(c);
    archive_write_open(blob, &out.blob, nullptr, append_cb, nullptr);
    write_zeros(blob, path, size, sparse);
    Hasher diff;
    archive* plain = new_writer(Compression::none);
    archive_write_open(plain, &diff, nullptr, hash_cb, nullptr);
    write_zeros(plain, path, size, sparse);
    out.diff_id = diff.finish();
    return out;
}

Tar make_tar(const std::vector<Member>& members, Compression c) {
    Tar t;
    t.plain = write_archive(members, Compression::none);
    t.blob = c == Compression::none ? t.plain : write_archive(members, c);
    t.members = members;
    return t;
}

Scratch::Scratch() {
    std::string templ = "/var/tmp/wmrun-overlay-test-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = templ;
}

Scratch::~Scratch() {
    (void)remove_all(path_);
}

void write_text(const std::string& path, const std::string& data) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << data;
}

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string media_type_for(Compression c) {
    switch (c) {
        case Compression::gzip:
            return std::string(media_type::layer_gzip);
        case Compression::zstd:
            return std::string(media_type::layer_zstd);
        case Compression::none:
            break;
    }
    return std::string(media_type::layer_tar);
}

Json descriptor_json(const Descriptor& d, const std::string& ref, const std::string& arch) {
    Json j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
    if (!ref.empty()) j["annotations"] = {{std::string(ref_name_annotation), ref}};
    if (!arch.empty()) j["platform"] = {{"os", "linux"}, {"architecture", arch}};
    return j;
}

LayoutBuilder::LayoutBuilder(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    write_text(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    write_index({});
}

Descriptor LayoutBuilder::add_blob(const std::string& media_type, const std::string& data) {
    Descriptor d;
    d.media_type = media_type;
    d.digest = digest_of(data);
    d.size = static_cast<std::int64_t>(data.size());
    write_text(dir_ + "/blobs/sha256/" + d.digest.hex, data);
    return d;
}

Descriptor LayoutBuilder::add_image(const std::vector<Tar>& layers, Compression c,
                                    const Json& overrides, const std::string& arch) {
    Json diff_ids = Json::array();
    Json layer_descs = Json::array();
    for (const auto& t : layers) {
        diff_ids.push_back(digest_of(t.plain).str());
        std::string blob = make_tar(t.members, c).blob;
        layer_descs.push_back(descriptor_json(add_blob(media_type_for(c), blob)));
    }
    Json config = {{"architecture", arch},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"PATH=/bin"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    config.merge_patch(overrides);
    Descriptor cd = add_blob(std::string(media_type::config), config.dump());
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", media_type::manifest},
                     {"config", descriptor_json(cd)},
                     {"layers", layer_descs}};
    return add_blob(std::string(media_type::manifest), manifest.dump());
}

void LayoutBuilder::write_index(const std::vector<Json>& manifests) {
    Json index = {
        {"schemaVersion", 2}, {"mediaType", media_type::index}, {"manifests", Json(manifests)}};
    write_text(dir_ + "/index.json", index.dump());
}

void tar_directory(const std::string& dir, const std::string& tar_path) {
    std::vector<Member> members;
    for (auto& p : std::filesystem::recursive_directory_iterator(dir)) {
        std::string rel = std::filesystem::relative(p.path(), dir).string();
        if (p.is_directory())
            members.push_back(test::dir(rel));
        else
            members.push_back(file(rel, read_text(p.path())));
    }
    write_text(tar_path, make_tar(members, Compression::none).blob);
}

}  // namespace wmrun::overlay::test
