#include <catch2/catch.hpp>

#include "wmrun/base/error.hpp"

using wmrun::Error;

TEST_CASE("error message joins operation, path and errno text") {
    Error e{"mount overlay", "/var/lib/wmrun/containers/web1/merged", ENODEV, {}};
    CHECK(e.message() == "mount overlay: /var/lib/wmrun/containers/web1/merged: No such device");
}
