#include <catch2/catch.hpp>

#include "wmrun/base/error.hpp"

using wmrun::Error;

TEST_CASE("error message joins operation, path and errno text") {
    Error e{"mount overlay", "/var/lib/wmrun/containers/web1/merged", ENODEV, {}};
    CHECK(e.message() == "mount overlay: /var/lib/wmrun/containers/web1/merged: No such device");
}

TEST_CASE("control characters in an error message are escaped: it stays one line") {
    // A config key, an image's os field or a stream's record tag can hold any byte; found by
    // tests/fuzz (resources: a linux.resources.unified key "a\nb").
    Error e{"linux.resources.unified", "a\nb\x1b[2J", 0, "must be \"<controller>.<file>\"\r"};
    CHECK(e.message() ==
          "linux.resources.unified: a\\nb\\x1b[2J: must be \"<controller>.<file>\"\\x0d");
}
