// create, start, run, delete, kill.
#include "commands.hpp"
#include "wmrun/base/text.hpp"
#include "wmrun/overlay/store.hpp"

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

// --image: the bundle comes from an image in the store instead of --bundle.
struct ImageFlags {
    std::string image;
    std::string store = overlay::kDefaultStoreRoot;
    bool tty = false;
    std::vector<std::string> args;

    runtime::ImageOptions options() const { return {image, store, args, tty}; }
};

void add_image_flags(CLI::App* cmd, ImageFlags& f) {
    cmd->add_option("--image", f.image, "build the bundle from this image of the store");
    cmd->add_option("--store", f.store, "image store directory (with --image)")
        ->capture_default_str();
    cmd->add_flag("-t,--tty", f.tty, "give the process a terminal (with --image)");
    cmd->add_option("command", f.args, "with --image, after --: the command replacing the Cmd");
}

Result<> check_image_flags(const runtime::CreateOptions& o, const ImageFlags& f) {
    if (f.image.empty() && (!f.args.empty() || f.tty))
        return fail("", "", "a command after the container id and -t need --image");
    if (!f.image.empty() && !o.bundle.empty())
        return fail("", "", "--bundle and --image exclude each other");
    return {};
}

}  // namespace

void add_lifecycle_commands(CLI::App& app, Context& ctx) {
    static runtime::CreateOptions create_opts;
    static ImageFlags create_image;
    static std::string activation_names;
    auto* create =
        add_command(app, ctx, "create", "create a container (its process waits for start)",
                    [&ctx]() -> Result<int> {
                        WM_CHECK(check_image_flags(create_opts, create_image));
                        if (!activation_names.empty()) {
                            create_opts.listen_fd_names = split(activation_names, ':');
                            for (std::size_t i = 0; i < create_opts.listen_fd_names.size(); ++i)
                                create_opts.listen_fds.push_back(3 + static_cast<int>(i));
                        }
                        if (create_image.image.empty())
                            WM_CHECK(runtime::create_container(ctx.global, create_opts));
                        else
                            WM_CHECK(runtime::create_container_from_image(ctx.global, create_opts,
                                                                          create_image.options()));
                        return 0;
                    });
    add_create_flags(create, create_opts);
    add_image_flags(create, create_image);
    // `activate` creates its containers through this command, so that the init runs from a
    // sealed copy of the binary while the activator does not hold one for as long as it lives.
    create
        ->add_option("--socket-activation", activation_names,
                     "fds 3.. are listening sockets with these colon-separated names")
        ->group("");

    static std::string start_id;
    add_command(app, ctx, "start", "run the process of a created container",
                [&ctx]() -> Result<int> {
                    WM_CHECK(runtime::start_container(ctx.global, start_id));
                    return 0;
                })
        ->add_option("container-id", start_id, "container id")
        ->required();

    static runtime::CreateOptions run_opts;
    static ImageFlags run_image;
    static runtime::RunOptions run_flags;
    static bool no_subreaper = false;
    auto* run = add_command(app, ctx, "run", "create and start a container; wait for it unless -d",
                            [&ctx]() -> Result<int> {
                                WM_CHECK(check_image_flags(run_opts, run_image));
                                run_flags.subreaper = !no_subreaper;
                                if (run_image.image.empty())
                                    return runtime::run_container(ctx.global, run_opts, run_flags);
                                return runtime::run_container_from_image(
                                    ctx.global, run_opts, run_image.options(), run_flags);
                            });
    add_create_flags(run, run_opts);
    add_image_flags(run, run_image);
    run->add_flag("-d,--detach", run_flags.detach, "return once the container has started");
    run->add_flag("--keep", run_flags.keep,
                  "do not delete the container after it exits (`delete` removes it)");
    run->add_flag("--no-subreaper", no_subreaper,
                  "do not become the subreaper of the container's orphans");

    static std::string delete_id, delete_store = overlay::kDefaultStoreRoot;
    static bool force = false, volumes = false;
    auto* del = add_command(
        app, ctx, "delete", "remove a container and everything it holds", [&ctx]() -> Result<int> {
            auto r = volumes ? runtime::delete_container_volumes(ctx.global, delete_id, force,
                                                                 delete_store)
                             : runtime::delete_container(ctx.global, delete_id, force);
            // runc: forcing the delete of a container that is gone succeeds.
            if (!r && force && r.error().err == ENOENT) return 0;
            WM_CHECK(r);
            return 0;
        });
    del->add_option("container-id", delete_id, "container id")->required();
    del->add_flag("-f,--force", force, "kill the container first if it still runs");
    del->add_flag("--volumes", volumes,
                  "also remove the volume layer of a container made with --image");
    del->add_option("--store", delete_store,
                    "image store of the volume layer when the container is gone already")
        ->capture_default_str();
    del->alias("rm");

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

    // runc's checkpoint and restore drive CRIU, which wmrun does not: whatever their flags,
    // they fail with the reason rather than a parse error.
    for (const char* name : {"checkpoint", "restore"}) {
        add_command(app, ctx, name, "not supported: wmrun has no CRIU", []() -> Result<int> {
            return fail("", "", "checkpoint/restore is not supported (no CRIU)", ENOTSUP);
        })->allow_extras();
    }
}

}  // namespace wmrun::cli
