// fuzz-seeds: writes each target's seed corpus and regression inputs, made by the project's own
// writers (wmrun spec's default config, the state store, LayoutBuilder, the snapshot writer and
// send), so that nothing binary is kept in the repository.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

#include "wmrun/base/error.hpp"

namespace wmrun::fuzz::seeds {

// OUT/<target>/seeds/<name> and OUT/<target>/regress/<name>; OUT/work/ for scratch.
class Out {
  public:
    explicit Out(std::string dir) : dir_(std::move(dir)) {}
    void seed(const std::string& target, const std::string& name, std::string_view data) const;
    void regression(const std::string& target, const std::string& name,
                    std::string_view data) const;
    // A fresh, empty directory OUT/work/<name>.
    std::string work(const std::string& name) const;
    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
};

// The generator's own steps must work; a failure ends it with the error.
template <class T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "fuzz-seeds: %s: %s\n", what, r.error().message().c_str());
        std::exit(1);
    }
    if constexpr (!std::is_void_v<T>) return std::move(*r);
}

void runtime_seeds(const Out& out);
void overlay_seeds(const Out& out);
void snapshot_seeds(const Out& out);

}  // namespace wmrun::fuzz::seeds
