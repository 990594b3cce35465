// Seeds for the snapshot targets, from a repository made by the snapshot writer: two snapshots
// of a small tree that holds every kind of entry (the second with the first as parent), the
// index and pack files, the manifests' JSON, and `send` streams (full and delta). The
// receiving repository of snapshot-receive (OUT/snapshot-receive/repo) holds a received copy
// of the first snapshot, so the delta stream finds its base there. And the regression inputs
// of the hostile repositories and streams that crashed or exhausted the readers.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include <dirent.h>

#include <nlohmann/json.hpp>

#include "manifest.hpp"
#include "repo_internal.hpp"
#include "seeds.hpp"
#include "stream_format.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::fuzz::seeds {

namespace {

using namespace snapshot;

void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
    must(write_file_atomic(path, data, mode), "write");
}

std::string pattern(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    uint32_t x = seed;
    for (auto& c : s) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

void build_tree(const std::string& r) {
    put(r + "/small.txt", "hello\n");
    ::setxattr((r + "/small.txt").c_str(), "user.note", "v\0x", 3, 0);
    put(r + "/random.bin", pattern(24 << 10, 1));
    put(r + "/text.log", std::string(16 << 10, 'a') + pattern(3000, 2));
    must(mkdir_all(r + "/d/sub"), "mkdir");
    put(r + "/d/sub/deep", "deep");
    ::link((r + "/random.bin").c_str(), (r + "/d/hard").c_str());
    ::symlink("small.txt", (r + "/link").c_str());
    ::mkfifo((r + "/fifo").c_str(), 0620);
    ::mknod((r + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
    ::mknod((r + "/d/whiteout").c_str(), S_IFCHR, makedev(0, 0));
    must(mkdir_all(r + "/opaque"), "mkdir");
    ::setxattr((r + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0);
}

std::vector<std::string> files_under(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string path = dir + "/" + name;
        struct stat st {};
        if (::lstat(path.c_str(), &st) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            auto sub = files_under(path);
            out.insert(out.end(), sub.begin(), sub.end());
        } else {
            out.push_back(path);
        }
    }
    ::closedir(d);
    return out;
}

std::string send(Repository& repo, const std::string& id, const std::string& since) {
    UniqueFd fd(::memfd_create("stream", MFD_CLOEXEC));
    SendOptions options;
    options.since = since;
    must(send_snapshot(repo, id, fd.get(), options), "send");
    ::lseek(fd.get(), 0, SEEK_SET);
    return must(read_fd(fd.get(), "stream"), "read the stream");
}

std::vector<Record> records_of(const std::string& stream) {
    UniqueFd fd(::memfd_create("stream", MFD_CLOEXEC));
    must(write_all(fd.get(), stream, "stream"), "write");
    ::lseek(fd.get(), 0, SEEK_SET);
    StreamReader in(fd.get());
    must(in.header(), "stream header");
    std::vector<Record> out;
    for (;;) {
        Record r = must(in.next(), "stream record");
        if (r.tag == tag::end) break;
        out.push_back(std::move(r));
    }
    return out;
}

// snapshot-receive's two input forms: '\0' + the stream, '\1' + records (tag, u32 length,
// payload) that the target frames itself.
std::string raw_input(const std::string& stream) {
    return std::string(1, '\0') + stream;
}
std::string records_input(const std::vector<Record>& records) {
    std::string out(1, '\1');
    for (const auto& r : records) {
        out += r.tag;
        put_u32(out, static_cast<uint32_t>(r.payload.size()));
        out += r.payload;
    }
    return out;
}

// A stream as StreamWriter frames it: valid checksums around whatever the records hold.
std::string framed(const std::vector<std::pair<std::string, std::string>>& records) {
    UniqueFd fd(::memfd_create("stream", MFD_CLOEXEC));
    StreamWriter w(fd.get());
    must(w.header(), "stream header");
    for (const auto& [t, payload] : records)
        must(w.record(t, payload), "stream record");
    must(w.finish(), "stream end");
    ::lseek(fd.get(), 0, SEEK_SET);
    return must(read_fd(fd.get(), "stream"), "read the stream");
}

std::string zstd_frame(const std::string& text) {
    std::string out(ZSTD_compressBound(text.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 19);
    if (ZSTD_isError(n)) must(Result<>(fail("zstd", "", ZSTD_getErrorName(n))), "compress");
    out.resize(n);
    return out;
}

// The header of a zstd frame that claims `size` bytes of content (Frame_Header_Descriptor
// 0xC0: an 8-byte Frame_Content_Size, a window descriptor), followed by an empty raw block:
// what a hostile sender or repository writes to make a reader allocate `size` bytes.
std::string lying_zstd_frame(uint64_t size) {
    std::string out("\x28\xb5\x2f\xfd\xc0\x00", 6);
    put_u64(out, size);
    out += std::string("\x01\x00\x00", 3);  // last block, raw, 0 bytes
    return out;
}

void regressions(const Out& out, const std::vector<Record>& full) {
    // An index file whose entry count is 2^61: n * 56 wraps to 0, which matched the length of
    // a 32-byte file, and the loader read 2^61 entries past its buffer (SIGSEGV in every
    // command). The target appends the checksum.
    std::string idx = "WMIDX001";
    put_u64(idx, uint64_t(1) << 61);
    out.regression("snapshot-index", "entry-count-wraps", idx);

    // A pack whose one entry has offset 2^64 - 8: offset + stored_len wrapped to 8, inside
    // the file, and the entry was accepted.
    std::string pack = "WMPACK01";
    put_id(pack, ChunkId{});
    put_u64(pack, ~uint64_t(0) - 7);
    put_u32(pack, 16);  // stored_len
    put_u32(pack, 16);  // raw_len
    put_u32(pack, 0);   // flags
    put_u32(pack, 0);
    put_u32(pack, 1);  // n
    put_u32(pack, 0);
    pack += "WMPKEND1";
    put_id(pack, checksum128(pack.data(), pack.size()));
    out.regression("snapshot-pack", "offset-wraps", pack);

    const std::string& head = full.at(0).payload;
    // A manifest nested a million arrays deep in a few hundred bytes of stream: the reader's
    // recursive skip of unknown keys ran out of stack.
    std::string nested = R"({"tree":[],"unknown":)" + std::string(1 << 20, '[');
    out.regression("snapshot-receive", "manifest-nested-deep",
                   raw_input(framed({{"HEAD", head}, {"MANI", zstd_frame(nested)}})));
    // A manifest record whose zstd frame claims 4 GiB: receive allocated and zero-filled all of
    // it before finding that the content is not there.
    out.regression("snapshot-receive", "manifest-claims-4GiB",
                   raw_input(framed({{"HEAD", head}, {"MANI", lying_zstd_frame(4ull << 30)}})));
    // The same in a repository's snapshots/ file, which was allowed to claim 16 GiB. The
    // target's odd first byte takes the file as it is, named by its last 16 bytes.
    std::string file = "WMSNAP01" + lying_zstd_frame(15ull << 30) + std::string(16, '\x11');
    out.regression("snapshot-manifest", "file-claims-15GiB", "\x01" + file);
    // A header without "base": the header's strings read before it (repository, snapshot)
    // leaked, since they were members of a braced initializer left by the error's return.
    nlohmann::json no_base = nlohmann::json::parse(head);
    no_base.erase("base");
    out.regression("snapshot-receive", "header-without-base",
                   raw_input(framed({{"HEAD", no_base.dump()}})));
}

}  // namespace

void snapshot_seeds(const Out& out) {
    std::string tree = out.work("tree");
    build_tree(tree);
    std::string sender_dir = out.work("sender") + "/repo";
    InitOptions init;
    // Small chunks, so that a file of a few KiB spans several and the seeds stay small.
    init.chunker = ChunkerParams{512, 1024, 4096};
    must(Repository::init(sender_dir, init), "init the sender repository");
    auto sender = must(Repository::open(sender_dir), "open the sender repository");
    std::string first = must(sender.create(tree), "snapshot 1").id;
    put(tree + "/small.txt", "changed\n");
    put(tree + "/new.bin", pattern(9000, 3));
    ::unlink((tree + "/fifo").c_str());
    CreateOptions second_options;
    second_options.parent = first;
    std::string second = must(sender.create(tree, second_options), "snapshot 2").id;

    int n = 0;
    for (const auto& path : files_under(sender_dir + "/index")) {
        std::string data = must(read_file(path), "read an index file");
        out.seed("snapshot-index", std::to_string(n++), data.substr(0, data.size() - 16));
    }
    n = 0;
    for (const auto& path : files_under(sender_dir + "/packs"))
        out.seed("snapshot-pack", std::to_string(n++), must(read_file(path), "read a pack"));
    n = 0;
    for (const auto& id : {first, second}) {
        auto& state = StateAccess::of(sender);
        Manifest m = must(read_manifest(sender_dir, state.hasher, id), "read a manifest");
        out.seed("snapshot-manifest", "text-" + std::to_string(n),
                 std::string(1, '\0') + manifest_json(m));
        std::string file = must(read_file(sender_dir + "/snapshots/" + id), "read");
        out.seed("snapshot-manifest", "file-" + std::to_string(n++), "\x01" + file);
    }

    std::string full1 = send(sender, first, ""), full2 = send(sender, second, "");
    std::string delta = send(sender, second, first);
    for (const auto& [name, stream] :
         {std::pair{"full-1", full1}, {"full-2", full2}, {"delta-2-since-1", delta}}) {
        out.seed("snapshot-receive", std::string(name) + "-stream", raw_input(stream));
        out.seed("snapshot-receive", std::string(name) + "-records",
                 records_input(records_of(stream)));
    }

    // The receiving side: a fresh repository that received snapshot 1.
    std::string receiver = out.dir() + "/snapshot-receive/repo";
    must(Repository::init(receiver), "init the receiving repository");
    auto rx = must(Repository::open(receiver), "open the receiving repository");
    UniqueFd fd(::memfd_create("stream", MFD_CLOEXEC));
    must(write_all(fd.get(), full1, "stream"), "write");
    ::lseek(fd.get(), 0, SEEK_SET);
    must(receive_snapshot(rx, fd.get()), "receive snapshot 1");

    regressions(out, records_of(full1));
}

}  // namespace wmrun::fuzz::seeds
