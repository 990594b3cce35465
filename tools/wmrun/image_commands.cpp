// image import, ls, rm, gc: the content-addressed image store (docs/image-store.md).
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/overlay/store.hpp"

namespace wmrun::cli {

namespace {

std::string human_bytes(double n) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    std::size_t u = 0;
    while (n >= 1024 && u + 1 < std::size(units)) {
        n /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{:.0f} {}", n, units[u]) : fmt::format("{:.1f} {}", n, units[u]);
}

Result<overlay::Store> open_store(const Context& ctx, const std::string& dir) {
    return overlay::Store::open(
        dir, ctx.global.rootless ? overlay::WhiteoutMode::rootless : overlay::WhiteoutMode::root);
}

// "<layout-dir>:<ref>" picks one image of a layout; a path that exists as given wins, so a
// directory whose name holds a colon still works.
void split_source(const std::string& arg, std::string& path, std::string& ref) {
    path = arg;
    ref.clear();
    struct stat st {};
    if (::stat(arg.c_str(), &st) == 0) return;
    auto colon = arg.rfind(':');
    if (colon == std::string::npos || colon == 0 || arg.find('/', colon) != std::string::npos)
        return;
    path = arg.substr(0, colon);
    ref = arg.substr(colon + 1);
}

// One status line on a terminal, rewritten in place: "\r" back to column 0, ESC[K clears the
// rest of the previous, possibly longer, line.
void show_progress(const overlay::ImportProgress& p) {
    std::string line =
        fmt::format("\rlayers {}/{}  {} / {}  {}/s\x1b[K", p.layers_done, p.layers_total,
                    human_bytes(double(p.bytes_done)), human_bytes(double(p.bytes_total)),
                    human_bytes(p.bytes_per_second));
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
}

struct ImportArgs {
    std::string store = overlay::kDefaultStoreRoot;
    std::string name;
    std::string source;
    overlay::ImageLimits limits;
};

Result<int> import_image(const Context& ctx, const ImportArgs& a) {
    auto store = WM_TRY(open_store(ctx, a.store));
    overlay::ImportOptions opt;
    opt.name = a.name;
    opt.limits = a.limits;
    std::string path;
    split_source(a.source, path, opt.select.ref);
    bool tty = ::isatty(STDERR_FILENO) == 1;
    if (tty) opt.progress = show_progress;
    auto rec = store.import(path, opt);
    if (tty) std::fputs("\r\x1b[K", stderr);  // the error line, if any, starts clean
    if (!rec) return std::unexpected(rec.error());
    print(fmt::format("{} {}\n", rec->name, rec->manifest.digest.str()));
    return 0;
}

Result<int> list_images(const Context& ctx, const std::string& dir, const std::string& format) {
    auto store = WM_TRY(open_store(ctx, dir));
    auto records = WM_TRY(store.list());
    Json arr = Json::array();
    std::vector<std::vector<std::string>> rows = {{"NAME", "DIGEST", "LAYERS", "SIZE"}};
    for (const auto& rec : records) {
        auto img = WM_TRY(store.get(rec.name));
        // The manifest's claims, summed without wrapping.
        std::int64_t size = 0;
        for (const auto& l : img.manifest.layers)
            if (__builtin_add_overflow(size, l.size, &size)) size = INT64_MAX;
        arr.push_back({{"name", rec.name},
                       {"digest", rec.manifest.digest.str()},
                       {"layers", img.manifest.layers.size()},
                       {"size", size},
                       {"os", img.config.os},
                       {"architecture", img.config.architecture}});
        rows.push_back({rec.name, rec.manifest.digest.str().substr(0, 19),
                        std::to_string(img.manifest.layers.size()), human_bytes(double(size))});
    }
    if (format == "json") {
        print(arr.dump() + "\n");
        return 0;
    }
    std::vector<std::size_t> width(rows[0].size(), 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            width[i] = std::max(width[i], row[i].size() + 3);
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i)
            line += i + 1 < row.size() ? fmt::format("{:<{}}", row[i], width[i]) : row[i];
        print(line + "\n");
    }
    return 0;
}

}  // namespace

void add_image_commands(CLI::App& app, Context& ctx) {
    CLI::App* group = add_group(app, ctx, "image", "manage the image store");

    static ImportArgs imp;
    auto* i = add_command(*group, ctx, "import",
                          "import an image from an OCI layout directory or oci-archive tar",
                          [&ctx] { return import_image(ctx, imp); });
    i->add_option("--store", imp.store, "image store directory")->capture_default_str();
    i->add_option("--name", imp.name, "name to store the image as (default: its ref name)");
    i->add_option("source", imp.source, "<oci-layout-dir>[:<ref>] or <archive.tar>")->required();
    overlay::LayerLimits& lim = imp.limits.layer;
    i->add_option("--max-layer-size", lim.max_bytes,
                  "most bytes a layer may unpack to (sparse files at their full size)")
        ->transform(CLI::AsSizeValue(false))
        ->capture_default_str();
    i->add_option("--max-layer-ratio", lim.max_ratio,
                  "most times its compressed size a layer (or a compressed oci-archive) may "
                  "unpack to once past " +
                      std::to_string(lim.ratio_floor >> 20) + " MiB; 0: no bound")
        ->capture_default_str();
    i->add_option("--max-layer-entries", lim.max_entries, "most members a layer may hold")
        ->capture_default_str();
    i->add_option("--max-manifest-size", imp.limits.max_document_bytes,
                  "most bytes of index.json, a manifest or a config")
        ->transform(CLI::AsSizeValue(false))
        ->capture_default_str();

    static std::string ls_store = overlay::kDefaultStoreRoot, ls_format = "table";
    auto* ls = add_command(*group, ctx, "ls", "list the images in the store",
                           [&ctx] { return list_images(ctx, ls_store, ls_format); });
    ls->alias("list");
    ls->add_option("--store", ls_store, "image store directory")->capture_default_str();
    ls->add_option("-f,--format", ls_format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));

    static std::string rm_store = overlay::kDefaultStoreRoot, rm_name;
    auto* rm =
        add_command(*group, ctx, "rm", "remove an image's name; gc frees its blobs and layers",
                    [&ctx]() -> Result<int> {
                        auto store = WM_TRY(open_store(ctx, rm_store));
                        WM_CHECK(store.remove(rm_name));
                        return 0;
                    });
    rm->add_option("--store", rm_store, "image store directory")->capture_default_str();
    rm->add_option("name", rm_name, "image name")->required();

    static std::string gc_store = overlay::kDefaultStoreRoot;
    auto* gc = add_command(
        *group, ctx, "gc", "remove blobs and layers no image uses", [&ctx]() -> Result<int> {
            auto store = WM_TRY(open_store(ctx, gc_store));
            auto r = WM_TRY(store.gc());
            print(fmt::format("removed {} blobs, {} layers\n", r.blobs_removed, r.layers_removed));
            return 0;
        });
    gc->add_option("--store", gc_store, "image store directory")->capture_default_str();
}

}  // namespace wmrun::cli
