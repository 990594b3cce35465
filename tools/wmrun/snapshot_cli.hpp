// What the snapshot command files share: the repository options and how times are printed.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "commands.hpp"
#include "wmrun/base/json.hpp"
#include "wmrun/snapshot/repository.hpp"

namespace wmrun::cli {

// --repo DIR and the --max-* limits on what is read from it.
void add_repo_options(CLI::App* sub, std::string& dir);
// Opens the repository under the limits those options set.
Result<snapshot::Repository> open_repo(const std::string& dir);
// "2026-01-05T10:30:00Z"
std::string format_time(std::int64_t ns);
void print_json(const Json& j);

void add_snapshot_forget(CLI::App& group, Context& ctx);  // snapshot forget
void add_snapshot_ls(CLI::App& group, Context& ctx);      // snapshot ls
void add_snapshot_auto(CLI::App& group, Context& ctx);    // snapshot policy, snapshot auto

}  // namespace wmrun::cli
