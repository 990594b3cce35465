// stats' renderers: Prometheus text that a scraper accepts (HELP and TYPE before each family's
// samples, escaped label values, cumulative histogram buckets), the table and JSON forms, and
// the figures computed from readings (CPU %, working set, wake buckets).
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "wmrun/runtime/stats.hpp"
#include "wmrun/runtime/stats_format.hpp"

using namespace wmrun;
using runtime::ContainerStats;

namespace {

ContainerStats running(const std::string& id) {
    ContainerStats c;
    c.id = id;
    c.state = "running";
    c.uptime_seconds = 3725;
    cgroups::Stats s;
    s.cpu.usage_ns = 2'500'000'000;
    s.memory.usage = 64 << 20;
    s.memory.limit = 256 << 20;
    s.memory.raw["total_inactive_file"] = 16 << 20;
    s.pids.current = 4;
    s.io.push_back({8, 0, 4096, 8192, 1, 2});
    s.cpu_pressure = cgroups::Pressure{{12.5, 1, 0, 1500000}, {}};
    c.cgroup = s;
    c.cpu_percent = 99.5;
    return c;
}

ContainerStats hibernated(const std::string& id) {
    ContainerStats c = running(id);
    c.state = "hibernated";
    c.cpu_percent = 0.0;
    c.hibernated_seconds = 90;
    runtime::ContainerState st;
    runtime::record_wake(st, 0.004);
    runtime::record_wake(st, 0.2);
    runtime::record_wake(st, 30);  // longer than the last bound: only in +Inf
    c.wakes = st.wakes;
    return c;
}

// Checks the exposition as Prometheus's text parser would, returning sample name -> lines.
std::map<std::string, std::vector<std::string>> parse_exposition(const std::string& text) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    static const std::regex type(
        R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    static const std::regex label(R"([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*")");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\} (\S+))");
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    std::map<std::string, std::vector<std::string>> samples;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        INFO(line);
        if (std::regex_match(line, m, help)) {
            CHECK(helped.insert(m[1]).second);
        } else if (std::regex_match(line, m, type)) {
            CHECK(helped.contains(m[1]));
            CHECK(types.emplace(m[1], m[2]).second);
        } else {
            REQUIRE(std::regex_match(line, m, sample));
            std::string name = m[1], family = name;
            for (const char* suffix : {"_bucket", "_sum", "_count"})
                if (!types.contains(family) && name.ends_with(suffix))
                    family = name.substr(0, name.size() - std::string(suffix).size());
            CHECK(types.contains(family));
            std::string labels = m[2];
            std::string rest = std::regex_replace(labels, label, "");
            CHECK(std::regex_match(rest, std::regex(",*")));
            std::size_t end = 0;
            std::stod(m[3].str() == "+Inf" ? "inf" : m[3].str(), &end);
            samples[name].push_back(line);
        }
    }
    return samples;
}

}  // namespace

TEST_CASE("label values escape backslash, quote and newline") {
    CHECK(runtime::prometheus_label_value("plain") == "plain");
    CHECK(runtime::prometheus_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("the Prometheus exposition parses, each family declared once before its samples") {
    auto odd = running("web-1");
    odd.image = "reg/app:1.0 \"quoted\" back\\slash\nnewline";
    auto samples = parse_exposition(runtime::stats_prometheus({odd, hibernated("sleepy")}));
    REQUIRE(samples.contains("container_cpu_usage_seconds_total"));
    CHECK(samples["container_cpu_usage_seconds_total"][0] ==
          R"(container_cpu_usage_seconds_total{id="web-1",image="reg/app:1.0 \"quoted\" )"
          R"(back\\slash\nnewline",state="running"} 2.5)");
    CHECK(samples["container_memory_working_set_bytes"][0].ends_with(
        " " + std::to_string(48 << 20)));
    CHECK(samples["container_spec_memory_limit_bytes"][0].ends_with(
        " " + std::to_string(256 << 20)));
    CHECK(samples["container_fs_reads_bytes_total"][0].find(R"(device="8:0")") !=
          std::string::npos);
    CHECK(samples["wmrun_container_hibernated"][0].ends_with("} 0"));
    CHECK(samples["wmrun_container_hibernated"][1].ends_with("} 1"));
    CHECK(samples["container_pressure_cpu_waiting_seconds_total"][0].ends_with("} 1.5"));
    CHECK(samples["wmrun_containers"].size() == 5);
}

TEST_CASE("the wake histogram's buckets are cumulative and +Inf equals the count") {
    auto samples = parse_exposition(runtime::stats_prometheus({hibernated("h")}));
    const auto& buckets = samples["wmrun_wake_duration_seconds_bucket"];
    REQUIRE(buckets.size() == runtime::kWakeBucketBounds.size() + 1);
    CHECK(buckets[0].ends_with(R"(le="0.001"} 0)"));
    CHECK(buckets[2].ends_with(R"(le="0.005"} 1)"));
    CHECK(buckets[7].ends_with(R"(le="0.25"} 2)"));
    CHECK(buckets[11].ends_with(R"(le="5"} 2)"));
    CHECK(buckets[12].ends_with(R"(le="+Inf"} 3)"));
    CHECK(samples["wmrun_wake_duration_seconds_count"][0].ends_with("} 3"));
    CHECK(samples["wmrun_wake_duration_seconds_sum"][0].ends_with("} 30.204"));
}

TEST_CASE("a stopped container has state figures but no cgroup samples") {
    ContainerStats c;
    c.id = "gone";
    c.state = "stopped";
    auto samples = parse_exposition(runtime::stats_prometheus({c}));
    CHECK_FALSE(samples.contains("container_cpu_usage_seconds_total"));
    CHECK(samples["wmrun_container_hibernated"].size() == 1);
    auto j = runtime::stats_json({c});
    CHECK(j[0]["cgroup"].is_null());
    CHECK(j[0]["cpuPercent"].is_null());
}

TEST_CASE("table: one row per container under the header") {
    std::string table = runtime::stats_table({running("web-1"), hibernated("sleepy")});
    std::istringstream in(table);
    std::string header, web, sleepy;
    std::getline(in, header);
    std::getline(in, web);
    std::getline(in, sleepy);
    CHECK(header.starts_with("ID "));
    CHECK(web.find("99.50%") != std::string::npos);
    CHECK(web.find("64.0MiB / 256.0MiB") != std::string::npos);
    CHECK(web.find("25.00%") != std::string::npos);
    CHECK(web.find("1h2m") != std::string::npos);
    CHECK(sleepy.find("zz 1m30s") != std::string::npos);
}

TEST_CASE("figures computed from readings") {
    CHECK(runtime::cpu_percent(0, 0, 500'000'000, 1'000'000'000) == Approx(50));
    CHECK(runtime::cpu_percent(10, 5, 5, 10) == 0);  // a counter that went back: no figure
    cgroups::MemoryStats m;
    m.usage = 100;
    m.raw["inactive_file"] = 30;
    CHECK(runtime::working_set_bytes(m) == 70);
    m.raw["inactive_file"] = 300;
    CHECK(runtime::working_set_bytes(m) == 0);
    CHECK(runtime::human_bytes(512) == "512B");
    CHECK(runtime::human_bytes(1536) == "1.5KiB");
    CHECK(runtime::human_duration(3 * 86400 + 4 * 3600 + 5) == "3d4h");
    CHECK(runtime::human_duration(45) == "45s");
}
