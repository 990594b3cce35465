"""A ptrace-capable container must never see a runtime process that still has the host's
root, cwd or fds (docs/security.md, "No process a container can see has the host's root").

Each test runs the project's static scanner (tests/support/proc_scanner.cpp) as the process of
a container holding CAP_SYS_PTRACE: it loops over /proc/<pid>/{root,cwd,fd/N} of every process
it can see, looking for the `secret` of a host directory (the canary), and creates a file beside it when
it finds one. The runtime is then made to put processes into that container's pid namespace
(`exec`, or `create` of a second container joining it by path), with the host directory as its
working directory. The host directory must hold only its marker afterwards.
"""

import json
import os
import shutil
import time

import pytest

import harness

pytestmark = pytest.mark.wmrun_only("attacks the runtime's own setup processes")

SCAN_SECONDS = int(6 * harness.TIME_SCALE)


def escaped(canary):
    return sorted(p.name for p in canary.iterdir() if p.name != "secret")


def add_ptrace(config):
    caps = config["process"]["capabilities"]
    for s in ("bounding", "effective", "permitted"):
        if "CAP_SYS_PTRACE" not in caps[s]:
            caps[s].append("CAP_SYS_PTRACE")


def start_scanner(runtime, bundle, canary):
    """Runs the scanner detached as a ptrace-capable container; returns (id, output path)."""
    shutil.copy2(harness.support_binary("proc-scanner"), bundle.rootfs / "bin" / "proc-scanner")
    bundle.set(args=["proc-scanner", str(canary), str(SCAN_SECONDS)])
    add_ptrace(bundle.config)
    bundle.write()
    cid = runtime.new_id("-scan")
    res = runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    return cid, res.stdout_path


def scanner_result(runtime, cid, out_path):
    """Waits for the scanner to finish; returns (hits, number of pids it looked at)."""
    runtime.wait_status(cid, "stopped", timeout=SCAN_SECONDS + 20)
    text = out_path.read_text()
    hits = [line for line in text.splitlines() if line.startswith("hit ")]
    summary = [line.split() for line in text.splitlines() if line.startswith("scans ")]
    assert summary, f"the scanner did not finish: {text!r}"
    return hits, int(summary[0][3])


def test_exec_never_shows_the_host_root_cwd_or_fds(runtime, bundle, canary):
    cid, out = start_scanner(runtime, bundle, canary)
    deadline = time.monotonic() + SCAN_SECONDS - 1
    execs = 0
    while time.monotonic() < deadline:
        # The caller's cwd is the host directory: a child that shows up in the container's pid
        # namespace before it joins the mount namespace has it as its cwd and root.
        runtime.run(["exec", cid, "true"], cwd=canary)
        execs += 1
    hits, pids = scanner_result(runtime, cid, out)
    assert pids > 0, "the scanner never saw an exec'd process"
    assert execs >= 10
    assert hits == [] and escaped(canary) == []


def test_joining_a_pid_namespace_never_shows_the_host_root(runtime, bundle, canary,
                                                            tmp_path, rootfs_template):
    cid, out = start_scanner(runtime, bundle, canary)
    pid = runtime.state(cid)["pid"]
    joiner = tmp_path / "joiner"
    joiner.mkdir()
    shutil.copytree(rootfs_template, joiner / "rootfs", symlinks=True)
    config = harness.make_config(json.loads(bundle.config_path.read_text()), args=["true"])
    for ns in config["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{pid}/ns/pid"
    (joiner / "config.json").write_text(json.dumps(config))
    deadline = time.monotonic() + SCAN_SECONDS - 1
    creates = 0
    while time.monotonic() < deadline:
        other = runtime.new_id("-join")
        runtime.run(["create", "--bundle", joiner, other], cwd=canary)
        # The joiner's init is in the scanner's pid namespace, with the container's root.
        init = runtime.state(other)["pid"]
        assert os.readlink(f"/proc/{init}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
        runtime.run(["delete", "--force", other])
        creates += 1
    hits, pids = scanner_result(runtime, cid, out)
    assert pids > 0, "the scanner never saw the joining container's init"
    assert creates >= 5
    assert hits == [] and escaped(canary) == []
