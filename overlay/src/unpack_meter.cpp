#include "unpack_meter.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <algorithm>

#include "entry_path.hpp"

namespace wmrun::overlay::detail {

Result<> UnpackMeter::add_entry(std::string_view member) {
    if (++entries_ <= max_entries_) return {};
    return fail("unpack", where_,
                what_ + " has more than " + std::to_string(max_entries_) + " members at " +
                    quote_member(member) + ": the limit is --max-layer-entries " +
                    std::to_string(max_entries_));
}

Result<> UnpackMeter::check_file(std::uint64_t file_end, std::string_view member) const {
    // files_ never passes the budget: each file is checked before it is added.
    if (file_end <= budget_.bytes - files_) return {};
    return fail("unpack", where_,
                what_ + " unpacks to more than " + std::to_string(budget_.bytes) + " bytes at " +
                    quote_member(member) + ": the limit is " + budget_.limit);
}

Result<> UnpackMeter::check_stream(std::uint64_t before, std::uint64_t more) const {
    if (before <= budget_.bytes && more <= budget_.bytes - before) return {};
    return fail("unpack", where_,
                what_ + " decompresses to more than " + std::to_string(budget_.bytes) +
                    " bytes: the limit is " + budget_.limit);
}

Result<> write_member_data(archive* a, archive_entry* e, int fd, UnpackMeter& meter,
                           const std::string& where, const std::string& shown) {
    // The size the header claims is checked before the first block: a sparse file of a
    // terabyte is refused without writing its data.
    la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    std::uint64_t declared = size > 0 ? static_cast<std::uint64_t>(size) : 0;
    WM_CHECK(meter.check_file(declared, shown));
    std::uint64_t end = 0;
    for (;;) {
        const void* buf = nullptr;
        std::size_t len = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(a, &buf, &len, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            const char* msg = archive_error_string(a);
            return fail("unpack", where, shown + ": " + (msg ? msg : "archive error"));
        }
        // Offsets come from the tar's sparse map: hostile like the rest.
        std::uint64_t block_end = 0;
        if (offset < 0 ||
            __builtin_add_overflow(static_cast<std::uint64_t>(offset), len, &block_end) ||
            block_end > static_cast<std::uint64_t>(INT64_MAX))
            return fail("unpack", where, shown + ": a data block lies outside any file size");
        if (block_end > std::max(end, declared)) WM_CHECK(meter.check_file(block_end, shown));
        // pwrite at the block's offset keeps sparse files sparse.
        const char* p = static_cast<const char*>(buf);
        off_t at = static_cast<off_t>(offset);
        while (len > 0) {
            ssize_t n = ::pwrite(fd, p, len, at);
            if (n < 0) {
                if (errno == EINTR) continue;
                return sys_error("write", where + ": " + shown);
            }
            p += n;
            len -= static_cast<std::size_t>(n);
            at += n;
        }
        end = std::max(end, block_end);
    }
    // A sparse file ending in a hole: its last data block ends before its size.
    std::uint64_t apparent = std::max(end, declared);
    if (apparent > end && ::ftruncate(fd, static_cast<off_t>(apparent)) < 0)
        return sys_error("truncate", where + ": " + shown);
    meter.add_file(apparent);
    return {};
}

}  // namespace wmrun::overlay::detail
