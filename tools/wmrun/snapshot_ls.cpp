// snapshot ls: what a snapshot holds, as `ls -l` shows a tree.
#include <sys/stat.h>

#include <fmt/format.h>

#include "snapshot_cli.hpp"

namespace wmrun::cli {
namespace {

struct LsArgs {
    std::string repo, id, path;
    bool json = false;
};

// "drwxr-x---", with the setuid, setgid and sticky letters.
std::string mode_string(const snapshot::NodeInfo& n) {
    char type = n.type == "dir"       ? 'd'
                : n.type == "symlink" ? 'l'
                : n.type == "fifo"    ? 'p'
                : n.type == "chr"     ? 'c'
                : n.type == "blk"     ? 'b'
                                      : '-';
    std::string s(10, '-');
    s[0] = type;
    const char* rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; ++i)
        if (n.mode & (0400u >> i)) s[1 + i] = rwx[i];
    auto special = [&](int pos, unsigned bit, char with_x, char without_x) {
        if (n.mode & bit) s[pos] = s[pos] == '-' ? without_x : with_x;
    };
    special(3, S_ISUID, 's', 'S');
    special(6, S_ISGID, 's', 'S');
    special(9, S_ISVTX, 't', 'T');
    return s;
}

Result<int> ls(const LsArgs& a) {
    auto repo = WM_TRY(open_repo(a.repo));
    auto nodes = WM_TRY(repo.ls(a.id, a.path));
    if (a.json) {
        Json out = Json::array();
        for (const auto& n : nodes) {
            Json j = {{"path", n.path},   {"type", n.type},          {"mode", n.mode},
                      {"uid", n.uid},     {"gid", n.gid},            {"size", n.size},
                      {"mtime", format_time(n.mtime_ns)}, {"mtime_ns", n.mtime_ns}};
            if (n.type == "symlink") j["target"] = n.target;
            if (n.type == "hardlink") j["link"] = n.link;
            out.push_back(std::move(j));
        }
        print_json(out);
        return 0;
    }
    for (const auto& n : nodes) {
        std::string name = n.path;
        if (n.type == "symlink") name += " -> " + n.target;
        if (n.type == "hardlink") name += " => " + n.link;
        print(fmt::format("{} {:>6} {:>6} {:>12} {}  {}\n", mode_string(n), n.uid, n.gid, n.size,
                          format_time(n.mtime_ns), name));
    }
    return 0;
}

}  // namespace

void add_snapshot_ls(CLI::App& group, Context& ctx) {
    static LsArgs la;
    auto* l = add_command(group, ctx, "ls",
                          "list the files of a snapshot: mode, owner, size, mtime, path",
                          [] { return ls(la); });
    add_repo_options(l, la.repo);
    l->add_option("ID", la.id, "snapshot id or prefix")->required();
    l->add_option("PATH", la.path, "list only this path and what is under it");
    l->add_flag("--json", la.json, "print JSON");
}

}  // namespace wmrun::cli
