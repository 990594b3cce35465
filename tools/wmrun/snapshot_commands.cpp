// snapshot init, create, list, diff, restore, verify, forget, prune: a snapshot repository of
// directories (docs/snapshot-format.md).
#include <fmt/format.h>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "commands.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::cli {

namespace {

std::string format_time(std::int64_t ns) {
    std::time_t t = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

struct CreateArgs {
    std::string repo, source, parent;
    bool json = false;
};

Result<int> create(const CreateArgs& a) {
    auto repo = WM_TRY(snapshot::Repository::open(a.repo));
    snapshot::CreateOptions opt;
    opt.parent = a.parent;
    auto start = std::chrono::steady_clock::now();
    auto r = WM_TRY(repo.create(a.source, opt));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (a.json) {
        Json j = {{"id", r.id},
                  {"files_new", r.files_new},
                  {"files_changed", r.files_changed},
                  {"files_unchanged", r.files_unchanged},
                  {"dirs", r.dirs},
                  {"others", r.others},
                  {"bytes_read", r.bytes_read},
                  {"bytes_added", r.bytes_added},
                  {"chunks_new", r.chunks_new},
                  {"chunks_reused", r.chunks_reused},
                  {"duration_seconds", seconds},
                  {"notes", r.notes}};
        print(j.dump() + "\n");
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
    auto repo = WM_TRY(snapshot::Repository::open(dir));
    auto snaps = WM_TRY(repo.list());
    if (json) {
        Json arr = Json::array();
        for (const auto& s : snaps)
            arr.push_back({{"id", s.id},
                           {"parent", s.parent},
                           {"hostname", s.hostname},
                           {"source", s.source},
                           {"time", format_time(s.time_ns)},
                           {"entries", s.entries},
                           {"bytes", s.bytes}});
        print(arr.dump() + "\n");
        return 0;
    }
    print(fmt::format("{:<16}  {:<20}  {:>8}  {:>12}  {}\n", "ID", "TIME", "ENTRIES", "BYTES",
                      "SOURCE"));
    for (const auto& s : snaps)
        print(fmt::format("{:<16}  {:<20}  {:>8}  {:>12}  {}\n", s.id.substr(0, 16),
                          format_time(s.time_ns), s.entries, s.bytes, s.source));
    return 0;
}

Result<int> diff(const std::string& dir, const std::string& a, const std::string& b) {
    auto repo = WM_TRY(snapshot::Repository::open(dir));
    auto d = WM_TRY(repo.diff(a, b));
    for (const auto& p : d.added)
        print("+ " + p + "\n");
    for (const auto& p : d.removed)
        print("- " + p + "\n");
    for (const auto& p : d.changed)
        print("M " + p + "\n");
    return 0;
}

// The report goes to stdout; a damaged repository is also an error, so the exit status and
// the one line on stderr say so to scripts that read neither.
Result<int> verify(const std::string& dir) {
    auto repo = WM_TRY(snapshot::Repository::open(dir));
    auto v = WM_TRY(repo.verify());
    for (const auto& p : v.damaged_packs)
        print(fmt::format("damaged pack: {}/packs/{}/{}.pack\n", repo.dir(), p.substr(0, 2), p));
    for (const auto& c : v.damaged_chunks)
        print("damaged chunk: " + c + "\n");
    for (const auto& c : v.missing_chunks)
        print("missing chunk: " + c + "\n");
    for (const auto& f : v.damaged_files)
        print(fmt::format("damaged file: {} {}\n", f.snapshot, f.path));
    if (!v.ok())
        return fail("verify repository", dir,
                    fmt::format("{} damaged packs, {} damaged and {} missing chunks, {} damaged "
                                "files",
                                v.damaged_packs.size(), v.damaged_chunks.size(),
                                v.missing_chunks.size(), v.damaged_files.size()));
    print(fmt::format("{} packs, {} chunks: no errors\n", v.packs, v.chunks));
    return 0;
}

}  // namespace

void add_snapshot_commands(CLI::App& app, Context& ctx) {
    CLI::App* group = add_group(app, ctx, "snapshot", "manage a snapshot repository");
    auto repo_option = [](CLI::App* sub, std::string& dir) {
        sub->add_option("--repo", dir, "repository directory")->required();
    };

    static std::string init_repo;
    static int level = snapshot::InitOptions{}.compression_level;
    auto* i = add_command(*group, ctx, "init", "create an empty repository", []() -> Result<int> {
        snapshot::InitOptions opt;
        opt.compression_level = level;
        WM_CHECK(snapshot::Repository::init(init_repo, opt));
        return 0;
    });
    repo_option(i, init_repo);
    i->add_option("--compression", level, "zstd level, 1 to 19")
        ->check(CLI::Range(1, 19))
        ->capture_default_str();

    static CreateArgs cr;
    auto* c = add_command(*group, ctx, "create", "snapshot a directory", [] { return create(cr); });
    repo_option(c, cr.repo);
    c->add_option("directory", cr.source, "directory to snapshot")->required();
    c->add_option("--parent", cr.parent, "snapshot id (or prefix) to compare file metadata with");
    c->add_flag("--json", cr.json, "print a JSON summary");

    static std::string ls_repo;
    static bool ls_json = false;
    auto* ls = add_command(*group, ctx, "list", "list snapshots, oldest first",
                           [] { return list(ls_repo, ls_json); });
    ls->alias("ls");
    repo_option(ls, ls_repo);
    ls->add_flag("--json", ls_json, "print JSON");

    static std::string diff_repo, diff_a, diff_b;
    auto* d = add_command(*group, ctx, "diff",
                          "list paths added (+), removed (-) and changed (M) from A to B",
                          [] { return diff(diff_repo, diff_a, diff_b); });
    repo_option(d, diff_repo);
    d->add_option("A", diff_a, "older snapshot id or prefix")->required();
    d->add_option("B", diff_b, "newer snapshot id or prefix")->required();

    static std::string rs_repo, rs_id, rs_target;
    auto* r =
        add_command(*group, ctx, "restore", "restore a snapshot into a missing or empty directory",
                    []() -> Result<int> {
                        auto repo = WM_TRY(snapshot::Repository::open(rs_repo));
                        WM_CHECK(repo.restore(rs_id, rs_target));
                        return 0;
                    });
    repo_option(r, rs_repo);
    r->add_option("ID", rs_id, "snapshot id or prefix")->required();
    r->add_option("TARGET", rs_target, "directory to restore into")->required();

    static std::string vf_repo;
    auto* v = add_command(*group, ctx, "verify", "check every pack and chunk",
                          [] { return verify(vf_repo); });
    repo_option(v, vf_repo);

    static std::string fg_repo;
    static std::size_t keep_last = 0;
    auto* f = add_command(*group, ctx, "forget",
                          "delete all but the newest snapshots; prune frees their data",
                          []() -> Result<int> {
                              auto repo = WM_TRY(snapshot::Repository::open(fg_repo));
                              for (const auto& id : WM_TRY(repo.forget(keep_last)))
                                  print("forgot " + id + "\n");
                              return 0;
                          });
    repo_option(f, fg_repo);
    f->add_option("--keep-last", keep_last, "how many snapshots to keep")->required();

    static std::string pr_repo;
    auto* p =
        add_command(*group, ctx, "prune", "delete data no snapshot uses", []() -> Result<int> {
            auto repo = WM_TRY(snapshot::Repository::open(pr_repo));
            auto pr = WM_TRY(repo.prune());
            print(fmt::format("{} packs deleted, {} rewritten, {} chunks removed, {} bytes freed\n",
                              pr.packs_deleted, pr.packs_rewritten, pr.chunks_removed,
                              pr.bytes_freed));
            return 0;
        });
    repo_option(p, pr_repo);
}

}  // namespace wmrun::cli
