// The running totals of one layer or oci-archive being unpacked, checked against its limits as
// it is written (docs/image-store.md, "Limits"), and the one loop that writes a member's data
// through them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/limits.hpp"

struct archive;
struct archive_entry;

namespace wmrun::overlay::detail {

class UnpackMeter {
  public:
    // `what` names the input in errors ("layer sha256:..."), `where` its file.
    UnpackMeter(ExpansionBudget budget, std::uint64_t max_entries, std::string what,
                std::string where)
        : budget_(std::move(budget)),
          max_entries_(max_entries),
          what_(std::move(what)),
          where_(std::move(where)) {}

    std::uint64_t budget() const { return budget_.bytes; }
    // One more member; fails past the entry limit.
    Result<> add_entry(std::string_view member);
    // Fails when a file reaching `file_end` bytes would take the files' apparent sizes past
    // the budget; called before anything of it is written.
    Result<> check_file(std::uint64_t file_end, std::string_view member) const;
    void add_file(std::uint64_t apparent) { files_ += apparent; }
    // The uncompressed stream (tar headers, data, padding) counts too: it is what is hashed
    // and parsed, even where nothing is written. Fails when `more` bytes after `before` would
    // take it past the budget.
    Result<> check_stream(std::uint64_t before, std::uint64_t more) const;

  private:
    ExpansionBudget budget_;
    std::uint64_t max_entries_;
    std::string what_;
    std::string where_;
    std::uint64_t files_ = 0;
    std::uint64_t entries_ = 0;
};

// Writes the data of regular file `e`, read from `a`, into `fd` at each block's offset (holes
// stay holes) and sets its size; every block is checked against the meter before it is
// written, at the file's apparent size, which is added to the meter at the end.
Result<> write_member_data(archive* a, archive_entry* e, int fd, UnpackMeter& meter,
                           const std::string& where, const std::string& shown);

}  // namespace wmrun::overlay::detail
