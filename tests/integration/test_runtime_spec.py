"""runtime-spec conformance where clients and the runtime-tools validation suite look: the
state each hook reads on stdin, hooks that fail after the container runs, delete of a created
container, and a config without a mount namespace (docs/runtime.md, "Lifecycle")."""


def test_no_new_privileges_off_with_a_filter_denying_mounts(runtime, bundle):
    """docker's config: noNewPrivileges unset and a profile that denies fsopen, open_tree and
    mount. Without noNewPrivileges the filter is loaded while the init is still root, before it
    opened the private procfs it reopens the exec fifo through: create failed with
    "open_tree: /proc: operation not permitted" under every docker run."""
    bundle.set(args=["echo", "ran"])
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mount", "fsopen", "fsmount", "open_tree", "move_mount"],
                      "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)
    assert (res.returncode, res.stdout) == (0, "ran\n"), res.stderr
