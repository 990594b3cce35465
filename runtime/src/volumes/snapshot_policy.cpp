// A container's snapshot policy: its text forms (durations, JSON) and the file that keeps it
// beside the container's state (snapshot_policy.hpp).
#include "wmrun/runtime/snapshot_policy.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "wmrun/base/json_fields.hpp"
#include "wmrun/runtime/state.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::runtime {

namespace {

constexpr const char* kPolicyFile = "snapshot-policy.json";

// A policy's counts: -1 (every bucket) or more.
Result<int> keep_count(const json_fields::Fields& f, const char* key) {
    int n = WM_TRY(f.int_or<int>(key, 0));
    if (n < snapshot::kKeepAll) return json_fields::field_error(f.at(key), "must be -1 or more");
    return n;
}

Result<> check_tags(const std::vector<std::string>& tags, const std::string& what) {
    for (const auto& t : tags)
        if (t.empty()) return fail("snapshot policy", what, "an empty tag");
    return {};
}

}  // namespace

Result<std::int64_t> parse_duration(const std::string& text) {
    auto bad = [&](const char* why) { return fail("", "\"" + text + "\"", why); };
    if (text.empty()) return bad("empty");
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] < '0' || text[i] > '9') return bad("expected a number, as in 90s, 15m, 1h30m");
        std::size_t start = i;
        std::int64_t n = 0;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
            if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, text[i] - '0', &n))
                return bad("too long");
        std::int64_t unit = 1;
        if (i < text.size()) {
            if (text[i] == '.') return bad("whole numbers only, as in 1h30m");
            switch (text[i++]) {
                case 's':
                    unit = 1;
                    break;
                case 'm':
                    unit = 60;
                    break;
                case 'h':
                    unit = 3600;
                    break;
                case 'd':
                    unit = 86400;
                    break;
                default:
                    return bad("unknown unit (s, m, h or d)");
            }
        } else if (start != 0) {
            return bad("a number without a unit after the first");
        }
        if (__builtin_mul_overflow(n, unit, &n) || __builtin_add_overflow(total, n, &total))
            return bad("too long");
    }
    if (total < 1) return bad("must be at least one second");
    return total;
}

std::string format_duration(std::int64_t seconds) {
    if (seconds <= 0) return "0s";
    std::string out;
    for (auto [unit, name] : {std::pair{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}) {
        if (seconds >= unit) out += std::to_string(seconds / unit) + name;
        seconds %= unit;
    }
    return out;
}

Json policy_json(const SnapshotPolicy& p) {
    const auto& k = p.keep;
    return {{"repo", p.repo},
            {"every_seconds", p.every_seconds},
            {"keep",
             {{"last", k.last},
              {"hourly", k.hourly},
              {"daily", k.daily},
              {"weekly", k.weekly},
              {"monthly", k.monthly},
              {"yearly", k.yearly},
              {"tags", k.tags}}},
            {"tags", p.tags},
            {"exclude", p.exclude}};
}

// The file is the runtime's own, but a disk or a hand can damage it: every member is checked.
Result<SnapshotPolicy> parse_policy(const Json& j) {
    using namespace json_fields;
    auto top = WM_TRY(Fields::of(j, ""));
    SnapshotPolicy p;
    p.repo = WM_TRY(top.req_string("repo"));
    if (!p.repo.starts_with('/')) return field_error("repo", "must be an absolute path");
    p.every_seconds = WM_TRY(top.req_int<std::int64_t>("every_seconds"));
    if (p.every_seconds < 1) return field_error("every_seconds", "must be at least 1");
    auto keep = WM_TRY(Fields::of(*WM_TRY(top.required("keep")), "keep"));
    p.keep.last = WM_TRY(keep_count(keep, "last"));
    p.keep.hourly = WM_TRY(keep_count(keep, "hourly"));
    p.keep.daily = WM_TRY(keep_count(keep, "daily"));
    p.keep.weekly = WM_TRY(keep_count(keep, "weekly"));
    p.keep.monthly = WM_TRY(keep_count(keep, "monthly"));
    p.keep.yearly = WM_TRY(keep_count(keep, "yearly"));
    WM_CHECK(keep.each("tags", [&](const Json& list, const std::string& at) -> Result<> {
        p.keep.tags.push_back(WM_TRY(as_string_array(list, at)));
        return {};
    }));
    p.tags = WM_TRY(top.strings("tags"));
    p.exclude = WM_TRY(top.strings("exclude"));
    return p;
}

Result<> set_snapshot_policy(const GlobalOptions& g, const std::string& id, SnapshotPolicy p,
                             const snapshot::Limits& limits) {
    if (p.every_seconds < 1) return fail("snapshot policy", id, "the interval must be positive");
    WM_CHECK(check_tags(p.tags, "--tag"));
    for (const auto& list : p.keep.tags)
        WM_CHECK(check_tags(list, "--keep-tag"));
    WM_CHECK(snapshot::check_exclude_patterns(p.exclude));
    char* real = ::realpath(p.repo.c_str(), nullptr);
    if (!real) return sys_error("realpath", p.repo);
    p.repo = real;
    ::free(real);
    if (auto repo = snapshot::Repository::open(p.repo, limits); !repo)
        return fail("", p.repo, "not a snapshot repository (" + repo.error().message() + ")");
    return save_snapshot_policy(g, id, p);
}

Result<> save_snapshot_policy(const GlobalOptions& g, const std::string& id,
                              const SnapshotPolicy& p) {
    return StateStore(g.root).save_file(id, kPolicyFile, policy_json(p).dump(2) + "\n");
}

Result<std::optional<SnapshotPolicy>> load_snapshot_policy(const GlobalOptions& g,
                                                           const std::string& id) {
    StateStore store(g.root);
    WM_CHECK(store.load(id));  // "container does not exist" is not "no policy"
    auto text = store.load_file(id, kPolicyFile);
    if (!text && text.error().err == ENOENT) return std::optional<SnapshotPolicy>{};
    if (!text) return std::unexpected(text.error());
    std::string path = store.dir(id) + "/" + kPolicyFile;
    auto json = WM_TRY(parse_json(*text, path));
    auto policy = parse_policy(json);
    if (!policy) return fail("read snapshot policy", path, policy.error().message());
    return std::optional<SnapshotPolicy>(std::move(*policy));
}

Result<> remove_snapshot_policy(const GlobalOptions& g, const std::string& id) {
    return StateStore(g.root).remove_file(id, kPolicyFile);
}

}  // namespace wmrun::runtime
