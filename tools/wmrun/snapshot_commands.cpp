// snapshot init, create, list, diff, restore, verify, forget, prune, send, receive: a snapshot
// repository of containers' volume layers and directories (docs/snapshot-format.md).
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "commands.hpp"
#include "snapshot_cli.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/runtime/container.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/snapshot/repository.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::cli {

// What every command that reads a repository or a stream accepts from it (--max-* flags).
static snapshot::Limits limits;

std::string format_time(std::int64_t ns) {
    std::time_t t = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Result<snapshot::Repository> open_repo(const std::string& dir) {
    return snapshot::Repository::open(dir, limits);
}

void print_json(const Json& j) {
    print(j.dump() + "\n");
}

// Everything read from a repository or stream may be hostile: what it may claim is bounded.
// Sizes take binary suffixes: 64M, 64MiB, 1G.
static void add_size_option(CLI::App* sub, const std::string& name, std::uint64_t& value,
                            std::uint64_t min, const std::string& help) {
    sub->add_option(name, value, help)
        ->transform(CLI::AsSizeValue(false).description(""))
        ->check(CLI::Range(min, std::uint64_t(1) << 40).description(""))
        ->type_name("SIZE")
        ->default_str(std::to_string(value >> 20) + "MiB");
}

void add_repo_options(CLI::App* sub, std::string& dir) {
    sub->add_option("--repo", dir, "repository directory")->required();
    add_size_option(sub, "--max-manifest-size", limits.max_manifest_size, 1 << 10,
                    "largest snapshot manifest to read or write, uncompressed (an entry takes "
                    "about 250 bytes), 1KiB to 1TiB");
    sub->add_option("--max-json-depth", limits.max_json_depth,
                    "deepest nesting of JSON read from the repository or stream, 5 to 1000")
        ->check(CLI::Range(5, 1000).description(""))
        ->type_name("N")
        ->capture_default_str();
}

namespace {

using Clock = std::chrono::steady_clock;

std::string human(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, ++u;
    return fmt::format("{:.1f} {}", bytes, units[u]);
}

// One status line on stderr, redrawn at most five times a second, only when stderr is a
// terminal: scripts and logs get nothing.
class ProgressLine {
  public:
    explicit ProgressLine(const char* unit) : unit_(unit), tty_(::isatty(2) == 1) {}
    ~ProgressLine() {
        if (drawn_) std::fputs("\r\033[K", stderr);
    }
    snapshot::ProgressFn fn() {
        if (!tty_) return {};
        return [this](const snapshot::Progress& p) { update(p); };
    }

  private:
    void update(const snapshot::Progress& p) {
        auto now = Clock::now();
        if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
        last_ = now;
        drawn_ = true;
        double secs = std::chrono::duration<double>(now - start_).count();
        double rate = secs > 0 ? double(p.bytes) / secs : 0;
        std::string line = p.items_total ? fmt::format("{}/{} {}", p.items, p.items_total, unit_)
                                         : fmt::format("{} {}", p.items, unit_);
        line += p.bytes_total ? fmt::format("  {} of {}", human(double(p.bytes)),
                                            human(double(p.bytes_total)))
                              : fmt::format("  {}", human(double(p.bytes)));
        line += fmt::format("  {}/s", human(rate));
        if (p.bytes_total > p.bytes && rate > 0) {
            auto left = static_cast<long>(double(p.bytes_total - p.bytes) / rate);
            line += fmt::format("  {}:{:02} left", left / 60, left % 60);
        }
        fmt::print(stderr, "\r\033[K{}", line);
        std::fflush(stderr);
    }

    const char* unit_;
    bool tty_;
    bool drawn_ = false;
    Clock::time_point start_ = Clock::now(), last_;
};

double since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}


struct CreateArgs {
    std::string repo, source, parent;
    std::vector<std::string> tags, exclude;
    bool json = false;
};

Result<int> create(const runtime::GlobalOptions& g, const CreateArgs& a) {
    auto repo = WM_TRY(open_repo(a.repo));
    snapshot::CreateOptions opt;
    opt.parent = a.parent;
    opt.tags = a.tags;
    opt.exclude = a.exclude;
    auto start = Clock::now();
    runtime::SnapshotReport s;
    {
        ProgressLine line("files");
        opt.progress = line.fn();
        s = WM_TRY(runtime::create_snapshot(g, repo, a.source, std::move(opt)));
    }
    double seconds = since(start);
    const snapshot::CreateResult& r = s.result;
    if (s.paused)
        fmt::print(stderr, "container {} paused for {:.1f} ms while changed files were read\n",
                   s.container, s.pause_ms);
    if (a.json) {
        Json j = {{"id", r.id},
                  {"source", s.source},
                  {"parent", s.parent},
                  {"files_new", r.files_new},
                  {"files_changed", r.files_changed},
                  {"files_unchanged", r.files_unchanged},
                  {"dirs", r.dirs},
                  {"others", r.others},
                  {"bytes_read", r.bytes_read},
                  {"bytes_added", r.bytes_added},
                  {"chunks_new", r.chunks_new},
                  {"chunks_reused", r.chunks_reused},
                  {"pause_ms", s.pause_ms},
                  {"duration_seconds", seconds},
                  {"notes", r.notes}};
        if (!s.container.empty()) j["container"] = s.container;
        print_json(j);
        return 0;
    }
    print(fmt::format("snapshot {} saved\n", r.id));
    print(fmt::format("files: {} new, {} changed, {} unchanged; {} dirs, {} others\n", r.files_new,
                      r.files_changed, r.files_unchanged, r.dirs, r.others));
    print(fmt::format("read {} bytes, added {} bytes in {:.3f}s\n", r.bytes_read, r.bytes_added,
                      seconds));
    for (const auto& note : r.notes)
        print("note: " + note + "\n");
    return 0;
}

Result<int> list(const std::string& dir, bool json) {
    auto repo = WM_TRY(open_repo(dir));
    auto snaps = WM_TRY(repo.list());
    if (json) {
        Json arr = Json::array();
        for (const auto& s : snaps)
            arr.push_back({{"id", s.id},
                           {"parent", s.parent},
                           {"hostname", s.hostname},
                           {"origin_host", s.origin_host},
                           {"origin_repository", s.origin_repo},
                           {"source", s.source},
                           {"time", format_time(s.time_ns)},
                           {"entries", s.entries},
                           {"bytes", s.bytes},
                           {"tags", s.tags}});
        print_json(arr);
        return 0;
    }
    print(fmt::format("{:<16}  {:<20}  {:<16}  {:<16}  {:>8}  {:>12}  {}\n", "ID", "TIME", "HOST",
                      "FROM", "ENTRIES", "BYTES", "SOURCE"));
    for (const auto& s : snaps)
        print(fmt::format("{:<16}  {:<20}  {:<16}  {:<16}  {:>8}  {:>12}  {}\n", s.id.substr(0, 16),
                          format_time(s.time_ns), s.hostname.empty() ? "-" : s.hostname,
                          s.origin_host.empty() ? "-" : s.origin_host, s.entries, s.bytes,
                          s.source));
    return 0;
}

Result<int> diff(const std::string& dir, const std::string& a, const std::string& b) {
    auto repo = WM_TRY(open_repo(dir));
    auto d = WM_TRY(repo.diff(a, b));
    for (const auto& p : d.added)
        print("+ " + p + "\n");
    for (const auto& p : d.removed)
        print("- " + p + "\n");
    for (const auto& p : d.changed)
        print("M " + p + "\n");
    return 0;
}

struct RestoreArgs {
    std::string repo, id, target, store = "/var/lib/wmrun";
    std::vector<std::string> include;
    bool json = false;
};

// Everything restorable is restored; damaged files are listed and make the exit status 1.
// Into a container, a damaged file fails the restore before its volume layer is touched.
Result<int> restore(const runtime::GlobalOptions& g, const RestoreArgs& a) {
    auto repo = WM_TRY(open_repo(a.repo));
    auto start = Clock::now();
    snapshot::RestoreResult r;
    {
        ProgressLine line("files");
        r = WM_TRY(runtime::restore_snapshot(g, repo, a.id, a.target, a.store,
                                             {.include = a.include, .progress = line.fn()}));
    }
    if (a.json)
        print_json({{"id", r.id},
                    {"files", r.files},
                    {"dirs", r.dirs},
                    {"others", r.others},
                    {"bytes_written", r.bytes},
                    {"damaged_files", r.damaged_files},
                    {"duration_seconds", since(start)}});
    else
        for (const auto& p : r.damaged_files)
            print("damaged file: " + p + "\n");
    if (!r.damaged_files.empty())
        return fail("restore", a.target,
                    fmt::format("{} damaged files, the rest restored", r.damaged_files.size()));
    return 0;
}

// The report goes to stdout; a damaged repository is also an error, so the exit status and
// the one line on stderr say so to scripts that read neither.
Result<int> verify(const std::string& dir, bool json) {
    auto repo = WM_TRY(open_repo(dir));
    auto start = Clock::now();
    snapshot::VerifyResult v;
    {
        ProgressLine line("chunks");
        v = WM_TRY(repo.verify(line.fn()));
    }
    auto pack_path = [&](const std::string& p) {
        return fmt::format("{}/packs/{}/{}.pack", repo.dir(), p.substr(0, 2), p);
    };
    if (json) {
        Json files = Json::array(), packs = Json::array();
        for (const auto& f : v.damaged_files)
            files.push_back({{"snapshot", f.snapshot}, {"path", f.path}});
        for (const auto& p : v.damaged_packs)
            packs.push_back(pack_path(p));
        print_json({{"ok", v.ok()},
                    {"packs", v.packs},
                    {"chunks", v.chunks},
                    {"damaged_packs", packs},
                    {"damaged_chunks", v.damaged_chunks},
                    {"missing_chunks", v.missing_chunks},
                    {"damaged_files", files},
                    {"duration_seconds", since(start)}});
    } else {
        for (const auto& p : v.damaged_packs)
            print("damaged pack: " + pack_path(p) + "\n");
        for (const auto& c : v.damaged_chunks)
            print("damaged chunk: " + c + "\n");
        for (const auto& c : v.missing_chunks)
            print("missing chunk: " + c + "\n");
        for (const auto& f : v.damaged_files)
            print(fmt::format("damaged file: {} {}\n", f.snapshot, f.path));
    }
    if (!v.ok())
        return fail("verify repository", dir,
                    fmt::format("{} damaged packs, {} damaged and {} missing chunks, {} damaged "
                                "files",
                                v.damaged_packs.size(), v.damaged_chunks.size(),
                                v.missing_chunks.size(), v.damaged_files.size()));
    if (!json) print(fmt::format("{} packs, {} chunks: no errors\n", v.packs, v.chunks));
    return 0;
}

Result<int> prune(const std::string& dir, bool json) {
    auto repo = WM_TRY(open_repo(dir));
    auto start = Clock::now();
    snapshot::PruneResult pr;
    {
        ProgressLine line("packs");
        pr = WM_TRY(repo.prune(line.fn()));
    }
    if (json) {
        print_json({{"packs_deleted", pr.packs_deleted},
                    {"packs_rewritten", pr.packs_rewritten},
                    {"chunks_removed", pr.chunks_removed},
                    {"bytes_freed", pr.bytes_freed},
                    {"duration_seconds", since(start)}});
        return 0;
    }
    print(fmt::format("{} packs deleted, {} rewritten, {} chunks removed, {} bytes freed\n",
                      pr.packs_deleted, pr.packs_rewritten, pr.chunks_removed, pr.bytes_freed));
    return 0;
}

struct SendArgs {
    std::string repo, id, since;
    bool json = false;
};

// stdout carries the stream, so the summary goes to stderr.
Result<int> send(const SendArgs& a) {
    if (::isatty(1) == 1)
        return fail("send", "stdout", "refusing to write a stream to a terminal; redirect it");
    auto repo = WM_TRY(open_repo(a.repo));
    auto start = Clock::now();
    snapshot::SendResult r;
    {
        ProgressLine line("chunks");
        r = WM_TRY(
            snapshot::send_snapshot(repo, a.id, 1, {.since = a.since, .progress = line.fn()}));
    }
    if (a.json)
        fmt::print(stderr, "{}\n",
                   Json({{"id", r.snapshot},
                         {"base", r.base},
                         {"files", r.files},
                         {"chunks_sent", r.chunks_sent},
                         {"chunks_in_base", r.chunks_in_base},
                         {"bytes_read", r.bytes_raw},
                         {"bytes_written", r.bytes_written},
                         {"duration_seconds", since(start)}})
                       .dump());
    return 0;
}

struct ReceiveArgs {
    std::string repo;
    bool json = false;
};

Result<int> receive(const ReceiveArgs& a) {
    auto repo = WM_TRY(open_repo(a.repo));
    auto start = Clock::now();
    snapshot::ReceiveResult r;
    {
        ProgressLine line("chunks");
        r = WM_TRY(snapshot::receive_snapshot(repo, 0, {.progress = line.fn()}));
    }
    if (a.json) {
        print_json({{"id", r.id},
                    {"origin_repository", r.origin_repo},
                    {"origin_snapshot", r.origin_snapshot},
                    {"origin_host", r.origin_host},
                    {"already_present", r.already_present},
                    {"base", r.base},
                    {"files", r.files},
                    {"chunks_received", r.chunks_received},
                    {"chunks_new", r.chunks_new},
                    {"bytes_read", r.bytes_read},
                    {"bytes_added", r.bytes_added},
                    {"duration_seconds", since(start)}});
        return 0;
    }
    if (r.already_present) {
        print(fmt::format("snapshot {} is already in the repository\n", r.id));
        return 0;
    }
    print(fmt::format("snapshot {} received\n", r.id));
    print(fmt::format("{} chunks in the stream, {} new; read {} bytes, added {} bytes\n",
                      r.chunks_received, r.chunks_new, r.bytes_read, r.bytes_added));
    return 0;
}

}  // namespace

void add_snapshot_commands(CLI::App& app, Context& ctx) {
    CLI::App* group = add_group(app, ctx, "snapshot", "manage a snapshot repository");
    auto json_flag = [](CLI::App* sub, bool& flag) {
        sub->add_flag("--json", flag, "print a JSON summary");
    };

    static std::string init_repo;
    static snapshot::InitOptions init_opt;
    auto* i = add_command(*group, ctx, "init", "create an empty repository", []() -> Result<int> {
        WM_CHECK(snapshot::Repository::init(init_repo, init_opt));
        return 0;
    });
    i->add_option("--repo", init_repo, "repository directory")->required();
    i->add_option("--compression", init_opt.compression_level, "zstd level, 1 to 19")
        ->check(CLI::Range(1, 19))
        ->capture_default_str();
    i->add_option("--pack-size", init_opt.pack_size, "bytes after which a pack is closed")
        ->check(CLI::Range(std::uint64_t(1) << 20, std::uint64_t(1) << 31))
        ->capture_default_str();

    static CreateArgs cr;
    auto* c = add_command(*group, ctx, "create",
                          "snapshot a container's volume layer (frozen only while changed files "
                          "are read) or a directory",
                          [&ctx] { return create(ctx.global, cr); });
    add_repo_options(c, cr.repo);
    c->add_option("source", cr.source, "container id, or directory to snapshot")->required();
    c->add_option("--parent", cr.parent,
                  "snapshot id (or prefix) to compare file metadata with; default: the newest "
                  "snapshot of the same source made on this host");
    c->add_option("--tag", cr.tags, "label to keep with the snapshot (repeatable)");
    c->add_option("--exclude", cr.exclude,
                  "leave out paths matching this glob, relative to the source: '*.log' at any "
                  "depth, '/cache' at the top, '**' for any directories (repeatable)")
        ->type_name("PATTERN");
    json_flag(c, cr.json);

    static std::string ls_repo;
    static bool ls_json = false;
    auto* ls = add_command(*group, ctx, "list", "list snapshots, oldest first",
                           [] { return list(ls_repo, ls_json); });
    add_repo_options(ls, ls_repo);
    ls->add_flag("--json", ls_json, "print JSON");

    add_snapshot_ls(*group, ctx);

    static std::string diff_repo, diff_a, diff_b;
    auto* d = add_command(*group, ctx, "diff",
                          "list paths added (+), removed (-) and changed (M) from A to B",
                          [] { return diff(diff_repo, diff_a, diff_b); });
    add_repo_options(d, diff_repo);
    d->add_option("A", diff_a, "older snapshot id or prefix")->required();
    d->add_option("B", diff_b, "newer snapshot id or prefix")->required();

    static RestoreArgs rs;
    auto* r = add_command(*group, ctx, "restore",
                          "restore a snapshot into a missing or empty directory, or as the volume "
                          "layer of a stopped container",
                          [&ctx] { return restore(ctx.global, rs); });
    add_repo_options(r, rs.repo);
    r->add_option("ID", rs.id, "snapshot id or prefix")->required();
    r->add_option("TARGET", rs.target,
                  "directory to restore into, or the id of a stopped container")
        ->required();
    r->add_option("--include", rs.include,
                  "restore only this path of the snapshot, with what is under it and the "
                  "directories above it (repeatable)")
        ->type_name("PATH");
    r->add_option("--store", rs.store,
                  "image store holding the volume layer of a deleted container")
        ->capture_default_str();
    json_flag(r, rs.json);

    static std::string vf_repo;
    static bool vf_json = false;
    auto* v = add_command(*group, ctx, "verify", "check every pack and chunk",
                          [] { return verify(vf_repo, vf_json); });
    add_repo_options(v, vf_repo);
    json_flag(v, vf_json);

    add_snapshot_forget(*group, ctx);
    add_snapshot_auto(*group, ctx);

    static std::string pr_repo;
    static bool pr_json = false;
    auto* p = add_command(*group, ctx, "prune", "delete data no snapshot uses",
                          [] { return prune(pr_repo, pr_json); });
    add_repo_options(p, pr_repo);
    json_flag(p, pr_json);

    static SendArgs sd;
    auto* s = add_command(*group, ctx, "send", "write a snapshot as a stream to stdout",
                          [] { return send(sd); });
    add_repo_options(s, sd.repo);
    s->add_option("ID", sd.id, "snapshot id or prefix")->required();
    s->add_option("--since", sd.since,
                  "base snapshot the receiver holds: only chunks it lacks are sent");
    s->add_flag("--json", sd.json, "print a JSON summary on stderr");

    static ReceiveArgs rc;
    auto* rv = add_command(*group, ctx, "receive", "store a snapshot stream read from stdin",
                           [] { return receive(rc); });
    add_repo_options(rv, rc.repo);
    add_size_option(rv, "--max-stream-record", limits.max_stream_record, 1 << 20,
                "largest stream record to accept (a chunk record is at most 64 MiB), 1MiB "
                "to 1TiB");
    json_flag(rv, rc.json);
}

}  // namespace wmrun::cli
