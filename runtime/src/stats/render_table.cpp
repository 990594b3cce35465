// stats as a table, docker stats' columns plus wmrun's state, pressure, uptime and wakes.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "wmrun/runtime/stats_format.hpp"

namespace wmrun::runtime {

namespace {

std::uint64_t io_total(const cgroups::Stats& s, bool write) {
    std::uint64_t total = 0;
    for (const auto& d : s.io)
        total += write ? d.write_bytes : d.read_bytes;
    return total;
}

std::string psi_cell(const cgroups::Stats& s) {
    auto avg10 = [](const std::optional<cgroups::Pressure>& p) {
        return p ? fmt::format("{:.1f}", p->some.avg10) : std::string("-");
    };
    if (!s.cpu_pressure && !s.memory_pressure && !s.io_pressure) return "-";
    return avg10(s.cpu_pressure) + "/" + avg10(s.memory_pressure) + "/" + avg10(s.io_pressure);
}

using Row = std::array<std::string, 10>;

Row row_of(const ContainerStats& c) {
    Row r;
    r.fill("-");
    r[0] = c.id;
    r[1] = c.state;
    if (c.cpu_percent) r[2] = fmt::format("{:.2f}%", *c.cpu_percent);
    if (c.cgroup) {
        const auto& m = c.cgroup->memory;
        r[3] = human_bytes(m.usage) + " / " + (m.limit ? human_bytes(m.limit) : "unlimited");
        if (m.limit) r[4] = fmt::format("{:.2f}%", 100.0 * m.usage / m.limit);
        r[5] = human_bytes(io_total(*c.cgroup, false)) + " / " +
               human_bytes(io_total(*c.cgroup, true));
        r[6] = std::to_string(c.cgroup->pids.current);
        r[7] = psi_cell(*c.cgroup);
    }
    if (c.state == "hibernated") {
        r[8] = c.hibernated_seconds > 0 ? "zz " + human_duration(c.hibernated_seconds) : "zz";
    } else if (c.state != "stopped") {
        r[8] = human_duration(c.uptime_seconds);
    }
    r[9] = std::to_string(c.wakes.count);
    return r;
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
    static constexpr std::array<const char*, 6> units = {"KiB", "MiB", "GiB", "TiB", "PiB",
                                                         "EiB"};
    if (bytes < 1024) return fmt::format("{}B", bytes);
    double v = static_cast<double>(bytes) / 1024;
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < units.size()) {
        v /= 1024;
        ++u;
    }
    return fmt::format("{:.1f}{}", v, units[u]);
}

std::string human_duration(double seconds) {
    auto s = static_cast<std::uint64_t>(std::max(0.0, seconds));
    std::uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d) return fmt::format("{}d{}h", d, h);
    if (h) return fmt::format("{}h{}m", h, m);
    if (m) return fmt::format("{}m{}s", m, sec);
    return fmt::format("{}s", sec);
}

std::string stats_table(const std::vector<ContainerStats>& stats) {
    std::vector<Row> rows{{"ID", "STATE", "CPU %", "MEM USAGE / LIMIT", "MEM %",
                           "BLOCK I/O", "PIDS", "PSI CPU/MEM/IO", "UP", "WAKES"}};
    for (const auto& c : stats)
        rows.push_back(row_of(c));
    std::array<std::size_t, 10> width{};
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i)
            width[i] = std::max(width[i], r[i].size());
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i)
            line += i + 1 < r.size() ? fmt::format("{:<{}}   ", r[i], width[i]) : r[i];
        out += line + "\n";
    }
    return out;
}

}  // namespace wmrun::runtime
