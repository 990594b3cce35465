// Images made by umoci and skopeo, which no one here wrote: the store must read them as the
// rest of the ecosystem writes them.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "../skip.hpp"
#include "image_builder.hpp"
#include "wmrun/overlay/store.hpp"

using namespace wmrun::overlay;
using namespace wmrun::overlay::test;
namespace fs = std::filesystem;

namespace {

bool has_tool(const char* name) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"})
        if (::access((std::string(dir) + name).c_str(), X_OK) == 0) return true;
    return false;
}

void run(const std::string& cmd) {
    INFO(cmd);
    REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
}

// A two-layer image: /etc/hello and /etc/gone, then /etc/gone deleted; entrypoint /bin/app.
void umoci_image(const Scratch& s) {
    std::string L = s / "layout", B = s / "bundle";
    run("umoci init --layout " + L);
    run("umoci new --image " + L + ":latest");
    run("umoci unpack --image " + L + ":latest " + B);
    write_text(B + "/rootfs/etc/hello", "hi\n");
    write_text(B + "/rootfs/etc/gone", "bye\n");
    run("umoci repack --refresh-bundle --image " + L + ":latest " + B);
    fs::remove(B + "/rootfs/etc/gone");
    run("umoci repack --image " + L + ":latest " + B);
    run("umoci config --image " + L + ":latest --config.entrypoint /bin/app");
}

}  // namespace

TEST_CASE("an image made by umoci imports and mounts", "[tools]") {
    if (!has_tool("umoci")) WMRUN_SKIP("umoci is not installed");
    Scratch s;
    umoci_image(s);
    auto store = Store::open(s / "store");
    REQUIRE(store);
    auto rec = store->import(s / "layout", {.name = "umoci-app"});
    INFO((rec ? "" : rec.error().message()));
    REQUIRE(rec);
    auto img = store->get("umoci-app");
    REQUIRE(img);
    CHECK(img->config.config.entrypoint == std::vector<std::string>{"/bin/app"});
    REQUIRE(img->layer_dirs.size() == 2);
    CHECK(read_text(img->layer_dirs[0] + "/etc/gone") == "bye\n");

    if (::geteuid() != 0) WMRUN_SKIP("mounting the imported image needs root");
    auto m = store->mount_container("umoci-app", "u1");
    REQUIRE(m);
    CHECK(read_text(m->target() + "/etc/hello") == "hi\n");
    CHECK(!fs::exists(m->target() + "/etc/gone"));
}

TEST_CASE("an oci-archive written by skopeo imports", "[tools]") {
    if (!has_tool("umoci")) WMRUN_SKIP("umoci is not installed");
    if (!has_tool("skopeo")) WMRUN_SKIP("skopeo is not installed");
    Scratch s;
    umoci_image(s);
    run("skopeo --insecure-policy copy oci:" + (s / "layout") +
        ":latest oci-archive:" + (s / "image.tar") + ":v1");
    auto store = Store::open(s / "store");
    REQUIRE(store);
    auto rec = store->import(s / "image.tar", {});
    INFO((rec ? "" : rec.error().message()));
    REQUIRE(rec);
    CHECK(rec->name == "v1");
    auto img = store->get("v1");
    REQUIRE(img);
    CHECK(img->config.config.entrypoint == std::vector<std::string>{"/bin/app"});
    REQUIRE(img->layer_dirs.size() == 2);
    CHECK(read_text(img->layer_dirs[0] + "/etc/hello") == "hi\n");
}
