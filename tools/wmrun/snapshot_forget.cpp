// snapshot forget: restic's retention policy per group of snapshots (snapshot/retention.hpp);
// this file parses the flags and prints the plan.
#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "snapshot_cli.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/snapshot/retention.hpp"

namespace wmrun::cli {
namespace {

struct ForgetArgs {
    std::string repo;
    snapshot::KeepPolicy policy;
    std::vector<std::string> keep_tags, hosts, sources;
    std::string group_by = "host,source";
    bool dry_run = false, json = false, remove_all = false;
};

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t comma = text.find(',', start);
        out.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos) return out;
        start = comma + 1;
    }
}

Result<snapshot::GroupBy> parse_group_by(const std::string& text) {
    snapshot::GroupBy g{.host = false, .source = false, .tags = false};
    if (text.empty()) return g;
    for (const auto& field : split_commas(text)) {
        if (field == "host")
            g.host = true;
        else if (field == "source")
            g.source = true;
        else if (field == "tags")
            g.tags = true;
        else
            return fail("forget", "--group-by",
                        "unknown field \"" + field + "\" (host, source, tags, or '' for none)");
    }
    return g;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

// The snapshots forget may touch: those of the --host and --source given, else all.
Result<std::vector<snapshot::SnapshotInfo>> selected(const runtime::GlobalOptions& g,
                                                     snapshot::Repository& repo,
                                                     const ForgetArgs& a) {
    std::vector<std::string> sources;
    for (const auto& s : a.sources)
        sources.push_back(WM_TRY(runtime::recorded_source(g, s)));
    auto all = WM_TRY(repo.list());
    std::erase_if(all, [&](const snapshot::SnapshotInfo& s) {
        auto in = [](const std::vector<std::string>& v, const std::string& x) {
            return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
        };
        return !in(a.hosts, s.hostname) || !in(sources, s.source);
    });
    return all;
}

void print_group(const snapshot::KeepGroup& group, bool dry_run) {
    std::vector<std::string> key;
    if (!group.hostname.empty()) key.push_back("host " + group.hostname);
    if (!group.source.empty()) key.push_back("source " + group.source);
    if (!group.tags.empty()) key.push_back("tags " + joined(group.tags));
    print("snapshots" + (key.empty() ? std::string() : " of " + joined(key)) + ":\n");
    auto row = [](const snapshot::KeepDecision& d) {
        return fmt::format("  {:<16}  {:<20}  {:<20}  {}\n", d.snapshot.id.substr(0, 16),
                           format_time(d.snapshot.time_ns), joined(d.snapshot.tags),
                           joined(d.reasons));
    };
    size_t kept = std::count_if(group.decisions.begin(), group.decisions.end(),
                                [](const auto& d) { return d.keep; });
    print(fmt::format("keep {} snapshots:\n", kept));
    print(fmt::format("  {:<16}  {:<20}  {:<20}  {}\n", "ID", "TIME", "TAGS", "REASONS"));
    for (const auto& d : group.decisions)
        if (d.keep) print(row(d));
    print(fmt::format("{} {} snapshots:\n", dry_run ? "would remove" : "remove",
                      group.decisions.size() - kept));
    for (const auto& d : group.decisions)
        if (!d.keep) print(row(d));
}

Json group_json(const snapshot::KeepGroup& group) {
    Json keep = Json::array(), remove = Json::array();
    for (const auto& d : group.decisions) {
        Json s = {{"id", d.snapshot.id},
                  {"time", format_time(d.snapshot.time_ns)},
                  {"tags", d.snapshot.tags}};
        if (d.keep) {
            s["reasons"] = d.reasons;
            keep.push_back(std::move(s));
        } else {
            remove.push_back(std::move(s));
        }
    }
    return {{"host", group.hostname}, {"source", group.source}, {"tags", group.tags},
            {"keep", std::move(keep)},  {"remove", std::move(remove)}};
}

Result<int> forget(const runtime::GlobalOptions& g, ForgetArgs a) {
    for (const auto& list : a.keep_tags) {
        auto tags = split_commas(list);
        if (std::find(tags.begin(), tags.end(), "") != tags.end())
            return fail("forget", "--keep-tag " + list, "an empty tag in the list");
        a.policy.tags.push_back(std::move(tags));
    }
    snapshot::GroupBy group_by = WM_TRY(parse_group_by(a.group_by));
    if (a.policy.empty() && !a.remove_all)
        return fail("forget", "policy",
                    "no --keep-* option given, so nothing would be removed; "
                    "--unsafe-allow-remove-all removes every selected snapshot");
    if (a.remove_all && a.hosts.empty() && a.sources.empty())
        return fail("forget", "--unsafe-allow-remove-all",
                    "needs --host or --source to say which snapshots");
    if (a.remove_all && !a.policy.empty())
        return fail("forget", "--unsafe-allow-remove-all", "given with a --keep-* policy");
    auto repo = WM_TRY(open_repo(a.repo));
    auto groups = snapshot::plan_forget(WM_TRY(selected(g, repo, a)), a.policy, group_by,
                                        snapshot::Calendar::local);
    std::vector<std::string> remove;
    for (auto& group : groups)
        for (auto& d : group.decisions) {
            if (a.remove_all) d.keep = false, d.reasons.clear();  // restic's remove-all
            if (!d.keep) remove.push_back(d.snapshot.id);
        }
    if (!a.dry_run) WM_CHECK(repo.forget(remove));
    if (a.json) {
        Json out = Json::array();
        for (const auto& group : groups)
            out.push_back(group_json(group));
        print_json(out);
        return 0;
    }
    for (const auto& group : groups)
        print_group(group, a.dry_run);
    if (!a.dry_run && !remove.empty())
        print(fmt::format("removed {} snapshots; prune frees their data\n", remove.size()));
    return 0;
}

}  // namespace

void add_snapshot_forget(CLI::App& group, Context& ctx) {
    static ForgetArgs fa;
    auto* f = add_command(group, ctx, "forget",
                          "remove snapshots by a retention policy, applied to each host and "
                          "source apart (restic's forget); prune frees their data",
                          [&ctx] { return forget(ctx.global, fa); });
    add_repo_options(f, fa.repo);
    auto keep = [f](const std::string& name, int& count, const std::string& what) {
        f->add_option(name, count,
                      "keep the newest snapshot of each of the last N " + what +
                          " that have one (-1: all)")
            ->check(CLI::Range(-1, INT_MAX).description(""))
            ->type_name("N");
    };
    f->add_option("--keep-last", fa.policy.last, "keep the newest N snapshots (-1: all)")
        ->check(CLI::Range(-1, INT_MAX).description(""))
        ->type_name("N");
    keep("--keep-hourly", fa.policy.hourly, "hours");
    keep("--keep-daily", fa.policy.daily, "days");
    keep("--keep-weekly", fa.policy.weekly, "ISO weeks");
    keep("--keep-monthly", fa.policy.monthly, "months");
    keep("--keep-yearly", fa.policy.yearly, "years");
    f->add_option("--keep-tag", fa.keep_tags,
                  "keep every snapshot carrying all tags of this comma-separated list "
                  "(repeatable: any list)")
        ->type_name("TAG[,TAG...]");
    f->add_option("--host", fa.hosts, "only snapshots made on this host (repeatable)");
    f->add_option("--source", fa.sources,
                  "only snapshots of this directory or container (repeatable)");
    f->add_option("--group-by", fa.group_by,
                  "apply the policy to each group of snapshots with the same of these: host, "
                  "source, tags (comma-separated; '' for one group of all)")
        ->capture_default_str();
    f->add_flag("--dry-run,-n", fa.dry_run,
                "print what would be kept, and by which rule, and removed; remove nothing");
    f->add_flag("--unsafe-allow-remove-all", fa.remove_all,
                "without --keep-* options: remove every snapshot --host/--source select");
    f->add_flag("--json", fa.json, "print the groups as JSON");
    f->footer(
        "Time buckets are cut in local time (TZ). A snapshot kept by any rule is kept; each rule "
        "also keeps the oldest snapshot while it has counts left. Snapshots of other hosts and "
        "sources are never counted against each other (--group-by).");
}

}  // namespace wmrun::cli
