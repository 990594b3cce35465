// fuzz-seeds OUT: see seeds.hpp and tests/fuzz/README.md.
#include <fcntl.h>
#include <unistd.h>

#include "seeds.hpp"
#include "wmrun/base/fs.hpp"

namespace wmrun::fuzz::seeds {

namespace {

void write_new(const std::string& path, std::string_view data) {
    must(mkdir_all(path.substr(0, path.rfind('/'))), "mkdir");
    auto fd = must(open_file(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open");
    must(write_all(fd.get(), data, path), "write");
}

}  // namespace

void Out::seed(const std::string& target, const std::string& name, std::string_view data) const {
    write_new(dir_ + "/" + target + "/seeds/" + name, data);
}

void Out::regression(const std::string& target, const std::string& name,
                     std::string_view data) const {
    write_new(dir_ + "/" + target + "/regress/" + name, data);
}

std::string Out::work(const std::string& name) const {
    std::string d = dir_ + "/work/" + name;
    must(remove_all(d), "remove");
    must(mkdir_all(d), "mkdir");
    return d;
}

}  // namespace wmrun::fuzz::seeds

int main(int argc, char** argv) {
    using namespace wmrun::fuzz::seeds;
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz-seeds OUT\n");
        return 2;
    }
    Out out(argv[1]);
    // Each run starts from nothing: seeds and regressions are what this code makes now.
    must(wmrun::remove_all(out.dir()), "remove");
    runtime_seeds(out);
    overlay_seeds(out);
    snapshot_seeds(out);
    must(wmrun::remove_all(out.dir() + "/work"), "remove");
    return 0;
}
