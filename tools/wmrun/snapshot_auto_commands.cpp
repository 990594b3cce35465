// snapshot policy and snapshot auto: automatic snapshots (runtime/snapshot_policy.hpp); this
// file parses the flags and prints.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <climits>
#include <ranges>

#include "snapshot_cli.hpp"
#include "wmrun/runtime/snapshot_policy.hpp"

namespace wmrun::cli {
namespace {

struct PolicyArgs {
    std::string id, repo, every;
    runtime::SnapshotPolicy policy;
    std::vector<std::string> keep_tags;
    bool remove = false, json = false;
    CLI::App* cmd = nullptr;
};

// Options that only mean something when a policy is set.
bool sets_something(const PolicyArgs& a) {
    for (const char* name : {"--keep-last", "--keep-hourly", "--keep-daily", "--keep-weekly",
                             "--keep-monthly", "--keep-yearly", "--keep-tag", "--tag", "--exclude"})
        if (a.cmd->count(name) > 0) return true;
    return false;
}

std::string keep_text(const snapshot::KeepPolicy& k) {
    std::string out;
    auto add = [&](const char* name, int n) {
        if (n != 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", name, n);
    };
    add("last", k.last);
    add("hourly", k.hourly);
    add("daily", k.daily);
    add("weekly", k.weekly);
    add("monthly", k.monthly);
    add("yearly", k.yearly);
    for (const auto& tags : k.tags)
        out += fmt::format("{}tags {}", out.empty() ? "" : ", ", fmt::join(tags, ","));
    return out.empty() ? "all" : out;
}

Result<int> show_policy(const runtime::GlobalOptions& g, const PolicyArgs& a) {
    auto policy = WM_TRY(runtime::load_snapshot_policy(g, a.id));
    if (a.json) {
        print_json(policy ? runtime::policy_json(*policy) : Json(nullptr));
        return 0;
    }
    if (!policy) {
        print("no snapshot policy\n");
        return 0;
    }
    print(fmt::format("repo: {}\nevery: {}\nkeep: {}\n", policy->repo,
                      runtime::format_duration(policy->every_seconds), keep_text(policy->keep)));
    if (!policy->tags.empty()) print(fmt::format("tags: {}\n", fmt::join(policy->tags, ", ")));
    for (const auto& p : policy->exclude)
        print("exclude: " + p + "\n");
    return 0;
}

Result<int> policy(const runtime::GlobalOptions& g, PolicyArgs a) {
    bool setting = !a.repo.empty() || !a.every.empty();
    if (a.remove) {
        if (setting || sets_something(a))
            return fail("", "--remove", "given with options that set a policy");
        WM_CHECK(runtime::remove_snapshot_policy(g, a.id));
        return 0;
    }
    if (!setting) {
        if (sets_something(a))
            return fail("", a.id, "--repo and --every are needed to set a policy");
        return show_policy(g, a);
    }
    if (a.repo.empty() || a.every.empty())
        return fail("", a.id, "--repo and --every are needed to set a policy");
    a.policy.repo = a.repo;
    auto every = runtime::parse_duration(a.every);
    if (!every) return fail("", "--every", every.error().message());
    a.policy.every_seconds = *every;
    for (const auto& list : a.keep_tags) {
        std::vector<std::string> tags;
        for (auto part : std::views::split(list, ','))
            tags.emplace_back(part.begin(), part.end());
        a.policy.keep.tags.push_back(std::move(tags));
    }
    WM_CHECK(runtime::set_snapshot_policy(g, a.id, a.policy, {}));
    return 0;
}

Json outcome_json(const runtime::AutoOutcome& c) {
    Json j = {{"id", c.id}, {"repo", c.repo}, {"action", runtime::action_name(c.action)}};
    switch (c.action) {
        case runtime::AutoOutcome::Action::snapshot:
            j.update({{"snapshot", c.snapshot},
                      {"parent", c.parent},
                      {"paused", c.paused},
                      {"pause_ms", c.pause_ms},
                      {"forgotten", c.forgotten}});
            break;
        case runtime::AutoOutcome::Action::not_due:
            j["next_in_seconds"] = c.next_in_seconds;
            break;
        case runtime::AutoOutcome::Action::failed:
            j["error"] = c.error;
            break;
    }
    return j;
}

std::string outcome_line(const runtime::AutoOutcome& c) {
    switch (c.action) {
        case runtime::AutoOutcome::Action::snapshot:
            return fmt::format("{}: snapshot {} ({} forgotten)\n", c.id, c.snapshot,
                               c.forgotten.size());
        case runtime::AutoOutcome::Action::not_due:
            return fmt::format("{}: not due, next in {}\n", c.id,
                               runtime::format_duration(c.next_in_seconds));
        case runtime::AutoOutcome::Action::failed:
            break;
    }
    return fmt::format("{}: failed: {}\n", c.id, c.error);
}

// Every container is tried; the exit status and the last line on stderr say whether any failed.
Result<int> automatic(const runtime::GlobalOptions& g, const runtime::AutoOptions& o, bool json) {
    auto report = runtime::snapshot_auto(g, o);
    if (json) {
        Json containers = Json::array(), pruned = Json::array();
        for (const auto& c : report.containers)
            containers.push_back(outcome_json(c));
        for (const auto& p : report.pruned) {
            Json j = {{"repo", p.repo},
                      {"packs_deleted", p.packs_deleted},
                      {"packs_rewritten", p.packs_rewritten},
                      {"bytes_freed", p.bytes_freed}};
            if (!p.error.empty()) j["error"] = p.error;
            pruned.push_back(std::move(j));
        }
        print_json({{"containers", containers}, {"pruned", pruned}});
    } else {
        for (const auto& c : report.containers)
            print(outcome_line(c));
        for (const auto& p : report.pruned)
            print(p.error.empty()
                      ? fmt::format("prune {}: {} packs deleted, {} rewritten, {} "
                                    "bytes freed\n",
                                    p.repo, p.packs_deleted, p.packs_rewritten, p.bytes_freed)
                      : fmt::format("prune {}: failed: {}\n", p.repo, p.error));
    }
    if (report.ok()) return 0;
    std::size_t failed = 0;
    for (const auto& c : report.containers)
        failed += c.action == runtime::AutoOutcome::Action::failed;
    for (const auto& p : report.pruned)
        failed += !p.error.empty();
    return fail(
        "", "",
        fmt::format("{} of the pass failed (above)",
                    failed == 1 ? std::string("one part") : std::to_string(failed) + " parts"));
}

}  // namespace

void add_snapshot_auto(CLI::App& group, Context& ctx) {
    static PolicyArgs pa;
    auto* p = add_command(group, ctx, "policy",
                          "set, show or remove a container's automatic snapshot policy",
                          [&ctx] { return policy(ctx.global, pa); });
    pa.cmd = p;
    p->add_option("ID", pa.id, "container id")->required();
    p->add_option("--repo", pa.repo, "repository the automatic snapshots go to");
    p->add_option("--every", pa.every,
                  "interval between automatic snapshots: 90s, 15m, 2h, 1d, 1h30m")
        ->type_name("DURATION");
    auto keep = [p](const std::string& name, int& count, const std::string& what) {
        p->add_option(
             name, count,
             "keep the newest automatic snapshot of each of the last N " + what + " (-1: all)")
            ->check(CLI::Range(-1, INT_MAX).description(""))
            ->type_name("N");
    };
    keep("--keep-last", pa.policy.keep.last, "snapshots");
    keep("--keep-hourly", pa.policy.keep.hourly, "hours");
    keep("--keep-daily", pa.policy.keep.daily, "days");
    keep("--keep-weekly", pa.policy.keep.weekly, "ISO weeks");
    keep("--keep-monthly", pa.policy.keep.monthly, "months");
    keep("--keep-yearly", pa.policy.keep.yearly, "years");
    p->add_option("--keep-tag", pa.keep_tags,
                  "keep every automatic snapshot carrying all tags of this comma-separated list "
                  "(repeatable)")
        ->type_name("TAG[,TAG...]");
    p->add_option("--tag", pa.policy.tags, "label each automatic snapshot (repeatable)");
    p->add_option("--exclude", pa.policy.exclude,
                  "leave out paths matching this glob, as snapshot create --exclude (repeatable)")
        ->type_name("PATTERN");
    p->add_flag("--remove", pa.remove, "remove the policy");
    p->add_flag("--json", pa.json, "print the policy as JSON (null: none)");
    p->footer(
        "Without --repo and --every, prints the policy. Retention applies to the container's "
        "automatic snapshots on this host only; snapshots made by hand are never removed by it. "
        "The policy is kept with the container and removed by delete.");

    static runtime::AutoOptions ao;
    static bool auto_json = false;
    auto* a = add_command(group, ctx, "auto",
                          "one pass of automatic snapshots: snapshot each container whose "
                          "policy's interval has passed, apply its retention, prune",
                          [&ctx] { return automatic(ctx.global, ao, auto_json); });
    a->add_option("ID", ao.ids, "containers to consider (default: every one with a policy)");
    a->add_flag("--force", ao.force, "snapshot each container whether or not it is due");
    a->add_flag("--json", auto_json, "print the pass as JSON");
    a->footer(
        "Run it from a timer (contrib/systemd/wmrun-snapshot-auto.timer). A container is due "
        "when its newest automatic snapshot is as old as its interval, less 5% (at most a "
        "minute) so that a timer of the same period does not skip every other run.");
}

}  // namespace wmrun::cli
