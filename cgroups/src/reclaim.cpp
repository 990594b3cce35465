// Giving a frozen container's memory back to the host: what hibernation asks of the kernel.
// Only page cache can go on a host without swap; anonymous memory stays charged.
#include <cerrno>
#include <cstdlib>

#include "cgroup_dir.hpp"
#include "drivers.hpp"
#include "wmrun/base/log.hpp"

namespace wmrun::cgroups::detail {

namespace {

Result<std::uint64_t> read_bytes(const std::string& dir, const char* file) {
    auto text = WM_TRY(read_value(dir, file));
    return std::strtoull(text.c_str(), nullptr, 10);
}

}  // namespace

Result<Reclaimed> reclaim_v2(const std::string& dir) {
    Reclaimed r;
    r.before = WM_TRY(read_bytes(dir, "memory.current"));
    if (!has_file(dir, "memory.reclaim"))
        return fail("reclaim", dir, "memory.reclaim needs Linux 5.19", ENOTSUP);
    // Asking for everything: the kernel takes what it can and answers EAGAIN for the rest.
    if (auto w = write_value(dir, "memory.reclaim", std::to_string(r.before)); !w) {
        if (w.error().err != EAGAIN) return std::unexpected(w.error());
        log::debug("memory.reclaim: only part of the memory could be reclaimed");
    }
    r.after = WM_TRY(read_bytes(dir, "memory.current"));
    return r;
}

Result<Reclaimed> reclaim_v1(const std::string& memory_dir) {
    Reclaimed r;
    r.before = WM_TRY(read_bytes(memory_dir, "memory.usage_in_bytes"));
    // force_empty reclaims as much as it can while tasks stay in the cgroup (since Linux 3.16);
    // EBUSY means some pages could not go.
    if (auto w = write_value(memory_dir, "memory.force_empty", "0"); !w) {
        if (w.error().err != EBUSY && w.error().err != EAGAIN) return std::unexpected(w.error());
        log::debug("memory.force_empty: only part of the memory could be reclaimed");
    }
    r.after = WM_TRY(read_bytes(memory_dir, "memory.usage_in_bytes"));
    return r;
}

}  // namespace wmrun::cgroups::detail
