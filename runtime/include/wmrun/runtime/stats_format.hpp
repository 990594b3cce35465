// The ways `wmrun stats` and its HTTP endpoint show what collect_stats() read: a table for
// people, JSON for scripts and the dashboard, Prometheus's text exposition format for scrapers.
// Each shows the container's id, image and state, never its environment or arguments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wmrun/base/json.hpp"
#include "wmrun/runtime/stats.hpp"

namespace wmrun::runtime {

// docker stats' columns and wmrun's own: STATE, PSI (some avg10 of cpu/memory/io), UP (or
// hibernated for), WAKES. One line per container, a header first.
std::string stats_table(const std::vector<ContainerStats>& stats);

// An array with one object per container; figures the host does not give are null.
OrderedJson stats_json(const std::vector<ContainerStats>& stats);

// Prometheus text format 0.0.4: one HELP and TYPE per family, samples labelled id, image and
// state; cAdvisor's names where the meaning is the same, wmrun_ for the rest.
std::string stats_prometheus(const std::vector<ContainerStats>& stats);

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string prometheus_label_value(std::string_view value);

// "1.5MiB", "512B": binary units with one decimal, as docker stats prints them.
std::string human_bytes(std::uint64_t bytes);
// "3d4h", "2h5m", "45s": the two largest units of a duration.
std::string human_duration(double seconds);

}  // namespace wmrun::runtime
