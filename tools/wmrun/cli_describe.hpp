// The command line as data: every command, option and argument with its help text, read from
// the CLI11 definitions themselves. The man pages and shell completions are generated from it
// at build time (tools/man/), so a flag added to a command cannot be missing from either.
#pragma once

#include <CLI/CLI.hpp>

#include "wmrun/base/json.hpp"

namespace wmrun::cli {

// {"name", "description", "footer", "options": [{"names", "value", "description", "default",
// "required"}], "arguments": [{"name", "description", "required", "many"}], "commands": [...]}
// Hidden commands (group "") are left out.
OrderedJson describe_cli(const CLI::App& app);

// Registers the hidden `wmrun __describe-cli`, which prints describe_cli of the whole app.
void add_describe_command(CLI::App& app);

}  // namespace wmrun::cli
