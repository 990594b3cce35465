#include "write_journal.hpp"

#include <sstream>

#include "cgroup_dir.hpp"
#include "wmrun/base/log.hpp"

namespace wmrun::cgroups::detail {

namespace {

// What clears the entry of a key that had none, per keyed file.
const char* keyed_reset(std::string_view file) {
    if (file == "io.max") return "rbps=max wbps=max riops=max wiops=max";
    if (file == "io.weight" || file == "io.bfq.weight") return "default";
    if (file == "rdma.max") return "hca_handle=max hca_object=max";
    if (file == "blkio.weight_device" || file == "blkio.bfq.weight_device" ||
        file == "blkio.leaf_weight_device" || file.starts_with("blkio.throttle.") ||
        file == "net_prio.ifpriomap")
        return "0";
    return nullptr;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

}  // namespace

WriteJournal::~WriteJournal() {
    roll_back();
}

Result<std::vector<WriteJournal::Write>> WriteJournal::undo_steps(const std::string& dir,
                                                                  const std::string& file,
                                                                  std::string_view value,
                                                                  std::string& key) const {
    std::string path = dir + "/" + file;
    if (file == "devices.allow" || file == "devices.deny") {
        key = dir + "/devices.list";
        if (seen_.contains(key)) return std::vector<Write>{};
        // The whole list, back as it was: deny everything, then allow each old entry.
        std::vector<Write> steps{{dir + "/devices.deny", "a"}};
        for (const auto& line : lines_of(WM_TRY(read_value(dir, "devices.list"))))
            steps.emplace_back(dir + "/devices.allow", line == "a *:* rwm" ? "a" : line);
        return steps;
    }
    if (const char* reset = keyed_reset(file)) {
        std::string entry(value.substr(0, value.find(' ')));
        // io.weight and io.bfq.weight take a bare number as the default weight.
        if (entry.find(':') == std::string::npos && reset == std::string_view("default"))
            entry = "default";
        key = path + " " + entry;
        if (seen_.contains(key)) return std::vector<Write>{};
        for (const auto& line : lines_of(WM_TRY(read_value(dir, file))))
            if (line.starts_with(entry + " ")) return std::vector<Write>{{path, line}};
        return std::vector<Write>{{path, entry + " " + reset}};
    }
    key = path;
    if (seen_.contains(key)) return std::vector<Write>{};
    auto read = read_value(dir, file);
    // A write-only file (memory.reclaim among the unified keys) is an action, not a setting.
    if (!read && (read.error().err == EINVAL || read.error().err == EACCES))
        return std::vector<Write>{};
    auto old = WM_TRY(std::move(read));
    if (file == "memory.oom_control") {
        auto flags = parse_flat_keyed(old);
        old = std::to_string(flags.contains("oom_kill_disable") ? flags["oom_kill_disable"] : 0);
    }
    return std::vector<Write>{{path, old}};
}

Result<> WriteJournal::write(const std::string& dir, const std::string& file,
                             std::string_view value) {
    std::string key;
    auto steps = WM_TRY(undo_steps(dir, file, value, key));
    WM_CHECK(write_value(dir, file, value));
    // Only once written: a refused write (a period retried after the quota) changed nothing.
    seen_.insert(key);
    if (!steps.empty()) undo_.push_back(std::move(steps));
    return {};
}

void WriteJournal::roll_back() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it)
        for (const auto& [path, value] : *it) {
            auto slash = path.rfind('/');
            auto r = write_value(path.substr(0, slash), path.substr(slash + 1), value);
            if (!r) log::warn("putting back " + path + ": " + r.error().message());
        }
    undo_.clear();
}

}  // namespace wmrun::cgroups::detail
