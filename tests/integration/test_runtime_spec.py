"""runtime-spec conformance where clients and the runtime-tools validation suite look: the
state each hook reads on stdin, hooks that fail after the container runs, delete of a created
container, and a config without a mount namespace (docs/runtime.md, "Lifecycle")."""

import json
import os

import pytest

import harness


def recording_hook(tmp_path, stage, exit_status=0):
    """A hook that appends "<stage> <state json>" to tmp_path/hooks.log, then exits."""
    log = tmp_path / "hooks.log"
    script = tmp_path / f"{stage}-{exit_status}.sh"
    script.write_text(f'#!/bin/sh\nstate=$(cat)\necho "{stage} $state" >> {log}\n'
                      f"exit {exit_status}\n")
    script.chmod(0o755)
    return {"path": str(script)}, log


def recorded(log):
    out = []
    for line in log.read_text().splitlines():
        stage, state = line.split(" ", 1)
        out.append((stage, json.loads(state)))
    return out


ALL_HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
             "poststop")


def with_recording_hooks(bundle, tmp_path, stages=ALL_HOOKS):
    """Each hook point of `stages` records its state; createContainer and startContainer run
    in the container, which reaches the scripts and the log through a bind of tmp_path."""
    hooks, log = {}, None
    for stage in stages:
        hook, log = recording_hook(tmp_path, stage)
        hooks[stage] = [hook]
    bundle.set(args=["true"], add_mounts=[
        {"destination": str(tmp_path), "type": "bind", "source": str(tmp_path),
         "options": ["rbind", "rw"]}])
    bundle.config["hooks"] = hooks
    bundle.config.setdefault("annotations", {})["org.wmrun.test"] = "hooks"
    bundle.write()
    return log


@pytest.mark.wmrun_only(reason="runc 1.1 runs the poststart hooks during create, before "
                               "startContainer")
def test_each_hook_reads_the_state_of_its_lifecycle_point(runtime, bundle, tmp_path):
    log = with_recording_hooks(bundle, tmp_path)
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    runtime.run(["start", cid])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])
    states = dict(recorded(log))
    assert list(states) == ["prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop"]
    for stage, state in states.items():
        assert state["id"] == cid and state["bundle"] == str(bundle.path), stage
        assert state["annotations"] == {"org.wmrun.test": "hooks"}, stage
    # runtime.md: the program has not run at startContainer; it has at poststart.
    assert states["startContainer"]["status"] == "created"
    assert states["poststart"]["status"] == "running"
    assert states["poststop"]["status"] == "stopped"
    # Hooks in the runtime namespace see the pid as the runtime does (hooks_stdin).
    assert states["prestart"]["pid"] == pid and states["poststart"]["pid"] == pid


def test_hooks_in_the_container_read_the_pid_the_container_sees(runtime, bundle, tmp_path):
    # runtime.md "State": for hooks run in the container namespace, the pid as seen by the
    # container: 1, the init of its new pid namespace.
    log = with_recording_hooks(bundle, tmp_path, ("createContainer", "startContainer"))
    runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert [(stage, state["pid"]) for stage, state in recorded(log)] == [
        ("createContainer", 1), ("startContainer", 1)]


@pytest.mark.wmrun_only(reason="runc passes \"creating\" to prestart, createRuntime and "
                               "createContainer; crun and the validation suite say \"created\"")
def test_create_time_hooks_read_created(runtime, bundle, tmp_path):
    # runtime.md: "creating" is step 2 of the lifecycle; the hooks are steps 3 to 5, after it.
    # The runtime-tools validation suite (hooks_stdin) wants "created" from prestart.
    log = with_recording_hooks(bundle, tmp_path)
    runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    states = dict(recorded(log))
    for stage in ("prestart", "createRuntime", "createContainer"):
        assert states[stage]["status"] == "created", (stage, states[stage])


@pytest.mark.wmrun_only(reason="runc 1.1 fails start and kills the container (runtime-spec "
                               "1.1's words); wmrun keeps it running as crun does")
def test_a_failing_poststart_hook_is_logged_and_the_rest_run(runtime, bundle, tmp_path):
    failing, log = recording_hook(tmp_path, "poststart-1", exit_status=3)
    good, _ = recording_hook(tmp_path, "poststart-2")
    bundle.set(args=["sleep", "30"])
    bundle.config["hooks"] = {"poststart": [failing, good]}
    bundle.write()
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    res = runtime.run(["start", cid])
    assert "hooks.poststart[0]" in res.stderr and "exit status 3" in res.stderr, res.stderr
    assert [stage for stage, _ in recorded(log)] == ["poststart-1", "poststart-2"]
    assert runtime.state(cid)["status"] == "running"
    runtime.run(["delete", "--force", cid])


@pytest.mark.wmrun_only(reason="runc 1.1 skips the poststop hooks after a failing one; runtime.md "
                               "step 13 says the rest run")
def test_a_failing_poststop_hook_is_logged_and_the_rest_run(runtime, bundle, tmp_path):
    failing, log = recording_hook(tmp_path, "poststop-1", exit_status=3)
    good, _ = recording_hook(tmp_path, "poststop-2")
    bundle.set(args=["true"])
    bundle.config["hooks"] = {"poststop": [failing, good]}
    bundle.write()
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])
    assert [stage for stage, _ in recorded(log)] == ["poststop-1", "poststop-2"]
    assert cid not in runtime.list_ids()


def test_delete_of_a_created_container_needs_no_force(runtime, bundle):
    """runtime.md says delete of a container that is not stopped fails; runc deletes a created
    one (killing its init), and containerd's shim relies on that: it deletes a task that was
    created but never started without --force (tests/integration/test_clients_containerd.py)."""
    bundle.set(args=["true"])
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    runtime.run(["delete", cid])
    assert cid not in runtime.list_ids()
    assert harness.wait_pid_gone(pid)


def test_delete_of_a_running_container_without_force_fails(runtime, bundle):
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    res = runtime.run(["delete", cid], check=False)
    assert res.returncode != 0 and "is not stopped" in res.stderr, res
    assert runtime.state(cid)["status"] == "running"
    runtime.run(["delete", "--force", cid])


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


# --- no mount namespace: the container shares the runtime's ---------------------------------

def mounts_below(path):
    """Mount points at or below path in our namespace (other work on the host mounts too)."""
    return [m for m in map(harness.mount_point, harness.mount_lines())
            if m == str(path) or m.startswith(str(path) + "/")]


def shared_mount_namespace(bundle):
    bundle.set(drop_namespaces=("mount",))
    c = bundle.config
    c["mounts"] = []
    c["linux"]["maskedPaths"] = []
    c["linux"]["readonlyPaths"] = []
    c["root"]["readonly"] = False
    (bundle.rootfs / "in-the-rootfs").write_text("yes\n")
    bundle.write()


@pytest.mark.wmrun_only(reason="runc makes the host's / rslave and binds the rootfs on itself "
                               "in the host's mount namespace (prepareRoot), which this host "
                               "must not get")
def test_a_config_without_a_mount_namespace_runs_chrooted_in_ours(runtime, bundle):
    shared_mount_namespace(bundle)
    bundle.set(args=["sh", "-c", "cat /in-the-rootfs; sleep 30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{pid}/root") == str(bundle.rootfs)
    assert mounts_below(bundle.path) == [], "a mount was made in the host's namespace"
    # exec enters the same root, not ours.
    res = runtime.run(["exec", cid, "sh", "-c", "cat /in-the-rootfs; ls /bin/busybox"])
    assert res.stdout == "yes\n/bin/busybox\n", res
    runtime.run(["delete", "--force", cid])


@pytest.mark.wmrun_only(reason="the refusal and its words are wmrun's")
@pytest.mark.parametrize("field,edit", [
    ("mounts", lambda c: c.update(mounts=[{"destination": "/tmp", "type": "tmpfs",
                                           "source": "tmpfs"}])),
    ("linux.maskedPaths", lambda c: c["linux"].update(maskedPaths=["/proc/kcore"])),
    ("root.readonly", lambda c: c["root"].update(readonly=True)),
])
def test_what_needs_a_mount_is_refused_without_a_mount_namespace(runtime, bundle, field, edit):
    shared_mount_namespace(bundle)
    edit(bundle.config)
    bundle.write()
    res = runtime.run(["create", "--bundle", bundle.path, runtime.new_id()], check=False)
    assert res.returncode == 1
    assert f"{field} needs a mount namespace of the container's own" in res.stderr, res.stderr
    assert runtime.list_ids() == []
    assert mounts_below(bundle.path) == []
