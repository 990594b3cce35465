// create, start, run, delete, kill.
#include "commands.hpp"

namespace wmrun::cli {

namespace {

void add_create_flags(CLI::App* cmd, runtime::CreateOptions& o) {
    cmd->add_option("container-id", o.id, "container id")->required();
    cmd->add_option("-b,--bundle", o.bundle, "path to the bundle (default: current directory)");
    cmd->add_option("--pid-file", o.pid_file, "file to write the init's pid to");
    cmd->add_option("--console-socket", o.console_socket,
                    "unix socket that receives the pty master of process.terminal");
    cmd->add_option("--pidfd-socket", o.pidfd_socket, "unix socket that receives the init's pidfd");
    cmd->add_flag("--no-pivot", o.no_pivot, "use MS_MOVE and chroot instead of pivot_root");
    cmd->add_flag("--no-new-keyring", o.no_new_keyring, "keep the caller's session keyring");
    cmd->add_option("--preserve-fds", o.preserve_fds, "pass fds 3..3+N-1 into the container");
}

}  // namespace

void add_lifecycle_commands(CLI::App& app, Context& ctx) {
    static runtime::CreateOptions create_opts;
    auto* create =
        add_command(app, ctx, "create", "create a container (its process waits for start)",
                    [&ctx]() -> Result<int> {
                        WM_CHECK(runtime::create_container(ctx.global, create_opts));
                        return 0;
                    });
    add_create_flags(create, create_opts);

    static std::string start_id;
    add_command(app, ctx, "start", "run the process of a created container",
                [&ctx]() -> Result<int> {
                    WM_CHECK(runtime::start_container(ctx.global, start_id));
                    return 0;
                })
        ->add_option("container-id", start_id, "container id")
        ->required();

    static runtime::CreateOptions run_opts;
    static bool detach = false;
    auto* run = add_command(
        app, ctx, "run", "create and start a container; wait for it unless -d",
        [&ctx]() -> Result<int> { return runtime::run_container(ctx.global, run_opts, detach); });
    add_create_flags(run, run_opts);
    run->add_flag("-d,--detach", detach, "return once the container has started");
    static bool keep = false;
    run->add_flag("--keep", keep, "accepted for runc compatibility");

    static std::string delete_id;
    static bool force = false;
    auto* del = add_command(app, ctx, "delete", "remove a container and everything it holds",
                            [&ctx]() -> Result<int> {
                                auto r = runtime::delete_container(ctx.global, delete_id, force);
                                // runc: forcing the delete of a container that is gone succeeds.
                                if (!r && force && r.error().err == ENOENT) return 0;
                                WM_CHECK(r);
                                return 0;
                            });
    del->add_option("container-id", delete_id, "container id")->required();
    del->add_flag("-f,--force", force, "kill the container first if it still runs");

    static std::string kill_id, signal_name = "SIGTERM";
    static bool all = false;
    auto* kill = add_command(app, ctx, "kill", "send a signal to the container's init",
                             [&ctx]() -> Result<int> {
                                 int sig = WM_TRY(runtime::parse_signal(signal_name));
                                 WM_CHECK(runtime::kill_container(ctx.global, kill_id, sig, all));
                                 return 0;
                             });
    kill->add_option("container-id", kill_id, "container id")->required();
    kill->add_option("signal", signal_name, "signal name or number (default SIGTERM)");
    kill->add_flag("-a,--all", all, "signal every process of the container");
}

}  // namespace wmrun::cli
