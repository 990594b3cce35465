// exec: run another process in a running container.
#include "commands.hpp"
#include "wmrun/base/json.hpp"

namespace wmrun::cli {

void add_exec_command(CLI::App& app, Context& ctx) {
    static runtime::ExecOptions o;
    static std::string process_file;
    static std::vector<std::string> sub_cgroup;
    static CLI::App* cmd = nullptr;
    cmd = add_command(app, ctx, "exec", "run a process in a running container",
                      [&ctx]() -> Result<int> {
                          // runc exits 255 when exec itself fails, so that a caller tells
                          // that apart from the exit status of the process it ran.
                          ctx.failure_status = 255;
                          if (!process_file.empty())
                              o.process = WM_TRY(read_json_file(process_file));
                          if (!sub_cgroup.empty())
                              return fail("exec", o.id,
                                          "--cgroup (a sub-cgroup of the container) is not "
                                          "supported",
                                          ENOTSUP);
                          o.args = cmd->remaining();
                          if (!o.process && o.args.empty())
                              return fail("exec", o.id, "no command given (args or --process)");
                          return runtime::exec_in_container(ctx.global, o);
                      });
    cmd->add_option("container-id", o.id, "container id")->required();
    cmd->add_option("-p,--process", process_file, "a JSON process object (config.json's process)");
    cmd->add_flag("-t,--tty", o.tty, "allocate a pseudo-TTY");
    cmd->add_option("-e,--env", o.env, "KEY=VALUE to add to the environment")
        ->allow_extra_args(false);
    cmd->add_option("--cwd", o.cwd, "working directory inside the container");
    cmd->add_option("-u,--user", o.user, "uid[:gid]");
    cmd->add_option("-g,--additional-gids", o.additional_gids, "additional group ids")
        ->allow_extra_args(false);
    cmd->add_flag("-d,--detach", o.detach, "do not wait for the process");
    cmd->add_option("--pid-file", o.pid_file, "file to write the process's pid to");
    cmd->add_option("--console-socket", o.console_socket, "unix socket for the pty master");
    cmd->add_option("--pidfd-socket", o.pidfd_socket, "unix socket that receives the pidfd");
    cmd->add_option("--preserve-fds", o.preserve_fds, "pass fds 3..3+N-1 into the process");
    cmd->add_flag("--no-new-privs", o.no_new_privs, "set no_new_privs for the process");
    cmd->add_option("-c,--cap", o.caps, "add a capability")->allow_extra_args(false);
    cmd->add_option("--apparmor", o.apparmor_profile,
                    "AppArmor profile for the process (refused where AppArmor is not enabled)");
    cmd->add_option("--process-label", o.process_label,
                    "SELinux label for the process (refused where SELinux is not enabled)");
    cmd->add_option("--cgroup", sub_cgroup, "a sub-cgroup to run in (not supported: refused)")
        ->allow_extra_args(false);
    cmd->add_flag("--ignore-paused", o.ignore_paused,
                  "exec into a paused container too (the process starts once it is resumed)");
    // Everything after the container id belongs to the command, dashes included, as with runc.
    cmd->prefix_command(true);
}

}  // namespace wmrun::cli
