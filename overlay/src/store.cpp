#include "wmrun/overlay/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/text.hpp"
#include "wmrun/overlay/temp_dir.hpp"

namespace wmrun::overlay {

namespace {

// Image names ("app:1.0", "registry.example/ns/app@sha256:...") become file names: anything
// outside a safe set is %XX-escaped, so '/' can never make a path.
std::string escape_name(const std::string& name) {
    return percent_escape(name, [](unsigned char c, std::size_t i) {
        return std::isalnum(c) || c == '-' || c == '_' || c == ':' || c == '@' || c == '+' ||
               (c == '.' && i > 0);
    });
}

Result<> check_name(const std::string& name) {
    if (name.empty()) return fail("image name", "", "is empty");
    if (name.size() > 200) return fail("image name", name.substr(0, 40) + "...", "is too long");
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f) return fail("image name", name, "has control characters");
    return {};
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return sys_error("opendir", path);
    while (dirent* ent = ::readdir(d)) {
        std::string n = ent->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

Result<> fsync_dir(const std::string& path) {
    auto fd = WM_TRY(open_file(path, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) < 0) return sys_error("fsync", path);
    return {};
}

Json descriptor_to_json(const Descriptor& d) {
    return {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
}

class RateClock {
  public:
    double rate(std::uint64_t bytes) const {
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        return secs > 0 ? static_cast<double>(bytes) / secs : 0;
    }

  private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

Result<Store> Store::open(const std::string& root, WhiteoutMode mode) {
    Store s;
    s.root_ = root;
    s.mode_ = mode;
    for (const char* sub :
         {"blobs/sha256", "blobs/sha512", "layers", "images", "tmp", "containers"})
        WM_CHECK(mkdir_all(root + "/" + sub, 0700));
    return s;
}

std::string Store::blob_path(const Digest& d) const {
    return root_ + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex;
}

std::string Store::layer_path(const Digest& diff_id) const {
    return root_ + "/layers/" + diff_id.hex;
}

std::string Store::container_dir(const std::string& id) const {
    return root_ + "/containers/" + id;
}

Result<UniqueFd> Store::lock(int operation) const {
    std::string path = root_ + "/lock";
    auto fd = WM_TRY(open_file(path, O_RDWR | O_CREAT, 0600));
    if (::flock(fd.get(), operation) < 0) return sys_error("flock", path);
    return fd;
}

Result<> Store::put_blob(const std::string& src, const Descriptor& d) const {
    std::string dst = blob_path(d.digest);
    if (path_exists(dst)) return {};  // verified when it was written
    std::string tmp = root_ + "/blobs/" + std::string(d.digest.algorithm_name()) + "/.tmp-XXXXXX";
    UniqueFd out(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!out) return sys_error("mkstemp", tmp);
    auto cleanup = [&](auto err) {
        ::unlink(tmp.c_str());
        return err;
    };
    auto in = open_file(src, O_RDONLY);
    if (!in) return cleanup(std::unexpected(in.error()));
    BlobVerifier v(d.digest, d.size, src);
    std::string buf(256 * 1024, '\0');
    for (;;) {
        ssize_t n = ::read(in->get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cleanup(sys_error("read", src));
        if (n == 0) break;
        if (auto r = v.update(buf.data(), static_cast<std::size_t>(n)); !r) return cleanup(r);
        if (auto r = write_all(out.get(), {buf.data(), static_cast<std::size_t>(n)}, tmp); !r)
            return cleanup(r);
    }
    if (auto r = v.finish(); !r) return cleanup(r);
    if (::fchmod(out.get(), 0444) < 0 || ::fsync(out.get()) < 0)
        return cleanup(sys_error("fsync", tmp));
    if (::rename(tmp.c_str(), dst.c_str()) < 0) return cleanup(sys_error("rename", dst));
    return fsync_dir(root_ + "/blobs/" + std::string(d.digest.algorithm_name()));
}

Result<ImageRecord> Store::import(const std::string& source, const ImportOptions& opt) {
    auto guard = WM_TRY(lock(LOCK_SH));
    struct stat st {};
    if (::stat(source.c_str(), &st) < 0) return sys_error("import image", source);
    std::optional<ArchiveLayout> archive;
    std::optional<Layout> dir_layout;
    if (S_ISDIR(st.st_mode)) {
        dir_layout = WM_TRY(Layout::open(source));
    } else {
        archive = WM_TRY(ArchiveLayout::extract(source, root_ + "/tmp"));
    }
    const Layout& layout = dir_layout ? *dir_layout : archive->layout();
    ResolvedImage img = WM_TRY(layout.resolve(opt.select));

    ImageRecord rec{opt.name.empty() ? img.ref_name : opt.name, img.manifest_descriptor};
    if (rec.name.empty())
        return fail("import image", source, "the image has no ref name; give it a name");
    WM_CHECK(check_name(rec.name));

    // Everything was validated above; from here on the store changes.
    WM_CHECK(put_blob(layout.blob_path(img.manifest_descriptor.digest), img.manifest_descriptor));
    WM_CHECK(put_blob(layout.blob_path(img.manifest.config.digest), img.manifest.config));

    ImportProgress p;
    p.layers_total = img.manifest.layers.size();
    for (const auto& l : img.manifest.layers)
        p.bytes_total += static_cast<std::uint64_t>(l.size);
    RateClock clock;
    auto report = [&] {
        p.bytes_per_second = clock.rate(p.bytes_done);
        if (opt.progress) opt.progress(p);
    };
    report();
    for (std::size_t i = 0; i < img.manifest.layers.size(); ++i) {
        const Descriptor& layer = img.manifest.layers[i];
        WM_CHECK(put_blob(layout.blob_path(layer.digest), layer));
        std::uint64_t before = p.bytes_done;
        UnpackOptions uo{mode_, [&](std::uint64_t n) {
                             p.bytes_done = before + n;
                             report();
                         }};
        WM_CHECK(unpack_layer(blob_path(layer.digest), layer, img.config.diff_ids[i],
                              root_ + "/layers", uo));
        p.bytes_done = before + static_cast<std::uint64_t>(layer.size);
        p.layers_done = i + 1;
        report();
    }

    Json record = {{"name", rec.name}, {"manifest", descriptor_to_json(rec.manifest)}};
    WM_CHECK(write_json_file_atomic(root_ + "/images/" + escape_name(rec.name), record));
    return rec;
}

Result<std::vector<ImageRecord>> Store::list() const {
    std::vector<ImageRecord> out;
    for (const auto& file : WM_TRY(list_dir(root_ + "/images"))) {
        if (file.find(".tmp-") != std::string::npos) continue;  // an interrupted write
        std::string path = root_ + "/images/" + file;
        Json j = WM_TRY(read_json_file(path));
        if (!j.is_object() || !j.contains("name") || !j["name"].is_string() ||
            !j.contains("manifest"))
            return fail("read image record", path, "needs \"name\" and \"manifest\"");
        Descriptor manifest = WM_TRY(parse_descriptor(j["manifest"], path));
        out.push_back({j["name"].get<std::string>(), std::move(manifest)});
    }
    std::sort(out.begin(), out.end(),
              [](const ImageRecord& a, const ImageRecord& b) { return a.name < b.name; });
    return out;
}

Result<StoredImage> Store::get(const std::string& name) const {
    WM_CHECK(check_name(name));
    std::string path = root_ + "/images/" + escape_name(name);
    if (!path_exists(path)) return fail("find image", name, "no such image in " + root_);
    Json j = WM_TRY(read_json_file(path));
    if (!j.is_object() || !j.contains("manifest"))
        return fail("read image record", path, "needs \"manifest\"");
    StoredImage out;
    out.record = {name, WM_TRY(parse_descriptor(j["manifest"], path))};

    // Blobs are re-verified on read: the store is trusted for availability, not integrity.
    auto read_doc = [&](const Descriptor& d) -> Result<std::string> {
        std::string p = blob_path(d.digest);
        std::string text = WM_TRY(read_file(p));
        BlobVerifier v(d.digest, d.size, p);
        WM_CHECK(v.update(text.data(), text.size()));
        WM_CHECK(v.finish());
        return text;
    };
    std::string mpath = blob_path(out.record.manifest.digest);
    std::string manifest_text = WM_TRY(read_doc(out.record.manifest));
    out.manifest = WM_TRY(parse_manifest(manifest_text, mpath));
    std::string config_text = WM_TRY(read_doc(out.manifest.config));
    out.config = WM_TRY(parse_image_config(config_text, blob_path(out.manifest.config.digest)));
    ImageSelector platform{.os = out.config.os, .architecture = out.config.architecture};
    WM_CHECK(check_runnable(out.manifest, out.config, platform, mpath));
    for (const auto& id : out.config.diff_ids) {
        std::string dir = layer_path(id);
        if (!path_exists(dir))
            return fail("find image", name, "layer " + id.str() + " is missing from " + dir);
        out.layer_dirs.push_back(dir);
    }
    return out;
}

Result<> Store::remove(const std::string& name) {
    WM_CHECK(check_name(name));
    std::string path = root_ + "/images/" + escape_name(name);
    if (::unlink(path.c_str()) < 0) {
        if (errno == ENOENT) return fail("remove image", name, "no such image in " + root_);
        return sys_error("remove image", path);
    }
    return fsync_dir(root_ + "/images");
}

Result<GcResult> Store::gc(const std::set<Digest>& in_use) {
    auto guard = WM_TRY(lock(LOCK_EX));
    std::set<std::string> keep_blobs;  // "<alg>/<hex>"
    std::set<std::string> keep_layers;
    for (const auto& d : in_use)
        keep_layers.insert(d.hex);
    // A container's volume layer is a diff against its lowers: they stay while it exists.
    for (const auto& d : WM_TRY(container_layers()))
        keep_layers.insert(d.hex);
    auto blob_key = [](const Digest& d) { return std::string(d.algorithm_name()) + "/" + d.hex; };
    // A record that cannot be read stops the collection: deleting on a guess loses data.
    for (const auto& rec : WM_TRY(list())) {
        auto img = get(rec.name);
        if (!img) return std::unexpected(with_context(img.error(), "gc: image " + rec.name));
        keep_blobs.insert(blob_key(rec.manifest.digest));
        keep_blobs.insert(blob_key(img->manifest.config.digest));
        for (const auto& l : img->manifest.layers)
            keep_blobs.insert(blob_key(l.digest));
        for (const auto& id : img->config.diff_ids)
            keep_layers.insert(id.hex);
    }

    GcResult out;
    for (const char* alg : {"sha256", "sha512"}) {
        std::string dir = root_ + "/blobs/" + alg;
        for (const auto& f : WM_TRY(list_dir(dir))) {
            if (keep_blobs.contains(std::string(alg) + "/" + f)) continue;
            WM_CHECK(remove_all(dir + "/" + f));
            ++out.blobs_removed;
        }
    }
    for (const auto& f : WM_TRY(list_dir(root_ + "/layers"))) {
        if (keep_layers.contains(f)) continue;
        WM_CHECK(remove_all(root_ + "/layers/" + f));
        if (f.rfind(".tmp-", 0) != 0) ++out.layers_removed;
    }
    for (const auto& f : WM_TRY(list_dir(root_ + "/tmp")))
        WM_CHECK(remove_all(root_ + "/tmp/" + f));
    return out;
}

}  // namespace wmrun::overlay
