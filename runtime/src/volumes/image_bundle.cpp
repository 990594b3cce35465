#include "volumes/image_bundle.hpp"
#include "wmrun/base/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "process/launch.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/base/path.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

namespace {

constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr off_t kMaxAccountsFile = 4 << 20;

bool all_digits(const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::uint32_t> parse_id(const std::string& s, const std::string& what) {
    if (!all_digits(s) || s.size() > 10) return fail("image user", s, "not a valid " + what);
    unsigned long v = std::stoul(s);
    if (v > 0xfffffffeUL) return fail("image user", s, what + " out of range");
    return static_cast<std::uint32_t>(v);
}

// An accounts file of the image, or nullopt when it has none. Only a regular file is read: a
// device node planted at /etc/passwd must not make wmrun read a host device.
Result<std::optional<std::string>> read_image_file(int rootfd, const std::string& path) {
    auto fd = open_in_root(rootfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!fd) {
        if (fd.error().err == ENOENT) return std::optional<std::string>{};
        return std::unexpected(fd.error());
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) < 0) return sys_error("fstat", path);
    if (!S_ISREG(st.st_mode)) return fail("image user", path, "not a regular file");
    if (st.st_size > kMaxAccountsFile) return fail("image user", path, "too large");
    return std::optional<std::string>(WM_TRY(read_fd(fd->get(), path)));
}

// One line of /etc/passwd (name:pw:uid:gid:gecos:home:shell) or /etc/group (name:pw:gid:users).
std::vector<std::vector<std::string>> records(const std::optional<std::string>& text,
                                              std::size_t min_fields) {
    std::vector<std::vector<std::string>> out;
    if (!text) return out;
    for (const auto& line : split(*text, '\n')) {
        if (line.empty() || line[0] == '#') continue;
        auto f = split(line, ':');
        if (f.size() >= min_fields && all_digits(f[2])) out.push_back(std::move(f));
    }
    return out;
}

std::string escape_volume_name(const std::string& path) {
    return percent_escape(clean_relative(path), [](unsigned char c, std::size_t) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
}

std::string absolute_in_container(const std::string& p) {
    return p.empty() ? "/" : p[0] == '/' ? p : "/" + p;
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
    return std::any_of(env.begin(), env.end(),
                       [&](const std::string& e) { return e.rfind(key + "=", 0) == 0; });
}

// config.json for the image on top of the default spec (`wmrun spec`): the image config's
// fields replace process and adds volumes and annotations (image-spec conversion.md).
// A new volume dir takes the owner and mode of the image's directory at that path, so a
// non-root user can write where the image let it.
Result<> make_volume_dir(int rootfd, const std::string& in_container, const std::string& source) {
    if (path_exists(source)) return {};
    WM_CHECK(mkdir_all(source, 0755));
    auto fd = open_in_root(rootfd, in_container, O_PATH | O_DIRECTORY);
    if (!fd) return {};  // not in the image (or not a directory): a plain root-owned dir
    struct stat st {};
    if (::fstat(fd->get(), &st) < 0) return sys_error("fstat", in_container);
    if (::chown(source.c_str(), st.st_uid, st.st_gid) < 0) return sys_error("chown", source);
    if (::chmod(source.c_str(), st.st_mode & 07777) < 0) return sys_error("chmod", source);
    return {};
}

Result<OrderedJson> image_spec(const GlobalOptions& g, const std::string& id,
                               const overlay::ImageConfig& image, const ImageOptions& img,
                               const ImageUser& user, const std::string& container_dir,
                               int rootfd) {
    const overlay::ContainerConfig& c = image.config;
    OrderedJson spec = default_spec(g.rootless, ::geteuid(), ::getegid());
    OrderedJson& p = spec["process"];
    p["terminal"] = img.terminal;
    p["user"] = {{"uid", user.uid}, {"gid", user.gid}};
    if (!user.additional_gids.empty()) p["user"]["additionalGids"] = user.additional_gids;
    std::vector<std::string> args = c.entrypoint;
    const auto& tail = img.args.empty() ? c.cmd : img.args;
    args.insert(args.end(), tail.begin(), tail.end());
    if (args.empty())
        return fail("create", id, "the image has no Entrypoint or Cmd: give a command after --");
    p["args"] = args;
    std::vector<std::string> env = c.env;
    if (!has_env(env, "PATH")) env.insert(env.begin(), kDefaultPath);
    if (img.terminal && !has_env(env, "TERM")) env.push_back("TERM=xterm");
    if (!has_env(env, "HOME")) env.push_back("HOME=" + user.home);
    p["env"] = env;
    p["cwd"] = absolute_in_container(c.working_dir);

    spec["root"] = {{"path", "merged"}, {"readonly", false}};
    spec["hostname"] = id.substr(0, 63);
    for (const auto& v : c.volumes) {
        // parse_image_config refused these already; checked again where the path becomes a
        // bind mount, as a volume over / mounted the container's own dir over its rootfs.
        WM_CHECK(overlay::check_volume_path(v, id));
        std::string name = escape_volume_name(v);
        std::string source = container_dir + "/volumes/" + name;
        WM_CHECK(make_volume_dir(rootfd, absolute_in_container(v), source));
        spec["mounts"].push_back({{"destination", absolute_in_container(v)},
                                  {"type", "bind"},
                                  {"source", source},
                                  {"options", {"rbind", "nosuid", "nodev"}}});
    }
    OrderedJson annotations = OrderedJson::object();
    for (const auto& [k, v] : c.labels)
        annotations[k] = v;
    if (!c.stop_signal.empty()) annotations["org.opencontainers.image.stopSignal"] = c.stop_signal;
    if (!annotations.empty()) spec["annotations"] = annotations;
    return spec;
}

// Takes the mount back (and, for a container that had no volume layer before, the layer too)
// unless the container came to own it.
class RootfsGuard {
  public:
    RootfsGuard(std::string store, std::string id, bool rootless, bool fresh)
        : store_(std::move(store)), id_(std::move(id)), rootless_(rootless), fresh_(fresh) {}
    RootfsGuard(RootfsGuard&& o) noexcept
        : store_(std::move(o.store_)),
          id_(std::move(o.id_)),
          rootless_(o.rootless_),
          fresh_(o.fresh_),
          armed_(std::exchange(o.armed_, false)) {}
    RootfsGuard(const RootfsGuard&) = delete;
    RootfsGuard& operator=(const RootfsGuard&) = delete;
    ~RootfsGuard() {
        if (armed_) (void)release_image_rootfs(store_, id_, rootless_, fresh_);
    }
    void release() { armed_ = false; }

  private:
    std::string store_, id_;
    bool rootless_, fresh_;
    bool armed_ = true;
};

struct Prepared {
    std::string bundle;
    std::string store;  // absolute
    RootfsGuard guard;
};

Result<Prepared> prepare(const GlobalOptions& g, const std::string& id, const ImageOptions& img) {
    WM_CHECK(validate_id(id));
    if (path_exists(StateStore(g.root).dir(id)))
        return fail("create container", id, "container with given ID already exists");
    std::string root = std::filesystem::absolute(img.store).lexically_normal().string();
    auto store = WM_TRY(overlay::Store::open(root, whiteout_mode(g.rootless)));
    std::string dir = store.container_dir(id);
    bool fresh = !path_exists(dir);
    auto mount = store.mount_container(img.image, id);
    if (!mount) {
        // Not mounted, so nothing of another container's can be under it.
        if (fresh) (void)remove_all(dir);
        return std::unexpected(mount.error());
    }
    mount->release();
    Prepared out{dir, root, RootfsGuard(root, id, g.rootless, fresh)};

    auto image = WM_TRY(store.get(img.image));
    auto rootfd = WM_TRY(open_file(dir + "/merged", O_PATH | O_DIRECTORY));
    auto user = WM_TRY(resolve_image_user(rootfd.get(), image.config.config.user));
    auto spec = WM_TRY(image_spec(g, id, image.config, img, user, dir, rootfd.get()));
    // The init changes into cwd before exec; an image may name a directory it lacks.
    WM_CHECK(mkdir_all_in_root(rootfd.get(), spec["process"]["cwd"].get<std::string>()));
    WM_CHECK(write_file_atomic(dir + "/config.json", spec.dump(), 0644));
    return out;
}

}  // namespace

overlay::WhiteoutMode whiteout_mode(bool rootless) {
    return rootless ? overlay::WhiteoutMode::rootless : overlay::WhiteoutMode::root;
}

Result<ImageUser> resolve_image_user(int rootfd, const std::string& spec) {
    auto colon = spec.find(':');
    std::string name = spec.substr(0, colon);
    std::string group = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (name.empty()) name = "0";
    auto passwd = records(WM_TRY(read_image_file(rootfd, "/etc/passwd")), 7);
    ImageUser out;
    const std::vector<std::string>* entry = nullptr;
    if (all_digits(name)) {
        out.uid = WM_TRY(parse_id(name, "uid"));
        for (const auto& f : passwd)
            if (f[2] == name) {
                entry = &f;
                break;
            }
    } else {
        for (const auto& f : passwd)
            if (f[0] == name) {
                entry = &f;
                break;
            }
        if (entry == nullptr)
            return fail("image user", name, "no such user in the image's /etc/passwd");
        out.uid = WM_TRY(parse_id((*entry)[2], "uid"));
    }
    if (entry != nullptr) {
        if (all_digits((*entry)[3])) out.gid = WM_TRY(parse_id((*entry)[3], "gid"));
        if (!(*entry)[5].empty()) out.home = (*entry)[5];
    }

    auto groups = records(WM_TRY(read_image_file(rootfd, "/etc/group")), 4);
    if (all_digits(group)) {
        out.gid = WM_TRY(parse_id(group, "gid"));
    } else if (!group.empty()) {
        auto g = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& f) { return f[0] == group; });
        if (g == groups.end())
            return fail("image user", group, "no such group in the image's /etc/group");
        out.gid = WM_TRY(parse_id((*g)[2], "gid"));
    }
    if (entry != nullptr) {
        for (const auto& f : groups) {
            auto members = split(f[3], ',');
            if (std::find(members.begin(), members.end(), (*entry)[0]) == members.end()) continue;
            gid_t gid = WM_TRY(parse_id(f[2], "gid"));
            if (gid != out.gid && std::find(out.additional_gids.begin(), out.additional_gids.end(),
                                            gid) == out.additional_gids.end())
                out.additional_gids.push_back(gid);
        }
    }
    return out;
}

Result<> release_image_rootfs(const std::string& store_root, const std::string& id, bool rootless,
                              bool volumes) {
    auto store = WM_TRY(overlay::Store::open(store_root, whiteout_mode(rootless)));
    if (volumes) {
        auto r = store.remove_container(id);
        if (!r && r.error().err == ENOENT) return {};
        return r;
    }
    WM_CHECK(store.unmount_container(id));
    std::string config = store.container_dir(id) + "/config.json";
    if (::unlink(config.c_str()) < 0 && errno != ENOENT) return sys_error("unlink", config);
    return {};
}

Result<> record_image_store(const GlobalOptions& g, ContainerState& state,
                            const std::string& store, const std::string& image) {
    StateStore states(g.root);
    auto lock = WM_TRY(states.lock(state.id));
    state.image_store = store;
    state.image = image;
    return states.save(state);
}

Result<ContainerState> create_container_from_image(const GlobalOptions& g, CreateOptions o,
                                                   const ImageOptions& img) {
    auto prepared = WM_TRY(prepare(g, o.id, img));
    o.bundle = prepared.bundle;
    o.image_store = prepared.store;
    auto launched = WM_TRY(launch_container(g, o, false));
    if (auto r = record_image_store(g, launched.state, prepared.store, img.image); !r) {
        destroy_container(g, launched.state);
        return std::unexpected(r.error());
    }
    prepared.guard.release();
    return std::move(launched.state);
}

Result<int> run_container_from_image(const GlobalOptions& g, CreateOptions o,
                                     const ImageOptions& img, const RunOptions& r) {
    auto prepared = WM_TRY(prepare(g, o.id, img));
    o.bundle = prepared.bundle;
    o.image_store = prepared.store;
    o.image = img.image;
    auto status = run_container(g, o, r);
    // Detached or kept, the container owns the mount now; otherwise its delete released it.
    if (status) prepared.guard.release();
    return status;
}

Result<> delete_container_volumes(const GlobalOptions& g, const std::string& id, bool force,
                                  const std::string& store) {
    WM_CHECK(validate_id(id));
    StateStore states(g.root);
    std::string root = std::filesystem::absolute(store).lexically_normal().string();
    bool container = path_exists(states.dir(id));
    if (auto s = states.load(id); s && !s->image_store.empty()) root = s->image_store;
    if (container) WM_CHECK(delete_container(g, id, force));
    if (!path_exists(root + "/containers/" + id)) {
        if (container) return {};
        return fail("look up container", id, "container does not exist", ENOENT);
    }
    return release_image_rootfs(root, id, g.rootless, true);
}

}  // namespace wmrun::runtime
