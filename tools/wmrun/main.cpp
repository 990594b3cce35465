// wmrun: a daemonless OCI runtime, command-line compatible with runc.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdio>
#include <cstdlib>

#include "cli_describe.hpp"
#include "commands.hpp"
#include "sealed_exe.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun_commit.h"
#include "wmrun_version.h"

namespace wmrun::cli {

CLI::App* add_command(CLI::App& app, Context& ctx, const std::string& name,
                      const std::string& description, Action action) {
    CLI::App* sub = app.add_subcommand(name, description);
    std::string full = app.get_parent() == nullptr ? name : app.get_name() + " " + name;
    sub->callback([&ctx, full, action = std::move(action)] {
        ctx.command = full;
        ctx.action = action;
    });
    // Parse errors come before the callback; this names the command on their line too.
    sub->preparse_callback([&ctx, full](std::size_t) { ctx.command = full; });
    return sub;
}

CLI::App* add_group(CLI::App& app, Context& ctx, const std::string& name,
                    const std::string& description) {
    CLI::App* group = app.add_subcommand(name, description);
    group->require_subcommand(1);
    group->preparse_callback([&ctx, name](std::size_t) { ctx.command = name; });
    return group;
}

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

namespace {

// Never a directory in a world-writable place: another user could make it first, with a
// state.json whose bundle runs hooks as the caller. Without XDG_RUNTIME_DIR, the user's runtime
// directory that logind makes (if it is there), else none: the commands that need a state root
// say so (StateStore).
std::string default_root() {
    if (::geteuid() == 0) return "/run/wmrun";
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
        return std::string(xdg) + "/wmrun";
    std::string run_user = fmt::format("/run/user/{}", ::geteuid());
    struct stat st {};
    if (::stat(run_user.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
        return run_user + "/wmrun";
    return {};
}

// What `wmrun --help` says of capabilities (docs/security.md has the whole table).
constexpr const char* kSecurityNote =
    "Security: a container is an escape barrier only for what it is not granted.\n"
    "  CAP_SYS_PTRACE lets a container read every process it can see (/proc/PID/root, cwd,\n"
    "    fd, mem); wmrun never shows it a process of its own with the host's root, cwd or\n"
    "    fds, but a container without a pid namespace sees the host's: never combine them.\n"
    "  CAP_SYS_ADMIN is most of root (mounts, namespaces): never grant it to an untrusted\n"
    "    container. Nor CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_BOOT, CAP_SYS_TIME,\n"
    "    CAP_MAC_ADMIN, CAP_SYSLOG: nothing contains them.\n"
    "  linux.sysctl may set only sysctls of the container's own namespaces.\n"
    "  See docs/security.md.";

// runc's lines, which tools parse: version, commit, spec, then the libraries.
std::string version_text() {
    return fmt::format("wmrun version {}\ncommit: {}\nspec: 1.3.0\nlibseccomp: {}\n", WMRUN_VERSION,
                       WMRUN_COMMIT, runtime::libseccomp_version());
}

}  // namespace

}  // namespace wmrun::cli

int main(int argc, char** argv) {
    using namespace wmrun;
    if (auto r = cli::reexec_sealed_early(argc, argv, cli::default_root()); !r) {
        std::fprintf(stderr, "wmrun: %s\n", r.error().message().c_str());
        return 1;
    }
    cli::Context ctx;
    CLI::App app{"wmrun: run OCI containers, command-line compatible with runc", "wmrun"};
    app.require_subcommand(0, 1);
    app.fallthrough(false);

    std::string log_path, log_format = "text", rootless = "auto";
    bool debug = false, show_version = false;
    ctx.global.root = cli::default_root();
    app.add_option("--root", ctx.global.root, "root directory for container state");
    app.add_option("--log", log_path, "log file (default: stderr)");
    app.add_option("--log-format", log_format, "log format: text or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_flag("--debug", debug, "enable debug logging");
    app.add_flag("--systemd-cgroup", ctx.global.systemd_cgroup,
                 "treat cgroupsPath as slice:prefix:name");
    app.add_option("--rootless", rootless, "rootless mode: true, false or auto")
        ->check(CLI::IsMember({"true", "false", "auto"}));
    std::string criu;
    app.add_option("--criu", criu,
                   "ignored with a warning, as by runc 1.2 (no checkpoint/restore)");
    app.add_flag("-v,--version", show_version, "print the version");
    app.footer(cli::kSecurityNote);

    cli::add_lifecycle_commands(app, ctx);
    cli::add_query_commands(app, ctx);
    cli::add_exec_command(app, ctx);
    cli::add_cgroup_commands(app, ctx);
    cli::add_image_commands(app, ctx);
    cli::add_snapshot_commands(app, ctx);
    cli::add_hibernate_commands(app, ctx);
    cli::add_stats_command(app, ctx);
    cli::add_upgrade_command(app, ctx);
    cli::add_migrate_command(app, ctx);
    cli::add_describe_command(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string cmd = ctx.command.empty() ? "" : ctx.command + ": ";
        std::fprintf(stderr, "wmrun: %s%s\n", cmd.c_str(), e.what());
        return e.get_exit_code() == 0 ? 0 : 1;
    }
    if (show_version) {
        std::fputs(cli::version_text().c_str(), stdout);
        return 0;
    }
    if (!ctx.action) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    }
    if (auto r = cli::reexec_sealed_for(ctx.command, ctx.global.root, argv); !r) {
        std::fprintf(stderr, "wmrun: %s: %s\n", ctx.command.c_str(), r.error().message().c_str());
        return 1;
    }
    auto format = log_format == "json" ? log::Format::json : log::Format::text;
    if (!log::init(log_path, format, debug)) {
        std::fprintf(stderr, "wmrun: open log: %s: %s\n", log_path.c_str(),
                     errno_text(errno).c_str());
        return 1;
    }
    ctx.global.rootless = rootless == "true" || (rootless == "auto" && ::geteuid() != 0);
    if (!criu.empty())
        log::warn("--criu is ignored: checkpoint/restore is not supported (no CRIU)");

    auto result = ctx.action();
    if (!result) {
        std::string line = fmt::format("{}: {}", ctx.command, result.error().message());
        // containerd's shim reads the reason from the log file; people read stderr. Asked for
        // JSON without a file, stderr gets the JSON line alone, as runc writes it.
        if (log::to_file() || format == log::Format::json) log::error(line);
        if (log::to_file() || format == log::Format::text)
            std::fprintf(stderr, "wmrun: %s\n", line.c_str());
        return ctx.failure_status;
    }
    return *result;
}
