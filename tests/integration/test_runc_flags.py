"""runc 1.2's flags that wmrun takes do what runc's do (docs/runtime.md has the whole table).
Each test runs against runc too, except where the words of a refusal are wmrun's."""

import subprocess
import time
from pathlib import Path

import pytest

import harness


def test_run_keep_leaves_the_container_stopped_until_delete(runtime, bundle):
    bundle.set(args=["sh", "-c", "exit 3"])
    cid = runtime.new_id()
    res = runtime.run(["run", "--keep", "--bundle", bundle.path, cid], check=False)
    assert res.returncode == 3, res
    assert runtime.state(cid)["status"] == "stopped"
    runtime.run(["delete", cid])
    assert cid not in runtime.list_ids()
    # Without --keep, run removes it.
    other = runtime.new_id()
    runtime.run(["run", "--bundle", bundle.path, other], check=False)
    assert other not in runtime.list_ids()


def orphan_parent(runtime, bundle, tmp_path, flags):
    """Runs a container without a pid namespace whose init orphans a `sleep`; returns the pid
    of `run` and the sleep's parent pid while the init still runs."""
    pid_file = tmp_path / "orphan.pid"
    bundle.set(drop_namespaces=("pid",), add_mounts=[
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind"]}],
               args=["sh", "-c", "sh -c 'sleep 30 & echo $! > /out/orphan.pid'; sleep 3"])
    cid = runtime.new_id()
    run = runtime.spawn(["run", *flags, "--bundle", bundle.path, cid])
    try:
        harness.wait_for_file_text(pid_file, "\n")
        orphan = int(pid_file.read_text())
        status = Path(f"/proc/{orphan}/status").read_text()
        ppid = int(next(l for l in status.splitlines() if l.startswith("PPid:")).split()[1])
    finally:
        assert run.wait(timeout=30) == 0
    assert harness.wait_pid_gone(orphan), "run left the orphan behind"
    return run.pid, ppid


def test_run_is_the_subreaper_of_orphans_unless_no_subreaper(runtime, bundle, tmp_path):
    run_pid, parent = orphan_parent(runtime, bundle, tmp_path, [])
    assert parent == run_pid
    run_pid, parent = orphan_parent(runtime, bundle, tmp_path, ["--no-subreaper"])
    assert parent != run_pid


def test_delete_kills_what_outlived_the_init_without_a_pid_namespace(runtime, bundle, tmp_path):
    """runc kills every process of such a container on delete; wmrun left them running, and the
    cgroup in place after 5 s of rmdir per hierarchy."""
    bundle.set(drop_namespaces=("pid",), add_mounts=[
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind"]}],
               args=["sh", "-c", "sleep 30 & echo $! > /out/orphan.pid"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    runtime.wait_status(cid, "stopped")
    orphan = int(harness.wait_for_file_text(tmp_path / "orphan.pid", "\n"))
    assert not harness.wait_pid_gone(orphan, timeout=0.2)
    started = time.monotonic()
    runtime.run(["delete", cid])
    assert harness.wait_pid_gone(orphan), "the orphan survived delete"
    assert time.monotonic() - started < 4


@pytest.mark.wmrun_only(reason="runc 1.1 signals the init only without --all; runc 1.2 does this")
def test_sigkill_reaches_every_process_without_a_pid_namespace(runtime, bundle, tmp_path):
    """runc 1.2 deprecated kill --all: SIGKILL of a container without a pid namespace of its
    own kills all its processes."""
    bundle.set(drop_namespaces=("pid",), add_mounts=[
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind"]}],
               args=["sh", "-c", "sleep 30 & echo $! > /out/child.pid; wait"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    child = int(harness.wait_for_file_text(tmp_path / "child.pid", "\n"))
    runtime.run(["kill", cid, "KILL"])
    assert harness.wait_pid_gone(child), "the child outlived kill KILL"
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])


def test_exec_ignore_paused_runs_once_resumed(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    runtime.run(["pause", cid])
    res = runtime.run(["exec", cid, "true"], check=False)
    assert res.returncode == 255 and "--ignore-paused" in res.stderr.replace('\\"', '"'), res
    pid_file = tmp_path / "exec.pid"
    exec_ = runtime.spawn(["exec", "--ignore-paused", "--detach", "--pid-file", pid_file, cid,
                           "sleep", "31"])
    time.sleep(0.5)
    assert exec_.poll() is None, "exec finished while the container was frozen"
    runtime.run(["resume", cid])
    assert exec_.wait(timeout=20) == 0
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:2] == ["sleep", "31"]
    runtime.run(["delete", "--force", cid])


def test_exec_user_without_gid_keeps_the_configs_gid(runtime, bundle):
    bundle.set(args=["sleep", "30"], user=(0, 7))
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    res = runtime.run(["exec", "--user", "1000", cid, "sh", "-c", "id -u; id -g"])
    assert res.stdout.split() == ["1000", "7"], res
    res = runtime.run(["exec", "--user", "1000:1001", cid, "sh", "-c", "id -u; id -g"])
    assert res.stdout.split() == ["1000", "1001"], res
    runtime.run(["delete", "--force", cid])


@pytest.mark.wmrun_only(reason="runc runs CRIU; its words are runc's")
@pytest.mark.parametrize("args", [
    ["checkpoint", "--image-path", "/tmp/x", "--leave-running", "web1"],
    ["restore", "--bundle", "/tmp/b", "--detach", "web1"],
])
def test_checkpoint_and_restore_say_they_are_not_supported(runtime, args):
    res = runtime.run(args, check=False)
    assert res.returncode == 1
    assert res.stderr == f"wmrun: {args[0]}: checkpoint/restore is not supported (no CRIU)\n"


@pytest.mark.wmrun_only(reason="runc 1.1 still passes --criu on to CRIU")
def test_criu_flag_is_ignored_with_a_warning_as_runc_1_2_does(runtime):
    res = runtime.run(["--criu", "/usr/sbin/criu", "list", "-q"])
    assert "--criu is ignored" in res.stderr, res.stderr
    assert res.stdout == ""


@pytest.mark.wmrun_only(reason="the refusal is wmrun's; runc 1.2 runs the process there")
def test_exec_cgroup_is_refused_naming_the_flag(runtime, bundle):
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    res = runtime.run(["exec", "--cgroup", "sub", cid, "true"], check=False)
    assert res.returncode == 255 and "--cgroup" in res.stderr and "not supported" in res.stderr
    runtime.run(["delete", "--force", cid])


def test_every_runc_command_is_there(runtime):
    """`<cmd> --help` of every command of runc 1.2 succeeds (the table in docs/runtime.md)."""
    for cmd in ("checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause",
                "ps", "restore", "resume", "run", "spec", "start", "state", "update",
                "features"):
        res = subprocess.run([str(runtime.binary), cmd, "--help"], capture_output=True,
                             text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, (cmd, res.stderr)
