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

#include "status_probe.hpp"
#include "wmrun/base/fs.hpp"
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

Result<UniqueFd> lock_dir(const std::string& dir) {
    auto fd = WM_TRY(open_file(dir + "/lock", O_RDWR | O_CREAT, 0600));
    while (::flock(fd.get(), LOCK_EX) < 0) {
        if (errno != EINTR) return sys_error("flock", dir + "/lock");
    }
    return fd;
}

}  // namespace

Result<ContainerLock> StateStore::create(const std::string& id) {
    WM_CHECK(validate_id(id));
    WM_CHECK(mkdir_all(root_, 0711));
    std::string d = dir(id);
    if (::mkdir(d.c_str(), 0711) < 0) {
        if (errno == EEXIST) return fail("create container", id, "container already exists");
        return sys_error("mkdir", d);
    }
    auto fd = WM_TRY(lock_dir(d));
    return ContainerLock(std::move(fd));
}

Result<ContainerLock> StateStore::lock(const std::string& id) const {
    WM_CHECK(validate_id(id));
    std::string d = dir(id);
    if (!path_exists(d + "/state.json") && !path_exists(d))
        return fail("look up container", id, "container does not exist", ENOENT);
    auto fd = lock_dir(d);
    if (!fd) {
        if (fd.error().err == ENOENT)
            return fail("look up container", id, "container does not exist", ENOENT);
        return std::unexpected(fd.error());
    }
    // The container may have been deleted while we waited for the lock.
    if (!path_exists(d)) return fail("look up container", id, "container does not exist", ENOENT);
    return ContainerLock(std::move(*fd));
}

Result<ContainerState> StateStore::load(const std::string& id) const {
    std::string path = dir(id) + "/state.json";
    if (!path_exists(path))
        return fail("look up container", id, "container does not exist", ENOENT);
    auto doc = WM_TRY(read_json_file(path));
    ContainerState s;
    try {
        s.id = doc.at("id").get<std::string>();
        s.oci_version = doc.value("ociVersion", "");
        s.pid = doc.at("pid").get<pid_t>();
        s.start_time = doc.at("wmrun").at("startTime").get<std::uint64_t>();
        s.bundle = doc.at("bundle").get<std::string>();
        s.rootfs = doc.value("rootfs", "");
        s.created = doc.value("created", "");
        s.owner = doc.value("owner", "");
        if (doc.contains("annotations"))
            s.annotations = doc.at("annotations").get<std::map<std::string, std::string>>();
        const auto& own = doc.at("wmrun");
        s.cgroup = own.value("cgroup", Json());
        s.systemd_cgroup = own.value("systemdCgroup", false);
        s.rootless = own.value("rootless", false);
        s.started = own.value("started", false);
        s.image_store = own.value("imageStore", "");
        s.hibernated = own.value("hibernated", false);
    } catch (const Json::exception& e) {
        return fail("read state", path, e.what());
    }
    return s;
}

Result<> StateStore::save(const ContainerState& s) const {
    OrderedJson doc = state_json(s, Status::created);
    doc.erase("status");  // status is live, computed on every read
    doc["wmrun"] = {
        {"startTime", s.start_time}, {"cgroup", s.cgroup},   {"systemdCgroup", s.systemd_cgroup},
        {"rootless", s.rootless},    {"started", s.started}, {"hibernated", s.hibernated}};
    if (!s.image_store.empty()) doc["wmrun"]["imageStore"] = s.image_store;
    return replace_file(dir(s.id) + "/state.json", doc.dump(), 0600);
}

Result<> StateStore::remove(const std::string& id) const {
    WM_CHECK(validate_id(id));
    return remove_all(dir(id));
}

Result<std::vector<std::string>> StateStore::list() const {
    std::vector<std::string> ids;
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
