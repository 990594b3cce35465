// Freeze and thaw of a running container's cgroup, timed two ways: in process through the
// cgroups library (Manager::load from the container's state, then freeze() and thaw(): the
// path hibernation takes), and through the CLI (`wmrun pause` then `wmrun resume`, each a new
// process). Started by ./run, which owns the container; see README.md.
//
//   freeze-bench --state ROOT/ID/state.json [--rounds N]
//                [--wmrun BIN --root ROOT --id ID [--cli-rounds N]]
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "wmrun/base/json.hpp"
#include "wmrun/cgroups/manager.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

// Nearest-rank percentile, q in 0..100.
double percentile(std::vector<double> xs, double q) {
    std::sort(xs.begin(), xs.end());
    auto rank = static_cast<std::size_t>(q / 100.0 * static_cast<double>(xs.size()) + 0.999999);
    return xs[std::clamp<std::size_t>(rank, 1, xs.size()) - 1];
}

void report(const char* what, const std::vector<double>& us) {
    std::printf("%-22s rounds %5zu  median %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us\n",
                what, us.size(), percentile(us, 50), percentile(us, 90), percentile(us, 99),
                *std::max_element(us.begin(), us.end()));
}

int die(const std::string& msg) {
    std::fprintf(stderr, "freeze-bench: %s\n", msg.c_str());
    return 1;
}

struct Options {
    std::string state, wmrun, root, id;
    int rounds = 1000, cli_rounds = 100;
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) return false;
        std::string v = argv[++i];
        if (a == "--state")
            o.state = v;
        else if (a == "--rounds")
            o.rounds = std::atoi(v.c_str());
        else if (a == "--wmrun")
            o.wmrun = v;
        else if (a == "--root")
            o.root = v;
        else if (a == "--id")
            o.id = v;
        else if (a == "--cli-rounds")
            o.cli_rounds = std::atoi(v.c_str());
        else
            return false;
    }
    return !o.state.empty() && o.rounds > 0 && o.cli_rounds > 0;
}

// Runs argv to completion; true when it exited 0.
bool run(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return false;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// `rounds` freeze+thaw round trips through the Manager that `saved` loads, reported under
// `label` ("api": the container's own driver; "v2": the unified tree of a hybrid host).
int time_rounds(const std::string& label, const wmrun::Json& saved, int rounds) {
    std::vector<double> load_us, round_us, freeze_us, thaw_us;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = Clock::now();
        auto manager = wmrun::cgroups::Manager::load(saved);
        auto t1 = Clock::now();
        if (!manager) return die(manager.error().message());
        if (auto r = (*manager)->freeze(); !r) return die(r.error().message());
        auto t2 = Clock::now();
        if (auto r = (*manager)->thaw(); !r) return die(r.error().message());
        auto t3 = Clock::now();
        load_us.push_back(micros(t1 - t0));
        freeze_us.push_back(micros(t2 - t1));
        thaw_us.push_back(micros(t3 - t2));
        round_us.push_back(micros(t3 - t1));
    }
    auto manager = wmrun::cgroups::Manager::load(saved);
    if (!manager) return die(manager.error().message());
    auto frozen = (*manager)->frozen();
    if (!frozen || *frozen) return die("the cgroup is not thawed after the rounds");
    std::string driver = saved.value("driver", std::string());
    std::printf("%s: driver %s\n", label.c_str(), driver.c_str());
    report((label + " freeze+thaw").c_str(), round_us);
    report((label + "   freeze").c_str(), freeze_us);
    report((label + "   thaw").c_str(), thaw_us);
    report((label + "   Manager::load").c_str(), load_us);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o))
        return die(
            "usage: freeze-bench --state STATE_JSON [--rounds N] "
            "[--wmrun BIN --root ROOT --id ID [--cli-rounds N]]");
    auto state = wmrun::read_json_file(o.state);
    if (!state) return die(state.error().message());
    wmrun::Json saved = state->value("wmrun", wmrun::Json::object()).value("cgroup", wmrun::Json());

    // On a hybrid host the driver freezes through the v1 freezer; the unified tree's companion
    // cgroup holds the same processes, so cgroup.freeze is timed there too, on the same kernel
    // and workload (the figure of a pure v2 host).
    if (int rc = time_rounds("api", saved, o.rounds); rc != 0) return rc;
    if (saved.value("driver", std::string()) == "v1" && saved.contains("unified_root")) {
        wmrun::Json v2{{"driver", "v2"},
                       {"root", saved["unified_root"]},
                       {"path", saved.value("path", std::string())}};
        if (int rc = time_rounds("v2", v2, o.rounds); rc != 0) return rc;
    }

    if (o.wmrun.empty()) return 0;
    std::vector<double> cli_us;
    for (int i = 0; i < o.cli_rounds; ++i) {
        auto t0 = Clock::now();
        if (!run({o.wmrun, "--root", o.root, "pause", o.id})) return die("wmrun pause failed");
        if (!run({o.wmrun, "--root", o.root, "resume", o.id})) return die("wmrun resume failed");
        cli_us.push_back(micros(Clock::now() - t0));
    }
    report("cli pause+resume", cli_us);
    return 0;
}
