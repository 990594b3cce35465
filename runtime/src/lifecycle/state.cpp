#include "wmrun/runtime/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <ctime>

#include "lifecycle/status_probe.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json_fields.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/base/process.hpp"

namespace wmrun::runtime {

const char* status_name(Status s) {
    switch (s) {
        case Status::creating:
            return "creating";
        case Status::created:
            return "created";
        case Status::running:
            return "running";
        case Status::paused:
            return "paused";
        case Status::stopped:
            return "stopped";
    }
    return "stopped";
}

Result<> validate_id(const std::string& id) {
    if (id.empty()) return fail("invalid container id", id, "empty", EINVAL);
    if (id == "." || id == ".." || id.size() > 1024)
        return fail("invalid container id", id, "not allowed", EINVAL);
    bool ok = std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '+' || c == '-' || c == '.';
    });
    if (!ok) return fail("invalid container id", id, "allowed are letters, digits and _+-.");
    return {};
}

namespace {

// What is read back from the state root decides what runs as the caller (the hooks of the
// bundle a state names, the process that gets signals): the root, each container's directory
// and each file in it must be the caller's own and writable by no one else. Checked on the
// opened fd, so a rename or symlink swapped in between cannot slip past.
Result<> check_owned(int fd, const std::string& path, bool want_dir) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return sys_error("stat", path);
    uid_t me = ::geteuid();
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return fail("state", path, want_dir ? "is not a directory" : "is not a regular file",
                    want_dir ? ENOTDIR : EINVAL);
    if (st.st_uid != me)
        return fail("state", path,
                    fmt::format("is owned by uid {}, not by the caller (uid {})", st.st_uid, me),
                    EPERM);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return fail("state", path, "is writable by group or others", EPERM);
    return {};
}

Result<UniqueFd> open_owned(int dirfd, const std::string& name, const std::string& shown,
                            int flags, bool want_dir) {
    UniqueFd fd(::openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return sys_error("open", shown);
    WM_CHECK(check_owned(fd.get(), shown, want_dir));
    return fd;
}

Result<UniqueFd> lock_dir(int dirfd, const std::string& dir, const char* name = "lock") {
    std::string shown = dir + "/" + name;
    UniqueFd fd(::openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return sys_error("open", shown);
    WM_CHECK(check_owned(fd.get(), shown, false));
    while (::flock(fd.get(), LOCK_EX) < 0) {
        if (errno != EINTR) return sys_error("flock", shown);
    }
    return fd;
}

Result<std::string> read_owned(int dirfd, const std::string& name, const std::string& shown) {
    auto fd = WM_TRY(open_owned(dirfd, name, shown, O_RDONLY, false));
    constexpr std::size_t kMaxStateFile = std::size_t{16} << 20;
    auto text = WM_TRY(read_file_fd(fd.get(), shown, kMaxStateFile + 1));
    if (text.size() > kMaxStateFile) return fail("read", shown, "larger than 16 MiB", EFBIG);
    return text;
}

Error no_such_container(const std::string& id) {
    return Error{"look up container", id, ENOENT, "container does not exist"};
}

// Throws Json::exception on a malformed record, as the other fields of load() do.
Result<WakeRecord> wake_record(const Json& j, const std::string& path) {
    using namespace json_fields;
    auto f = WM_TRY(Fields::of(j, path));
    WakeRecord w;
    w.count = WM_TRY(f.req_int<std::uint64_t>("count"));
    const Json* sum = WM_TRY(f.required("sumSeconds"));
    if (!sum->is_number() || !(sum->get<double>() >= 0))
        return field_error(f.at("sumSeconds"), "must be a number of seconds");
    w.sum_seconds = sum->get<double>();
    std::size_t i = 0;
    WM_CHECK(f.each("buckets", [&](const Json& b, const std::string& at) -> Result<> {
        std::uint64_t n = WM_TRY(as_int<std::uint64_t>(b, at));
        if (i < w.buckets.size()) w.buckets[i++] = n;
        return {};
    }));
    return w;
}

// Every member is type- and range-checked (a state.json is the runtime's own file, but one a
// crash or a disk can damage): nlohmann's get<int>() of 4e90 is undefined behaviour.
Result<ContainerState> parse_state(const Json& doc, const std::string& id) {
    using namespace json_fields;
    auto top = WM_TRY(Fields::of(doc, ""));
    ContainerState s;
    s.id = WM_TRY(top.req_string("id"));
    if (s.id != id) return field_error("id", "names another container: " + s.id);
    s.oci_version = WM_TRY(top.string_or("ociVersion"));
    s.pid = WM_TRY(top.req_int<pid_t>("pid"));
    s.bundle = WM_TRY(top.req_string("bundle"));
    s.rootfs = WM_TRY(top.string_or("rootfs"));
    s.created = WM_TRY(top.string_or("created"));
    s.owner = WM_TRY(top.string_or("owner"));
    s.annotations = WM_TRY(top.string_map("annotations"));
    auto own = WM_TRY(Fields::of(*WM_TRY(top.required("wmrun")), "wmrun"));
    s.start_time = WM_TRY(own.req_int<std::uint64_t>("startTime"));
    if (const Json* cg = own.get("cgroup")) s.cgroup = *cg;
    s.systemd_cgroup = WM_TRY(own.bool_or("systemdCgroup", false));
    s.rootless = WM_TRY(own.bool_or("rootless", false));
    s.started = WM_TRY(own.bool_or("started", false));
    s.image_store = WM_TRY(own.string_or("imageStore"));
    s.image = WM_TRY(own.string_or("image"));
    s.hibernated = WM_TRY(own.bool_or("hibernated", false));
    s.hibernated_at_ms = WM_TRY(own.int_or<std::int64_t>("hibernatedAt", 0));
    if (const Json* w = own.get("wakes")) s.wakes = WM_TRY(wake_record(*w, own.at("wakes")));
    return s;
}

}  // namespace

void mark_hibernated(ContainerState& s) {
    s.hibernated = true;
    s.hibernated_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
}

void record_wake(ContainerState& s, double seconds) {
    s.hibernated = false;
    s.hibernated_at_ms = 0;
    s.wakes.count += 1;
    s.wakes.sum_seconds += seconds;
    for (std::size_t i = 0; i < kWakeBucketBounds.size(); ++i) {
        if (seconds <= kWakeBucketBounds[i]) {
            s.wakes.buckets[i] += 1;
            break;
        }
    }
}

Result<UniqueFd> StateStore::open_root(bool create) const {
    if (root_.empty())
        return fail("state root", "",
                    "none for an unprivileged user without XDG_RUNTIME_DIR: set it, or pass "
                    "--root a directory of your own",
                    ENOENT);
    if (create) WM_CHECK(mkdir_all(root_, 0711));
    UniqueFd fd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open", root_);
    WM_CHECK(check_owned(fd.get(), root_, true));
    return fd;
}

Result<UniqueFd> StateStore::open_dir(const std::string& id) const {
    WM_CHECK(validate_id(id));
    auto root = open_root(false);
    if (!root) {
        if (root.error().err == ENOENT && !root_.empty())
            return std::unexpected(no_such_container(id));
        return std::unexpected(root.error());
    }
    return open_dir_in(root->get(), id);
}

Result<UniqueFd> StateStore::open_dir_in(int root_fd, const std::string& id) const {
    auto dirfd = open_owned(root_fd, id, dir(id), O_PATH | O_DIRECTORY, true);
    if (!dirfd && dirfd.error().err == ENOENT) return std::unexpected(no_such_container(id));
    return dirfd;
}

Result<ContainerLock> StateStore::create(const std::string& id) {
    WM_CHECK(validate_id(id));
    auto root = WM_TRY(open_root(true));
    if (::mkdirat(root.get(), id.c_str(), 0711) < 0) {
        if (errno == EEXIST) return fail("create container", id, "container with given ID already exists");
        return sys_error("mkdir", dir(id));
    }
    auto dirfd = WM_TRY(open_owned(root.get(), id, dir(id), O_PATH | O_DIRECTORY, true));
    auto fd = WM_TRY(lock_dir(dirfd.get(), dir(id)));
    return ContainerLock(std::move(fd));
}

Result<ContainerLock> StateStore::lock(const std::string& id, const char* name) const {
    auto dirfd = WM_TRY(open_dir(id));
    auto fd = lock_dir(dirfd.get(), dir(id), name);
    if (!fd) {
        if (fd.error().err == ENOENT) return std::unexpected(no_such_container(id));
        return std::unexpected(fd.error());
    }
    // The container may have been deleted while we waited for the lock.
    if (!path_exists(dir(id))) return std::unexpected(no_such_container(id));
    return ContainerLock(std::move(*fd));
}

Result<ContainerState> StateStore::load(const std::string& id) const {
    auto dirfd = WM_TRY(open_dir(id));
    return load_from(dirfd.get(), id);
}

Result<StateStore::Reader> StateStore::reader() const {
    return Reader(*this, WM_TRY(open_root(false)));
}

Result<ContainerState> StateStore::Reader::load(const std::string& id) const {
    WM_CHECK(validate_id(id));
    auto dirfd = WM_TRY(store_->open_dir_in(root_.get(), id));
    return store_->load_from(dirfd.get(), id);
}

Result<ContainerState> StateStore::load_from(int dirfd, const std::string& id) const {
    std::string path = dir(id) + "/state.json";
    auto text = read_owned(dirfd, "state.json", path);
    if (!text && text.error().err == ENOENT) return std::unexpected(no_such_container(id));
    if (!text) return std::unexpected(text.error());
    auto doc = WM_TRY(parse_json(*text, path));
    auto s = parse_state(doc, id);
    if (!s) return fail("read state", path, s.error().message());
    return s;
}

Result<> StateStore::save_config(const std::string& id, const std::string& config_json) const {
    // create has just made and checked the directory.
    return replace_file(dir(id) + "/config.json", config_json, 0600);
}

Result<std::string> StateStore::load_config(const std::string& id) const {
    return load_file(id, "config.json");
}

Result<> StateStore::save_file(const std::string& id, const std::string& name,
                               std::string_view data) const {
    WM_CHECK(open_dir(id));  // the container exists, and its directory is the caller's own
    return replace_file(dir(id) + "/" + name, data, 0600);
}

Result<std::string> StateStore::load_file(const std::string& id, const std::string& name) const {
    auto dirfd = WM_TRY(open_dir(id));
    return read_owned(dirfd.get(), name, dir(id) + "/" + name);
}

Result<> StateStore::remove_file(const std::string& id, const std::string& name) const {
    auto dirfd = WM_TRY(open_dir(id));
    std::string path = dir(id) + "/" + name;
    UniqueFd d(::openat(dirfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return sys_error("open", dir(id));
    if (::unlinkat(d.get(), name.c_str(), 0) < 0 && errno != ENOENT)
        return sys_error("unlink", path);
    return {};
}

Result<Json> container_config(const StateStore& store, const ContainerState& state) {
    std::string path = store.dir(state.id) + "/config.json";
    auto text = store.load_config(state.id);
    if (!text && text.error().err == ENOENT) return read_json_file(state.bundle + "/config.json");
    if (!text) return std::unexpected(text.error());
    return parse_json(*text, path);
}

Result<> StateStore::save(const ContainerState& s) const {
    OrderedJson doc = state_json(s, Status::created);
    doc.erase("status");  // status is live, computed on every read
    doc["wmrun"] = {
        {"startTime", s.start_time}, {"cgroup", s.cgroup},   {"systemdCgroup", s.systemd_cgroup},
        {"rootless", s.rootless},    {"started", s.started}, {"hibernated", s.hibernated}};
    if (!s.image_store.empty()) doc["wmrun"]["imageStore"] = s.image_store;
    if (!s.image.empty()) doc["wmrun"]["image"] = s.image;
    if (s.hibernated_at_ms != 0) doc["wmrun"]["hibernatedAt"] = s.hibernated_at_ms;
    if (s.wakes.count != 0)
        doc["wmrun"]["wakes"] = {{"count", s.wakes.count},
                                 {"sumSeconds", s.wakes.sum_seconds},
                                 {"buckets", s.wakes.buckets}};
    return replace_file(dir(s.id) + "/state.json", doc.dump(), 0600);
}

Result<> StateStore::remove(const std::string& id) const {
    WM_CHECK(validate_id(id));
    return remove_all(dir(id));
}

Result<std::vector<std::string>> StateStore::list() const {
    std::vector<std::string> ids;
    auto root = open_root(false);
    if (!root && root.error().err == ENOENT && !root_.empty()) return ids;
    if (!root) return std::unexpected(root.error());
    DIR* d = ::opendir(root_.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return ids;
        return sys_error("opendir", root_);
    }
    while (dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (name == "." || name == "..") continue;
        if (path_exists(root_ + "/" + name + "/state.json")) ids.push_back(name);
    }
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    return ids;
}

Status current_status(const StateStore& store, const ContainerState& s) {
    if (s.pid <= 0 || !process_alive(s.pid, s.start_time)) return Status::stopped;
    if (is_frozen(s)) return Status::paused;
    if (!s.started && path_exists(store.fifo_path(s.id))) return Status::created;
    return Status::running;
}

OrderedJson state_json(const ContainerState& s, Status status) {
    OrderedJson doc;
    doc["ociVersion"] = s.oci_version;
    doc["id"] = s.id;
    doc["pid"] = status == Status::stopped ? 0 : s.pid;
    doc["status"] = status_name(status);
    doc["bundle"] = s.bundle;
    doc["rootfs"] = s.rootfs;
    doc["created"] = s.created;
    doc["owner"] = s.owner;
    if (!s.annotations.empty()) doc["annotations"] = s.annotations;
    // Beside the OCI status, which stays "paused" for runc's clients.
    if (status == Status::paused && s.hibernated) doc["hibernated"] = true;
    return doc;
}

const char* display_status(const ContainerState& state, Status status) {
    if (status == Status::paused && state.hibernated) return "hibernated";
    return status_name(status);
}

}  // namespace wmrun::runtime
