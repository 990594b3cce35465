// state, list, ps, spec, features.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "commands.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::cli {

namespace {

std::string owner_name(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) < 0) return "";
    if (passwd* pw = ::getpwuid(st.st_uid)) return pw->pw_name;
    return fmt::format("#{}", st.st_uid);
}

// Go's text/tabwriter as runc uses it: minwidth 12, padding 3, last column unpadded.
std::string tabulate(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& row : rows)
        for (std::size_t i = 0; i + 1 < row.size(); ++i) {
            if (width.size() <= i) width.resize(i + 1, 12);
            width[i] = std::max(width[i], row[i].size() + 3);
        }
    std::string out;
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) out += std::string(width[i] - row[i].size(), ' ');
        }
        out += '\n';
    }
    return out;
}

Result<int> list(const Context& ctx, const std::string& format, bool quiet) {
    auto entries = WM_TRY(runtime::list_containers(ctx.global));
    if (quiet) {
        for (const auto& e : entries)
            print(e.state.id + "\n");
        return 0;
    }
    if (format == "json") {
        if (entries.empty()) {
            print("null\n");
            return 0;
        }
        OrderedJson arr = OrderedJson::array();
        for (const auto& e : entries) {
            OrderedJson j = runtime::state_json(e.state, e.status);
            j["owner"] = owner_name(runtime::StateStore(ctx.global.root).dir(e.state.id));
            arr.push_back(j);
        }
        print(arr.dump() + "\n");
        return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
    for (const auto& e : entries) {
        bool stopped = e.status == runtime::Status::stopped;
        rows.push_back({e.state.id, stopped ? "0" : std::to_string(e.state.pid),
                        runtime::display_status(e.state, e.status), e.state.bundle, e.state.created,
                        owner_name(runtime::StateStore(ctx.global.root).dir(e.state.id))});
    }
    print(tabulate(rows));
    return 0;
}

Result<std::string> capture(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return sys_error("pipe", argv[0]);
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) return sys_error("fork", argv[0]);
    if (pid == 0) {
        ::dup2(wr.get(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    wr.reset();
    auto out = read_fd(rd.get(), argv[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!out) return out;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("run", argv[0], fmt::format("exit status {}", WEXITSTATUS(status)));
    return out;
}

Result<int> ps(const Context& ctx, const std::string& id, const std::string& format,
               const std::vector<std::string>& ps_args) {
    auto pids = WM_TRY(runtime::container_pids(ctx.global, id));
    if (format == "json") {
        print(Json(pids).dump() + "\n");
        return 0;
    }
    std::vector<std::string> argv = {"ps"};
    if (ps_args.empty())
        argv.push_back("-ef");
    else
        argv.insert(argv.end(), ps_args.begin(), ps_args.end());
    auto text = WM_TRY(capture(argv));
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    std::size_t pid_col = 0;
    {
        std::istringstream h(line);
        std::string field;
        for (std::size_t i = 0; h >> field; ++i)
            if (field == "PID") pid_col = i;
    }
    print(line + "\n");
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string field;
        for (std::size_t i = 0; i <= pid_col && (l >> field); ++i) {
        }
        if (std::find(pids.begin(), pids.end(), std::atoi(field.c_str())) != pids.end())
            print(line + "\n");
    }
    return 0;
}

Result<int> write_spec(const std::string& bundle, bool rootless) {
    std::string path = (bundle.empty() ? "." : bundle) + "/config.json";
    if (path_exists(path)) return fail("write spec", path, "file exists; remove it first", EEXIST);
    auto doc = runtime::default_spec(rootless, ::geteuid(), ::getegid());
    WM_CHECK(write_file_atomic(path, doc.dump(4) + "\n", 0644));
    return 0;
}

}  // namespace

void add_query_commands(CLI::App& app, Context& ctx) {
    static std::string state_id;
    add_command(app, ctx, "state", "print the OCI state of a container",
                [&ctx]() -> Result<int> {
                    auto doc = WM_TRY(runtime::container_state(ctx.global, state_id));
                    print(doc.dump(2));  // runc prints no newline after the document
                    return 0;
                })
        ->add_option("container-id", state_id, "container id")
        ->required();

    static std::string list_format = "table";
    static bool quiet = false;
    auto* ls = add_command(app, ctx, "list", "list containers under --root",
                           [&ctx]() -> Result<int> { return list(ctx, list_format, quiet); });
    ls->alias("ls");
    ls->add_option("-f,--format", list_format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
    ls->add_flag("-q,--quiet", quiet, "print only the ids");

    static std::string ps_id, ps_format = "table";
    static std::vector<std::string> ps_args;
    auto* p = add_command(app, ctx, "ps", "list the processes of a container",
                          [&ctx]() -> Result<int> { return ps(ctx, ps_id, ps_format, ps_args); });
    p->add_option("container-id", ps_id, "container id")->required();
    p->add_option("ps-args", ps_args, "arguments for ps(1) (default -ef)");
    p->add_option("-f,--format", ps_format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));

    static std::string spec_bundle;
    static bool spec_rootless = false;
    auto* s = add_command(app, ctx, "spec", "write a default config.json",
                          [] { return write_spec(spec_bundle, spec_rootless); });
    s->add_option("-b,--bundle", spec_bundle, "directory to write config.json to");
    s->add_flag("--rootless", spec_rootless, "a config for an unprivileged user");

    add_command(app, ctx, "features", "print the runtime-spec features this build supports",
                []() -> Result<int> {
                    print(runtime::features().dump(4) + "\n");
                    return 0;
                });
}

}  // namespace wmrun::cli
