// The wmrun command line: each command file registers its subcommands on the app and turns
// the runtime's Result into output. Errors come back here and are printed once, in main.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "wmrun/base/error.hpp"
#include "wmrun/runtime/container.hpp"

namespace wmrun::cli {

// What a command returns: its exit status, or the error to print.
using Action = std::function<Result<int>()>;

struct Context {
    runtime::GlobalOptions global;
    Action action;           // set by the chosen subcommand's callback
    std::string command;     // its name, for the error line
    int failure_status = 1;  // the exit status when the action fails (exec: 255, as runc)
};

void add_lifecycle_commands(CLI::App& app, Context& ctx);  // create start run delete kill
void add_query_commands(CLI::App& app, Context& ctx);      // state list ps spec features
void add_exec_command(CLI::App& app, Context& ctx);
void add_cgroup_commands(CLI::App& app, Context& ctx);     // pause resume update events
void add_image_commands(CLI::App& app, Context& ctx);      // image import ls rm gc
void add_snapshot_commands(CLI::App& app, Context& ctx);   // snapshot init create list ...
void add_hibernate_commands(CLI::App& app, Context& ctx);  // hibernate wake activate
void add_stats_command(CLI::App& app, Context& ctx);
void add_upgrade_command(CLI::App& app, Context& ctx);
void add_migrate_command(CLI::App& app, Context& ctx);

// Registers `name` on app (the root, or a group made by add_group) with a callback that makes
// `action` the one to run; under a group, the error line names both words ("image import").
CLI::App* add_command(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& description, Action action);

// A command that only holds subcommands (`image`, `snapshot`); one of them is required.
CLI::App* add_group(CLI::App& app, Context& ctx, const std::string& name,
                    const std::string& description);

// Go's time.ParseDuration for the forms a user types ("5s", "500ms", "1m30s") in milliseconds;
// errors name the flag.
Result<unsigned> parse_duration_ms(const std::string& text, const std::string& flag);

// Writes text to stdout as it is.
void print(const std::string& text);

}  // namespace wmrun::cli
