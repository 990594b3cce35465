#include "sample_image.hpp"

#include <sys/sysmacros.h>

namespace wmrun::fuzz {

using namespace overlay;
using namespace overlay::test;

std::vector<Member> sample_members() {
    Member fifo{"run/fifo", 'p', {}, {}, 0600};
    Member null_dev{"dev/null", 'c', {}, {}, 0666};
    null_dev.rdev = makedev(1, 3);
    Member cap = file("bin/ping", "binary", 0755);
    cap.xattrs["security.capability"] = std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8);
    Member owned = file("home/user/.profile", "export PS1='$ '\n", 0600);
    owned.uid = 1000;
    owned.gid = 1000;
    return {dir("bin"),
            file("bin/sh", "#!/bin/true\n", 0755),
            cap,
            sym_link("bin/bash", "sh"),
            hard_link("bin/dash", "bin/sh"),
            dir("etc"),
            file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            file("etc/.wh.shadow", ""),
            dir("var"),
            dir("var/cache"),
            file("var/cache/.wh..wh..opq", ""),
            dir("dev"),
            null_dev,
            dir("run"),
            fifo,
            dir("home"),
            dir("home/user", 0700),
            owned,
            sym_link("home/user/abs", "/etc/passwd")};
}

std::string build_sample_layout(const std::string& layout_dir) {
    LayoutBuilder b(layout_dir);
    Tar base = make_tar(sample_members(), Compression::none);
    Tar top = make_tar({dir("etc"), file("etc/hostname", "fuzz\n")}, Compression::none);
    Descriptor amd64 = b.add_image({base, top}, Compression::zstd,
                                   Json{{"config", {{"User", "1000:1000"}, {"WorkingDir", "/"}}}});
    Descriptor arm64 = b.add_image({base}, Compression::none, Json::object(), "arm64");
    Json nested = {
        {"schemaVersion", 2},
        {"mediaType", overlay::media_type::index},
        {"manifests", {descriptor_json(amd64, {}, "amd64"), descriptor_json(arm64, {}, "arm64")}}};
    Descriptor multi = b.add_blob(std::string(overlay::media_type::index), nested.dump());
    b.write_index({descriptor_json(amd64, "1.0", "amd64"), descriptor_json(arm64, {}, "arm64"),
                   descriptor_json(multi, "multi")});
    return read_text(layout_dir + "/index.json");
}

}  // namespace wmrun::fuzz
