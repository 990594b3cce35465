#include "wmrun/overlay/temp_dir.hpp"

#include <stdlib.h>

#include "wmrun/base/fs.hpp"

namespace wmrun::overlay {

Result<TempDir> TempDir::create(const std::string& parent, const std::string& prefix) {
    std::string templ = parent + "/" + prefix + "XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return sys_error("mkdtemp", templ);
    return TempDir(std::move(templ));
}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
    if (this != &o) {
        reset();
        path_ = std::exchange(o.path_, {});
    }
    return *this;
}

void TempDir::reset() {
    // Best effort: a failure here leaves a ".tmp" entry that Store::gc removes later.
    if (!path_.empty()) (void)remove_all(path_);
    path_.clear();
}

}  // namespace wmrun::overlay
