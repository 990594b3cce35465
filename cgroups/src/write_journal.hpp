// Writes to cgroup files that can be undone: before a file is first written its value is read,
// and roll_back() writes the old values back, last written first, so that a set of limits is
// applied whole or not at all (`update` that the kernel refuses half way, as runc cannot).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::cgroups::detail {

class WriteJournal {
  public:
    WriteJournal() = default;
    WriteJournal(const WriteJournal&) = delete;
    WriteJournal& operator=(const WriteJournal&) = delete;
    // Rolls back unless commit() was called.
    ~WriteJournal();

    // Reads what `value` would replace, then writes it (write_value). Files holding one entry
    // per device or interface ("8:0 1000", io.max, rdma.max, ifpriomap) keep the entry of the
    // key written; devices.allow/deny keep devices.list; memory.oom_control its
    // oom_kill_disable flag.
    Result<> write(const std::string& dir, const std::string& file, std::string_view value);
    void commit() { undo_.clear(); }
    // Puts every file back, last written first; a failure is logged and the rest still done.
    void roll_back();

  private:
    using Write = std::pair<std::string, std::string>;  // path, value
    // The writes that put back what `value` replaces (none when `key`, the path or path and
    // entry, was written before: the first old value is the one to restore).
    Result<std::vector<Write>> undo_steps(const std::string& dir, const std::string& file,
                                          std::string_view value, std::string& key) const;

    std::set<std::string> seen_;  // path, or path + " " + key for keyed files
    std::vector<std::vector<Write>> undo_;
};

}  // namespace wmrun::cgroups::detail
