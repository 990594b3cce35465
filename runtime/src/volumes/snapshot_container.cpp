// snapshot create and restore where the source or target is a container (snapshots.hpp).
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <optional>

#include "volumes/snapshot_freeze.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/runtime/state.hpp"

namespace wmrun::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// The newest snapshot of the same source made on the same host: its file metadata lets create
// skip unchanged files. Another host's snapshot of the same path describes other inodes.
Result<std::string> latest_of(snapshot::Repository& repo, const std::string& source,
                              const std::string& hostname) {
    std::string id;
    for (const auto& s : WM_TRY(repo.list()))  // oldest first
        if (s.source == source && s.hostname == hostname) id = s.id;
    return id;
}

// A directory by its absolute path, symlinks resolved: the same directory is the same source
// however it is named on the command line.
Result<std::string> resolved_path(const std::string& path) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (!real) return sys_error("realpath", path);
    std::string out = real;
    ::free(real);
    return out;
}

bool restores_into_container(const GlobalOptions& g, const std::string& target,
                             const std::string& store) {
    if (target.find('/') != std::string::npos || !validate_id(target)) return false;
    if (names_container(g, target)) return true;
    struct stat st;
    std::string upper = store + "/containers/" + target + "/upper";
    return ::stat(upper.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Result<std::string> recorded_source(const GlobalOptions& g, const std::string& arg) {
    if (names_container(g, arg)) return WM_TRY(snapshot_source(g, arg)).dir;
    auto real = resolved_path(arg);
    if (!real && real.error().err == ENOENT) return arg;
    return real;
}

bool names_container(const GlobalOptions& g, const std::string& arg) {
    if (arg.find('/') != std::string::npos || !validate_id(arg)) return false;
    return StateStore(g.root).load(arg).has_value();
}

Result<SnapshotReport> create_snapshot(const GlobalOptions& g, snapshot::Repository& repo,
                                       const std::string& source, snapshot::CreateOptions opt,
                                       bool consistent) {
    SnapshotReport report;
    if (opt.hostname.empty()) opt.hostname = snapshot::local_hostname();
    // The freeze: taken in before_read, released in after_read, timed from the freeze call to
    // the end of the thaw, which is what the container's processes feel.
    std::optional<EndingSignalsHeld> signals;  // destroyed after freeze: released after thaw
    std::unique_ptr<FreezeGuard> freeze;
    Clock::time_point freeze_start;
    if (names_container(g, source)) {
        report.container = source;
        WM_CHECK(thaw_after_killed_snapshot(g, source));
        auto src = WM_TRY(snapshot_source(g, source));
        report.source = src.dir;
        opt.include = src.include;
        if (src.status == Status::running && consistent) {
            signals.emplace();
            opt.before_read = [&]() -> Result<> {
                freeze_start = Clock::now();
                freeze = WM_TRY(freeze_for_snapshot(g, report.container));
                return {};
            };
            opt.after_read = [&]() -> Result<> {
                auto thawed = freeze->thaw();
                signals->release();
                report.pause_ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - freeze_start).count();
                return thawed;
            };
        }
    } else {
        report.source = WM_TRY(resolved_path(source));
    }
    if (opt.parent.empty()) opt.parent = WM_TRY(latest_of(repo, report.source, opt.hostname));
    report.parent = opt.parent;
    report.result = WM_TRY(repo.create(report.source, opt));
    report.paused = freeze && freeze->frozen_by_us();
    if (!report.paused) report.pause_ms = 0;
    return report;
}

Result<snapshot::RestoreResult> restore_snapshot(const GlobalOptions& g,
                                                 snapshot::Repository& repo, const std::string& id,
                                                 const std::string& target,
                                                 const std::string& store,
                                                 snapshot::RestoreOptions opt) {
    if (!restores_into_container(g, target, store)) {
        opt.allow_damaged = true;
        return repo.restore(id, target, opt);
    }
    if (!opt.include.empty())
        return fail("restore", target,
                    "--include restores into a directory; a container's volume layer is "
                    "replaced whole");
    opt.allow_damaged = false;
    snapshot::RestoreResult r;
    WM_CHECK(replace_volume_layer(g, target, store, [&](const std::string& dir) -> Result<> {
        r = WM_TRY(repo.restore(id, dir, opt));
        return {};
    }));
    return r;
}

}  // namespace wmrun::runtime
