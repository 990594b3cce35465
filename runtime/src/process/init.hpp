// The container init: the child of clone3 that sets up the container from inside its new
// namespaces, reports to `wmrun create`, waits on exec.fifo for `start`, then execs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rootfs/rootfs.hpp"
#include "wmrun/runtime/spec.hpp"

namespace wmrun::runtime {

struct InitArgs {
    const Spec* spec = nullptr;
    std::string id;
    std::string bundle;
    RootfsContext rootfs;
    int sync_fd = -1;
    int fifo_fd = -1;     // O_PATH fd of exec.fifo
    int console_fd = -1;  // connected --console-socket, or -1
    unsigned preserve_fds = 0;
    std::vector<int> listen_fds;  // become fds 3.. before anything else is closed
    std::vector<std::string> listen_fd_names;
    bool new_user_namespace = false;
    // Made by the init after `go`, when `create` has placed it in its cgroup, which becomes the
    // namespace's root (the container's /proc/self/cgroup reads "/").
    bool new_cgroup_namespace = false;
    bool new_keyring = true;  // false with --no-new-keyring
    // A pid namespace given by path, or -1. The init joins it only after pivot_root, by a fork
    // that goes on as the container's process: nothing in that namespace may ever see a process
    // with the host's root, cwd or fds. Its /proc is made for that namespace (rootfs.hpp).
    int pid_ns_fd = -1;
    // Namespaces to join by path, in order (user first): (CLONE_NEW* flag, fd).
    std::vector<std::pair<int, int>> join;
    // With a user namespace joined by path: the CLONE_NEW* namespaces the init makes itself
    // once it has joined it, so that they belong to it (see enter_joined_user_namespace).
    int unshare_flags = 0;
};

[[noreturn]] void container_init(const InitArgs& args);

}  // namespace wmrun::runtime
