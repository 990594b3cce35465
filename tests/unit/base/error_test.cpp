#include <catch2/catch.hpp>

#include "wmrun/base/error.hpp"

using wmrun::Error;

TEST_CASE("error message joins operation, path and errno text") {
    Error e{"mount overlay", "/var/lib/wmrun/containers/web1/merged", ENODEV, {}};
    CHECK(e.message() == "mount overlay: /var/lib/wmrun/containers/web1/merged: no such device");
}

TEST_CASE("errno texts are Go's, as runc prints them and clients match them") {
    // docker and podman exit 127 only on these words, in lower case; containerd's shim
    // matches "no such process" after kill.
    CHECK(wmrun::errno_text(ENOENT) == "no such file or directory");
    CHECK(wmrun::errno_text(EACCES) == "permission denied");
    CHECK(wmrun::errno_text(ENOTDIR) == "not a directory");
    CHECK(wmrun::errno_text(EEXIST) == "file exists");
    CHECK(wmrun::errno_text(ESRCH) == "no such process");
    CHECK(wmrun::errno_text(EPERM) == "operation not permitted");
    CHECK(wmrun::errno_text(EIO) == "input/output error");
    CHECK(wmrun::errno_text(ELOOP) == "too many levels of symbolic links");
    // Go has no text for a number outside its table either.
    CHECK(wmrun::errno_text(4000) == "errno 4000");
    CHECK(Error{"open", "/x", EACCES, {}}.message() == "open: /x: permission denied");
}

TEST_CASE("control characters in an error message are escaped: it stays one line") {
    // A config key, an image's os field or a stream's record tag can hold any byte; found by
    // tests/fuzz (resources: a linux.resources.unified key "a\nb").
    Error e{"linux.resources.unified", "a\nb\x1b[2J", 0, "must be \"<controller>.<file>\"\r"};
    CHECK(e.message() ==
          "linux.resources.unified: a\\nb\\x1b[2J: must be \"<controller>.<file>\"\\x0d");
}
