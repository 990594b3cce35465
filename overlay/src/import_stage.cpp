#include "import_stage.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <set>
#include <thread>

#include "unpack_stream.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/overlay/temp_dir.hpp"

namespace wmrun::overlay::detail {

namespace {

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<> fsync_path(const std::string& path, int flags) {
    auto fd = WM_TRY(open_file(path, flags));
    if (::fsync(fd.get()) < 0) return sys_error("fsync", path);
    return {};
}

}  // namespace

Staging::~Staging() {
    // Best effort: what is left has a .tmp- name, which gc removes.
    for (const auto& e : staged_) {
        if (e.dir)
            (void)remove_all(e.tmp);
        else
            ::unlink(e.tmp.c_str());
    }
}

void Staging::add(Entry e) {
    std::lock_guard lock(mu_);
    staged_.push_back(std::move(e));
}

Result<std::string> Staging::temp_file(const std::string& dst) {
    std::string tmp = parent_of(dst) + "/.tmp-XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return sys_error("mkstemp", tmp);
    ::close(fd);
    add({tmp, dst, false});
    return tmp;
}

Result<> Staging::copy_blob(const std::string& source, const Descriptor& d,
                            const std::string& dst) {
    std::string tmp = WM_TRY(temp_file(dst));
    auto out = WM_TRY(open_file(tmp, O_WRONLY | O_TRUNC));
    auto in = WM_TRY(open_file(source, O_RDONLY));
    WM_CHECK(stream_layer(in.get(), d, {}, {out.get(), -1}, {}, source));
    if (::fchmod(out.get(), 0444) < 0) return sys_error("chmod", tmp);
    return {};
}

Result<> Staging::run_one(const LayerTask& t, WhiteoutMode mode, const LayerLimits& limits,
                          const std::atomic<bool>& cancel, std::atomic<std::uint64_t>& bytes) {
    UniqueFd copy;
    std::string copy_tmp;
    if (!t.blob_dst.empty()) {
        copy_tmp = WM_TRY(temp_file(t.blob_dst));
        copy = WM_TRY(open_file(copy_tmp, O_WRONLY | O_TRUNC));
    }
    UniqueFd root;
    if (!t.layer_dst.empty()) {
        TempDir dir = WM_TRY(TempDir::create(parent_of(t.layer_dst), ".tmp-layer-"));
        std::string path = dir.release();
        add({path, t.layer_dst, true});
        root = WM_TRY(open_file(path, O_RDONLY | O_DIRECTORY));
    }
    auto src = WM_TRY(open_file(t.source, O_RDONLY));
    // The kernel's readahead can run further ahead on a file read start to end.
    (void)::posix_fadvise(src.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    UnpackOptions opt{mode, [&](std::uint64_t n) { bytes.store(n, std::memory_order_relaxed); },
                      &cancel, limits};
    WM_CHECK(stream_layer(src.get(), t.blob, t.diff_id, {copy.get(), root.get()}, opt, t.source));
    if (copy && ::fchmod(copy.get(), 0444) < 0) return sys_error("chmod", copy_tmp);
    return {};
}

Result<> Staging::run_layers(const std::vector<LayerTask>& tasks, WhiteoutMode mode,
                             const LayerLimits& limits, unsigned threads,
                             const StageProgressFn& progress) {
    std::atomic<bool> cancel{false};
    std::atomic<std::size_t> next{0};
    std::vector<std::atomic<std::uint64_t>> bytes(tasks.size());
    std::mutex mu;
    std::condition_variable cv;
    std::size_t finished = 0;
    std::optional<Error> first_error;

    auto worker = [&] {
        for (;;) {
            std::size_t i = next.fetch_add(1);
            if (i >= tasks.size() || cancel.load()) return;
            auto r = run_one(tasks[i], mode, limits, cancel, bytes[i]);
            std::lock_guard lock(mu);
            // The first real failure is the cause; the others only saw the cancel flag.
            if (!r && !first_error) {
                first_error = r.error();
                cancel.store(true);
            }
            ++finished;
            cv.notify_one();
        }
    };
    threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(tasks.size())));
    std::vector<std::jthread> pool;
    for (unsigned i = 0; i < threads; ++i)
        pool.emplace_back(worker);

    auto report = [&](std::size_t done) {
        if (!progress) return;
        std::uint64_t sum = 0;
        for (const auto& b : bytes)
            sum += b.load(std::memory_order_relaxed);
        progress(sum, done);
    };
    std::unique_lock lock(mu);
    for (;;) {
        std::size_t done = finished;
        if (done == tasks.size() || (cancel.load() && first_error)) break;
        cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished != done; });
        std::size_t now = finished;
        lock.unlock();
        report(now);
        lock.lock();
    }
    lock.unlock();
    pool.clear();  // joins: a cancelled worker stops at its next read
    if (first_error) return std::unexpected(*first_error);
    return {};
}

Result<> Staging::commit() {
    {
        auto root = WM_TRY(open_file(root_, O_RDONLY | O_DIRECTORY));
        // One flush of the filesystem for every blob and every file of every layer: the
        // durability rule is that nothing is renamed into place before it is on disk.
        if (::syncfs(root.get()) < 0) return sys_error("syncfs", root_);
    }
    std::set<std::string> dirs;
    for (auto& e : staged_) {
        if (::rename(e.tmp.c_str(), e.dst.c_str()) == 0) {
            dirs.insert(parent_of(e.dst));
            e.tmp.clear();
            continue;
        }
        // A layer made by another import meanwhile is the same content; ours is dropped below.
        if (!e.dir || (errno != EEXIST && errno != ENOTEMPTY)) return sys_error("rename", e.dst);
    }
    std::erase_if(staged_, [](const Entry& e) { return e.tmp.empty(); });
    for (const auto& d : dirs)
        WM_CHECK(fsync_path(d, O_RDONLY | O_DIRECTORY));
    return {};
}

}  // namespace wmrun::overlay::detail
