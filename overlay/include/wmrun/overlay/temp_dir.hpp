// TempDir: owns a directory made with mkdtemp and removes it, with its contents, on destruction
// unless released (after it has been renamed into place).
#pragma once

#include <string>
#include <utility>

#include "wmrun/base/error.hpp"

namespace wmrun::overlay {

class TempDir {
  public:
    // Makes "<parent>/<prefix>XXXXXX" with mode 0700.
    static Result<TempDir> create(const std::string& parent, const std::string& prefix);

    TempDir() = default;
    TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
    TempDir& operator=(TempDir&& o) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { reset(); }

    const std::string& path() const { return path_; }
    std::string release() { return std::exchange(path_, {}); }
    void reset();

  private:
    explicit TempDir(std::string path) : path_(std::move(path)) {}
    std::string path_;
};

}  // namespace wmrun::overlay
