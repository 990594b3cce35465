// Error and Result: every failure carries what was attempted, on which path or id, and errno.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace wmrun {

struct Error {
    std::string op;      // what failed: "mount overlay", "open", "parse config.json"
    std::string path;    // the path, container id or JSON field it failed on; may be empty
    int err = 0;         // errno, or 0 when `detail` explains the failure
    std::string detail;  // the reason when there is no errno

    // "<op>: <path>: <errno_text(err) or detail>", skipping empty parts.
    std::string message() const;
};

// The text of an errno as Go prints it, and so as runc does: C's English description with its
// first letter lower-cased unless the second is a capital too ("no such file or directory",
// "permission denied", but "RPC version wrong"); "errno N" for a number C has no text for.
// Clients match these words in the runtime's errors: docker and podman exit 127 only when a
// failed start says "no such file or directory" or "executable file not found".
std::string errno_text(int err);

template <class T = void>
using Result = std::expected<T, Error>;

// An error from a syscall; reads errno unless told otherwise.
inline std::unexpected<Error> sys_error(std::string op, std::string path = {}, int err = errno) {
    return std::unexpected(Error{std::move(op), std::move(path), err, {}});
}

// An error with a reason instead of an errno.
inline std::unexpected<Error> fail(std::string op, std::string path, std::string detail,
                                   int err = 0) {
    return std::unexpected(Error{std::move(op), std::move(path), err, std::move(detail)});
}

// Adds an outer step to an error on its way up: "create container: <inner>".
Error with_context(Error e, const std::string& outer);

}  // namespace wmrun

// Propagates the error of a Result-returning expression; yields its value otherwise.
// The temporary's name is unique per use so nested uses do not shadow each other.
// Not inside a braced initializer after a member with a destructor: returning from the
// statement expression there skips destroying the members already built (clang leaks them).
#define WM_CONCAT_INNER_(a, b) a##b
#define WM_CONCAT_(a, b) WM_CONCAT_INNER_(a, b)
#define WM_TRY(expr) WM_TRY_IMPL_(expr, WM_CONCAT_(wm_try_result_, __COUNTER__))
#define WM_TRY_IMPL_(expr, name)                                    \
    ({                                                              \
        auto name = (expr);                                         \
        if (!name) return std::unexpected(std::move(name).error()); \
        std::move(name).value();                                    \
    })

#define WM_CHECK(expr)                                                                      \
    do {                                                                                    \
        auto wm_check_result_ = (expr);                                                     \
        if (!wm_check_result_) return std::unexpected(std::move(wm_check_result_).error()); \
    } while (0)
