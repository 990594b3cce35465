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
#include <thread>

#include "import_stage.hpp"
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

// images/<name>: a name and a descriptor, well under 1 KiB.
constexpr JsonLimits kRecordLimits{64 << 10, 8};

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

Result<ImageRecord> Store::import(const std::string& source, const ImportOptions& opt) {
    auto guard = WM_TRY(lock(LOCK_SH));
    struct stat st {};
    if (::stat(source.c_str(), &st) < 0) return sys_error("import image", source);
    std::optional<ArchiveLayout> archive;
    std::optional<Layout> dir_layout;
    if (S_ISDIR(st.st_mode)) {
        dir_layout = WM_TRY(Layout::open(source, opt.limits));
    } else {
        archive = WM_TRY(ArchiveLayout::extract(source, root_ + "/tmp", opt.limits));
    }
    const Layout& layout = dir_layout ? *dir_layout : archive->layout();
    ResolvedImage img = WM_TRY(layout.resolve(opt.select));

    ImageRecord rec{opt.name.empty() ? img.ref_name : opt.name, img.manifest_descriptor};
    if (rec.name.empty())
        return fail("import image", source, "the image has no ref name; give it a name");
    WM_CHECK(check_name(rec.name));

    // Everything was validated above; from here on the store changes, under temp names until
    // Staging::commit.
    detail::Staging staging(root_);
    for (const Descriptor* d : {&img.manifest_descriptor, &img.manifest.config})
        if (!path_exists(blob_path(d->digest)))
            WM_CHECK(staging.copy_blob(layout.blob_path(d->digest), *d, blob_path(d->digest)));

    // Each blob is read once: verified, copied when the store lacks it and unpacked when the
    // layer is missing. A blob or diff-id listed twice (empty layers often are) is done once.
    std::vector<detail::LayerTask> tasks;
    std::set<std::string> blobs_seen, layers_seen;
    ImportProgress p;
    p.layers_total = img.manifest.layers.size();
    for (std::size_t i = 0; i < img.manifest.layers.size(); ++i) {
        const Descriptor& layer = img.manifest.layers[i];
        const Digest& diff_id = img.config.diff_ids[i];
        // Sizes are the image's claims: summed without wrapping (progress only).
        if (__builtin_add_overflow(p.bytes_total, static_cast<std::uint64_t>(layer.size),
                                   &p.bytes_total))
            p.bytes_total = UINT64_MAX;
        detail::LayerTask t{layer, diff_id, layout.blob_path(layer.digest), {}, {}};
        if (blobs_seen.insert(layer.digest.str()).second && !path_exists(blob_path(layer.digest)))
            t.blob_dst = blob_path(layer.digest);
        struct stat lst {};
        std::string dir = layer_path(diff_id);
        bool have_layer = ::lstat(dir.c_str(), &lst) == 0 && S_ISDIR(lst.st_mode);
        if (layers_seen.insert(diff_id.hex).second && !have_layer) t.layer_dst = dir;
        if (t.layer_dst.empty() && t.blob_dst.empty()) continue;
        if (t.blob_dst.empty()) t.source = blob_path(layer.digest);
        tasks.push_back(std::move(t));
    }

    RateClock clock;
    auto report = [&](std::uint64_t bytes, std::size_t tasks_done) {
        p.bytes_done = bytes;
        // Layers the store had count as done from the start.
        p.layers_done = p.layers_total - tasks.size() + tasks_done;
        p.bytes_per_second = clock.rate(p.bytes_done);
        if (opt.progress) opt.progress(p);
    };
    report(0, 0);
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    if (auto r = staging.run_layers(tasks, mode_, opt.limits.layer, threads, report); !r)
        return std::unexpected(with_context(r.error(), "import image " + rec.name));
    WM_CHECK(staging.commit());
    report(p.bytes_total, tasks.size());

    Json record = {{"name", rec.name}, {"manifest", descriptor_to_json(rec.manifest)}};
    WM_CHECK(write_json_file_atomic(root_ + "/images/" + escape_name(rec.name), record));
    return rec;
}

Result<std::vector<ImageRecord>> Store::list() const {
    std::vector<ImageRecord> out;
    for (const auto& file : WM_TRY(list_dir(root_ + "/images"))) {
        if (file.find(".tmp-") != std::string::npos) continue;  // an interrupted write
        std::string path = root_ + "/images/" + file;
        Json j = WM_TRY(read_json_file(path, kRecordLimits));
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
    Json j = WM_TRY(read_json_file(path, kRecordLimits));
    if (!j.is_object() || !j.contains("manifest"))
        return fail("read image record", path, "needs \"manifest\"");
    StoredImage out;
    out.record = {name, WM_TRY(parse_descriptor(j["manifest"], path))};

    // Blobs are re-verified on read: the store is trusted for availability, not integrity.
    // Each is read up to its descriptor's size (which the import accepted), no further.
    auto read_doc = [&](const Descriptor& d) -> Result<std::string> {
        std::string p = blob_path(d.digest);
        auto fd = WM_TRY(open_file(p, O_RDONLY | O_NOFOLLOW));
        std::size_t size = static_cast<std::size_t>(std::max<std::int64_t>(d.size, 0));
        std::string text = WM_TRY(read_fd(fd.get(), p, size + 1));
        BlobVerifier v(d.digest, d.size, p);
        WM_CHECK(v.update(text.data(), text.size()));
        WM_CHECK(v.finish());
        return text;
    };
    auto doc_limits = [](const Descriptor& d) {
        return JsonLimits{static_cast<std::size_t>(std::max<std::int64_t>(d.size, 0)),
                          kMaxDocumentDepth};
    };
    std::string mpath = blob_path(out.record.manifest.digest);
    std::string manifest_text = WM_TRY(read_doc(out.record.manifest));
    out.manifest = WM_TRY(parse_manifest(manifest_text, mpath, doc_limits(out.record.manifest)));
    std::string config_text = WM_TRY(read_doc(out.manifest.config));
    out.config = WM_TRY(parse_image_config(config_text, blob_path(out.manifest.config.digest),
                                           doc_limits(out.manifest.config)));
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
