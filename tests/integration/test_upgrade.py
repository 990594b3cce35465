"""wmrun upgrade ID --image NEW: the container made with --image is stopped, its volume layer
snapshotted (tags upgrade, before-upgrade), and it is made again on NEW's layers with the same
volume layer; when it is not ready in time (--check, --wait-notify, or still running 1 s after
its start) it rolls back on its own to the old image and the snapshot. `upgrade --rollback ID`
goes back to the image before the last upgrade, snapshotting the current layer first
(before-rollback).

The images (one layout, each tag on top of the one before):
  v1     busybox + /etc/a /etc/b /etc/u /opt/d/old /data/keep /old-marker; Cmd: LOOP
  v2     v1 + a layer that changes /etc/a and /etc/u, whites out /etc/b and /old-marker, adds
         /opt/d/new, /data/x and /new-marker; Cmd: LOOP
  v3     v2 with a Cmd that writes /v3-was-here and exits at once
  notify v2 + /bin/notify-ready (tests/support), its Cmd (only when the program was built)
The user's edits (USER_EDITS) make one case of the spec's overlay semantics each."""

import io
import json
import os
import re
import tarfile
import time
from pathlib import Path

import pytest

import harness
from test_image_run import add_layer, configure, import_image, tar_tree, tool
from test_process_setup import FdReceiver
from test_snapshot_container import repo  # noqa: F401 (fixture: an initialised repository)

pytestmark = pytest.mark.wmrun_only(reason="upgrade is wmrun's own")

TIMEOUT = 120

# A Cmd that records who started it and leaves at once on SIGTERM (pid 1 has no default action).
LOOP = ('echo {} > /run-by; trap "exit 0" TERM; '
        'while :; do sleep 1000 & wait $!; done')

# rm of an image file (whiteout); a change of a file v2 deletes; create-then-delete of a file v2
# adds; a directory removed and made again (opaque); the user's own data.
USER_EDITS = ("rm /etc/a; echo mine > /etc/b; echo tmp > /data/x; rm /data/x; "
              "rm -rf /opt/d; mkdir /opt/d; echo mine > /opt/d/mine; echo precious > /precious")

PATHS = ("/etc/a", "/etc/b", "/etc/u", "/data/x", "/old-marker", "/new-marker", "/precious")
VIEW = ("for p in " + " ".join(PATHS) + "; do if [ -e $p ]; then echo \"$p=$(cat $p)\"; "
        "else echo \"$p=-\"; fi; done; echo \"/opt/d=$(ls /opt/d | tr '\\n' ' ')\"")

# What the container sees after USER_EDITS on v1, and after its upgrade to v2.
ON_V1 = {"/etc/a": "-", "/etc/b": "mine", "/etc/u": "u1", "/data/x": "-", "/old-marker": "old",
         "/new-marker": "-", "/precious": "precious", "/opt/d": "mine "}
ON_V2 = dict(ON_V1, **{"/etc/u": "u2", "/data/x": "x2", "/old-marker": "-", "/new-marker": "new"})


def layer(dest, files):
    """A layer tar of {path: text, bytes (an executable) or None (a whiteout)}, with an entry
    for every directory above each path."""
    dirs = set()
    for rel in files:
        parent = os.path.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as t:
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            t.addfile(info)
        for rel, data in files.items():
            mode = 0o755 if isinstance(data, bytes) else 0o644
            if data is None:
                parent, name = os.path.split(rel)
                rel, data = os.path.join(parent, ".wh." + name), b""
            elif isinstance(data, str):
                data = data.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), mode, 1700000000
            t.addfile(info, io.BytesIO(data))
    return dest


def cmd_options(script):
    return ["--config.cmd", "sh", "--config.cmd", "-c", "--config.cmd", script]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The OCI layout with the tags v1, v2, v3 (and notify when notify-ready was built)."""
    work = tmp_path_factory.mktemp("upgrade-images")
    rootfs = harness.build_rootfs_template(work / "rootfs")
    lay = work / "layout"
    tool("umoci", "init", "--layout", lay)
    tool("umoci", "new", "--image", f"{lay}:base")
    add_layer(lay, "base", tar_tree(rootfs, work / "busybox.tar"))
    add_layer(lay, "base", layer(work / "v1.tar", {
        "etc/a": "a1\n", "etc/b": "b1\n", "etc/u": "u1\n", "opt/d/old": "old\n",
        "data/keep": "keep\n", "old-marker": "old\n"}))
    configure(lay, "base", "v1", *cmd_options(LOOP.format("v1")))
    add_layer(lay, "base", layer(work / "v2.tar", {
        "etc/a": "a2\n", "etc/b": None, "etc/u": "u2\n", "opt/d/new": "new\n",
        "data/x": "x2\n", "new-marker": "new\n", "old-marker": None}))
    configure(lay, "base", "v2", *cmd_options(LOOP.format("v2")))
    configure(lay, "base", "v3", *cmd_options("echo v3 > /v3-was-here; exit 3"))
    tags = ["v1", "v2", "v3"]
    notify = harness.support_binary("notify-ready")
    if notify.is_file():
        add_layer(lay, "base", layer(work / "notify.tar",
                                     {"bin/notify-ready": notify.read_bytes()}))
        configure(lay, "base", "notify", "--config.cmd", "/bin/notify-ready",
                  "--config.cmd", "300")
        tags.append("notify")
    return lay, tags


@pytest.fixture
def imported(store, images):
    """The store of the test, with every image of the layout imported; returns the tags."""
    lay, tags = images
    for tag in tags:
        import_image(lay, store, tag)
    return tags


@pytest.fixture
def containers(runtime, store, imported):
    """start(image, *args): a detached --image container from the store, running LOOP (or
    args); every one is deleted with its volume layer afterwards."""
    made = []

    def start(image="v1", *args):
        cid = runtime.new_id()
        made.append(cid)
        runtime.run(["run", "-d", "--image", image, "--store", store, cid,
                     *(["--", *args] if args else [])], timeout=TIMEOUT)
        runtime.wait_status(cid, "running")
        harness.wait_for_file_text(upper(store, cid) / "run-by", "\n")
        return cid

    yield start
    for cid in made:
        runtime.run(["delete", "--force", "--volumes", "--store", store, cid], check=False)


# --- helpers ----------------------------------------------------------------------------------

def upper(store, cid):
    return store / "containers" / cid / "upper"


def sh(runtime, cid, script, check=True):
    return runtime.run(["exec", cid, "sh", "-c", script], check=check)


def view(runtime, cid):
    """What the container sees of PATHS and /opt/d, through exec."""
    out = sh(runtime, cid, VIEW).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def upgrade(runtime, cid, *args, rc=0):
    res = runtime.run(["upgrade", cid, *args], check=False, timeout=TIMEOUT)
    assert res.returncode == rc, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def rollback(runtime, cid, rc=0):
    res = runtime.run(["upgrade", "--rollback", cid], check=False, timeout=TIMEOUT)
    assert res.returncode == rc, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def running(runtime, cid):
    """The state of a container that runs, with a live process."""
    state = runtime.state(cid)
    assert state["status"] == "running", state
    os.kill(state["pid"], 0)
    return state


def snapshots(repo, tag=None):
    snaps = json.loads(harness.run_binary("snapshot", "list", "--repo", repo, "--json").stdout)
    return [s for s in snaps if tag is None or tag in s["tags"]]


def files_of(repo, snap):
    entries = json.loads(harness.run_binary("snapshot", "ls", "--repo", repo, snap,
                                            "--json").stdout)
    return {e["path"]: e for e in entries}


def refused(res, *needles):
    """Exit 1, one line on stderr holding one of needles, nothing on stdout."""
    assert res.returncode == 1, f"exit {res.returncode}: {res.stdout!r} {res.stderr!r}"
    assert res.stderr.count("\n") == 1 and res.stderr.endswith("\n"), res.stderr
    assert any(n in res.stderr for n in needles), res.stderr
    assert res.stdout == ""


def rolled_back(res, cid, old):
    """The error of an automatic rollback, its last line on stderr; returns the reason. (The
    spec's "upgrade ID: ..." comes as "wmrun: upgrade: ID: ...", the convention of errors.)"""
    last = res.stderr.splitlines()[-1] if res.stderr else ""
    m = re.fullmatch(rf"wmrun: (?:upgrade: )?upgrade:? {cid}: (.+); rolled back to {old}", last)
    assert m, res.stderr
    return m[1]


# --- tests ------------------------------------------------------------------------------------

def test_images_differ_as_the_cases_need(runtime, store, imported):
    """The baseline: v2 fresh shows what the overlay cases expect to see through the edits."""
    out = runtime.run(["run", "--image", "v2", "--store", store, runtime.new_id(), "--",
                       "sh", "-c", VIEW], timeout=TIMEOUT).stdout
    assert dict(l.split("=", 1) for l in out.splitlines()) == {
        "/etc/a": "a2", "/etc/b": "-", "/etc/u": "u2", "/data/x": "x2", "/old-marker": "-",
        "/new-marker": "new", "/precious": "-", "/opt/d": "new old "}


def test_upgrade_keeps_the_volume_layer_on_the_new_layers(runtime, store, repo, containers):
    cid = containers("v1")
    sh(runtime, cid, USER_EDITS)
    assert view(runtime, cid) == ON_V1
    before = running(runtime, cid)
    sh(runtime, cid, "rm /run-by")

    res = upgrade(runtime, cid, "--image", "v2", "--repo", repo, "--check",
                  "test -f /new-marker", "--json")
    out = json.loads(res.stdout)
    assert set(out) == {"id", "from", "to", "snapshot", "repo", "rolled_back",
                        "duration_seconds"}, out
    assert (out["id"], out["from"], out["to"], out["rolled_back"]) == (cid, "v1", "v2", False)
    assert os.path.realpath(out["repo"]) == os.path.realpath(repo)
    assert 0 < out["duration_seconds"] < 60

    # A new process, from the new image's Cmd (no args were given to run), on the same layer.
    after = running(runtime, cid)
    assert after["pid"] != before["pid"] and harness.wait_pid_gone(before["pid"], timeout=2)
    assert harness.wait_for_file_text(upper(store, cid) / "run-by", "\n") == "v2\n"
    assert view(runtime, cid) == ON_V2
    assert (store / "containers" / cid / "upgrade.json").is_file()

    # The snapshot holds the layer as it was: the user's file and the whiteout of /etc/a.
    [snap] = snapshots(repo)
    assert snap["id"] == out["snapshot"]
    assert sorted(snap["tags"]) == ["before-upgrade", "upgrade"]
    assert snap["source"] == str(store / "containers" / cid)
    files = files_of(repo, snap["id"])
    assert files["upper/precious"]["type"] == "file" and files["upper/etc/a"]["type"] == "chr"
    assert "upper/new-marker" not in files


def test_failed_check_rolls_back_to_the_snapshot(runtime, store, repo, containers):
    cid = containers("v1")
    sh(runtime, cid, USER_EDITS)
    before = running(runtime, cid)
    # The check writes into the new container's layer, then fails: a file v2 lacks.
    res = upgrade(runtime, cid, "--image", "v2", "--repo", repo, "--timeout", "3s",
                  "--check", "echo seen >> /during; test -f /v2-lacks-this", rc=1)
    assert "check" in rolled_back(res, cid, "v1")
    after = running(runtime, cid)
    assert after["pid"] != before["pid"]
    # Old image, and the layer of the snapshot: whiteout, opaque dir and all; /during is gone.
    assert view(runtime, cid) == ON_V1
    assert sh(runtime, cid, "test -e /during", check=False).returncode == 1
    assert len(snapshots(repo, "before-upgrade")) == 1


def test_command_exiting_at_once_rolls_back(runtime, store, repo, containers):
    cid = containers("v1")
    sh(runtime, cid, USER_EDITS)
    res = upgrade(runtime, cid, "--image", "v3", "--repo", repo, "--timeout", "10s", rc=1)
    assert "exited" in rolled_back(res, cid, "v1")
    running(runtime, cid)
    assert view(runtime, cid) == ON_V1
    assert not (upper(store, cid) / "v3-was-here").exists()


def test_rollback_command_keeps_what_was_written_since(runtime, store, repo, containers,
                                                        tmp_path):
    # A command given to run is kept across the upgrade; the repo comes from the policy.
    cid = containers("v1", "sh", "-c", LOOP.format("user"))
    runtime.run(["snapshot", "policy", cid, "--repo", repo, "--every", "1h"])
    pid = running(runtime, cid)["pid"]
    res = rollback(runtime, cid, rc=1)
    refused(res, "no upgrade to roll back")
    assert running(runtime, cid)["pid"] == pid and snapshots(repo) == []

    sh(runtime, cid, "echo before > /precious; rm /run-by")
    out = json.loads(upgrade(runtime, cid, "--image", "v2", "--json").stdout)
    assert os.path.realpath(out["repo"]) == os.path.realpath(repo)
    assert harness.wait_for_file_text(upper(store, cid) / "run-by", "\n") == "user\n"
    assert sh(runtime, cid, "cat /new-marker").stdout == "new\n"
    policy = json.loads(runtime.run(["snapshot", "policy", cid, "--json"]).stdout)
    assert policy and os.path.realpath(policy["repo"]) == os.path.realpath(repo)

    sh(runtime, cid, "echo after > /after-upgrade; echo changed > /precious")
    res = rollback(runtime, cid)
    # The spec's line; the runtime adds the before-rollback snapshot's id.
    m = re.fullmatch(rf"rolled back {cid} from v2 to v1(?: \(snapshot ([0-9a-f]+)\))?\n",
                     res.stdout)
    assert m, res.stdout
    running(runtime, cid)
    got = view(runtime, cid)
    assert (got["/old-marker"], got["/new-marker"], got["/etc/u"]) == ("old", "-", "u1")
    assert got["/precious"] == "before"
    assert sh(runtime, cid, "test -e /after-upgrade", check=False).returncode == 1

    # What was written after the upgrade is in the before-rollback snapshot.
    [kept] = snapshots(repo, "before-rollback")
    assert m[1] is None or kept["id"].startswith(m[1])
    assert kept["source"] == str(store / "containers" / cid)
    assert "upper/after-upgrade" in files_of(repo, kept["id"])
    out_dir = tmp_path / "kept"
    harness.run_binary("snapshot", "restore", "--repo", repo, kept["id"], out_dir)
    assert (out_dir / "upper" / "after-upgrade").read_text() == "after\n"
    assert (out_dir / "upper" / "precious").read_text() == "changed\n"


def test_refusals_change_nothing(runtime, store, repo, containers):
    cid = containers("v1")
    pid = running(runtime, cid)["pid"]
    cases = [
        (["upgrade", cid, "--image", "nosuch", "--repo", repo], ("no such image",)),
        (["upgrade", cid, "--image", "v2"], ("--repo",)),
        (["upgrade", "wmt-nosuch", "--image", "v2", "--repo", repo],
         ("does not exist", "no such container", "wmt-nosuch")),
    ]
    for args, needles in cases:
        refused(runtime.run(args, check=False, timeout=TIMEOUT), *needles)
        assert running(runtime, cid)["pid"] == pid, args
    assert snapshots(repo) == []
    assert not (store / "containers" / cid / "upgrade.json").exists()
    assert view(runtime, cid)["/old-marker"] == "old"


def test_bundle_container_is_refused(runtime, bundle, store, repo, imported):
    bundle.set(args=["sh", "-c", LOOP.format("bundle")])
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    pid = running(runtime, cid)["pid"]
    res = runtime.run(["upgrade", cid, "--image", "v2", "--repo", repo], check=False)
    refused(res, "upgrade needs a container made from an image (--image)")
    assert running(runtime, cid)["pid"] == pid
    assert snapshots(repo) == []
    runtime.run(["delete", "--force", cid])


@pytest.mark.parametrize("how", [["pause"], ["hibernate"], ["kill", "KILL"]],
                         ids=["paused", "hibernated", "stopped"])
def test_paused_hibernated_or_stopped_container_is_upgraded(runtime, store, repo, containers,
                                                            how):
    cid = containers("v1")
    runtime.run([how[0], cid, *how[1:]])
    runtime.wait_status(cid, "stopped" if how[0] == "kill" else "paused")
    res = upgrade(runtime, cid, "--image", "v2", "--repo", repo, "--check",
                  "test -f /new-marker")
    m = re.fullmatch(rf"upgraded {cid} from v1 to v2 \(snapshot ([0-9a-f]+)\)\n", res.stdout)
    assert m, res.stdout
    [snap] = snapshots(repo, "before-upgrade")
    assert len(m[1]) >= 8 and snap["id"].startswith(m[1])
    running(runtime, cid)
    assert sh(runtime, cid, "cat /new-marker").stdout == "new\n"


def test_stop_timeout_kills_a_process_deaf_to_sigterm(runtime, store, repo, containers):
    # sleep as pid 1 ignores SIGTERM: only the SIGKILL after --stop-timeout stops it (the
    # default, 10s, would outlast the bound below).
    cid = containers("v1", "sh", "-c", "echo user > /run-by; exec sleep 1000")
    began = time.monotonic()
    upgrade(runtime, cid, "--image", "v2", "--repo", repo, "--stop-timeout", "1s", "--check",
            "test -f /new-marker")
    assert time.monotonic() - began < 8 * harness.TIME_SCALE
    pid = running(runtime, cid)["pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x001000\x00"
    assert sh(runtime, cid, "cat /new-marker").stdout == "new\n"


def test_terminal_container_is_refused(runtime, store, repo, imported, tmp_path):
    receiver = FdReceiver(tmp_path / "console.sock")
    cid = runtime.new_id()
    runtime.run(["run", "-d", "-t", "--console-socket", receiver.path, "--image", "v1",
                 "--store", store, cid, "--", "sleep", "1000"], timeout=TIMEOUT)
    master = receiver.wait()
    try:
        pid = running(runtime, cid)["pid"]
        res = runtime.run(["upgrade", cid, "--image", "v2", "--repo", repo], check=False)
        refused(res, "terminal")
        assert running(runtime, cid)["pid"] == pid and snapshots(repo) == []
    finally:
        runtime.run(["delete", "--force", "--volumes", cid], check=False)
        if master is not None:
            os.close(master)


def test_wait_notify(runtime, store, repo, containers, imported):
    if "notify" not in imported:
        pytest.skip(f"{harness.support_binary('notify-ready')} was not built")
    cid = containers("v1")
    # v2's Cmd never sends READY=1.
    res = upgrade(runtime, cid, "--image", "v2", "--repo", repo, "--wait-notify", "--timeout",
                  "2s", rc=1)
    rolled_back(res, cid, "v1")
    assert sh(runtime, cid, "cat /old-marker").stdout == "old\n"
    pid = running(runtime, cid)["pid"]
    out = json.loads(upgrade(runtime, cid, "--image", "notify", "--repo", repo,
                             "--wait-notify", "--timeout", "10s", "--json").stdout)
    assert out["to"] == "notify" and out["rolled_back"] is False
    state = running(runtime, cid)
    assert state["pid"] != pid
    assert os.readlink(f"/proc/{state['pid']}/exe").endswith("notify-ready")
