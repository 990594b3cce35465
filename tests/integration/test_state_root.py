"""The state root decides what runs as its caller: `delete` runs the poststop hooks of the
bundle a state.json names. A state root, and everything read back from it, must be the caller's
own and writable by no one else; no default lies in a world-writable directory
(docs/security.md)."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only("checks wmrun's state root rules")

VICTIM = "wmrun-rootless"
ATTACKER = "wmrun-attacker"


def ensure_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip("useradd is not installed: cannot make unprivileged users")
        subprocess.run(["useradd", "-m", name], check=True, capture_output=True, timeout=30)
        return pwd.getpwnam(name)


def as_user(user, args, env=(), cwd="/"):
    cmd = ["runuser", "-u", user.pw_name, "--", "env", "-i", "PATH=/usr/bin:/bin", *env, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=cwd)


def plant_container(root, cid, bundle, marker):
    """A stopped container whose bundle has a poststop hook that records who ran it."""
    bundle.mkdir(parents=True)
    config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
              "process": {"args": ["true"], "cwd": "/"},
              "linux": {"namespaces": [{"type": "mount"}]},
              "hooks": {"poststop": [{"path": "/bin/sh",
                                      "args": ["sh", "-c", f"id -u > {marker}"]}]}}
    (bundle / "config.json").write_text(json.dumps(config))
    d = root / cid
    d.mkdir(parents=True)
    state = {"ociVersion": "1.0.2", "id": cid, "pid": 0, "bundle": str(bundle), "rootfs": "",
             "created": "2026-01-01T00:00:00Z", "owner": "",
             "wmrun": {"startTime": 0, "cgroup": None}}
    (d / "state.json").write_text(json.dumps(state))


@pytest.fixture
def shared():
    """A directory every user can reach and write (pytest's own are root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="wmrun-state-root-"))
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def binary(shared):
    """The binary where every user can run it."""
    d = shared / "bin"
    d.mkdir(mode=0o755)
    shutil.copy2(harness.runtime_binary(), d / "wmrun")
    return d / "wmrun"


def chown_tree(path, user):
    """Gives the planted state to the attacker, who leaves its directories open to all so that
    the victim's runtime can take its lock there."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, user.pw_uid, user.pw_gid)
        os.chmod(dirpath, 0o777)
        for n in filenames:
            os.chown(os.path.join(dirpath, n), user.pw_uid, user.pw_gid)


def test_another_users_tmp_dir_is_not_the_default_root(binary, shared):
    victim, attacker = ensure_user(VICTIM), ensure_user(ATTACKER)
    if Path(f"/run/user/{victim.pw_uid}").exists():
        pytest.skip("the victim has a logind runtime dir, which would be the default root")
    # The attacker makes the directory the victim's runtime would have defaulted to before.
    root = Path(f"/tmp/wmrun-{victim.pw_uid}")
    shutil.rmtree(root, ignore_errors=True)
    marker = shared / "marker"
    try:
        plant_container(root, "web", Path(f"/tmp/wmrun-attacker-bundle-{victim.pw_uid}"), marker)
        chown_tree(root, attacker)
        res = as_user(victim, [str(binary), "delete", "web"])
        assert not marker.exists(), f"the attacker's hook ran as uid {marker.read_text()}"
        assert res.returncode != 0
        assert "state root" in res.stderr and "XDG_RUNTIME_DIR" in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(f"/tmp/wmrun-attacker-bundle-{victim.pw_uid}", ignore_errors=True)


def test_a_root_owned_by_another_user_is_refused(binary, shared):
    victim, attacker = ensure_user(VICTIM), ensure_user(ATTACKER)
    root = shared / "their-root"
    marker = shared / "marker"
    plant_container(root, "web", shared / "their-bundle", marker)
    chown_tree(root, attacker)
    for args in (["delete", "web"], ["state", "web"], ["list"], ["kill", "web", "KILL"]):
        res = as_user(victim, [str(binary), "--root", str(root), *args])
        assert res.returncode != 0, args
        assert f"is owned by uid {attacker.pw_uid}, not by the caller (uid {victim.pw_uid})" \
            in res.stderr, (args, res.stderr)
    assert not marker.exists()


@pytest.mark.parametrize("what", ["state-owner", "state-mode", "dir-mode", "root-mode",
                                  "state-symlink"])
def test_state_written_by_someone_else_is_refused(runtime, tmp_path, what):
    attacker = ensure_user(ATTACKER)
    root = runtime.root
    root.mkdir(mode=0o711)
    marker = tmp_path / "marker"
    plant_container(root, "web", tmp_path / "bundle", marker)
    state = root / "web" / "state.json"
    if what == "state-owner":
        os.chown(state, attacker.pw_uid, attacker.pw_gid)
        why = f"is owned by uid {attacker.pw_uid}"
    elif what == "state-mode":
        os.chmod(state, 0o666)
        why = "is writable by group or others"
    elif what == "dir-mode":
        os.chmod(root / "web", 0o777)
        why = "is writable by group or others"
    elif what == "root-mode":
        os.chmod(root, 0o1777)
        why = "is writable by group or others"
    else:
        elsewhere = tmp_path / "elsewhere.json"
        state.rename(elsewhere)
        state.symlink_to(elsewhere)
        why = "too many levels of symbolic links"
    res = runtime.run(["delete", "web"], check=False)
    assert res.returncode != 0 and why in res.stderr, res.stderr
    assert not marker.exists()
    shutil.rmtree(root / "web")


def test_exec_and_poststop_use_the_config_kept_at_create(runtime, bundle, tmp_path):
    """The bundle may change after create; the container keeps what it was made from."""
    marker = tmp_path / "marker"
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/sh",
                                            "args": ["sh", "-c", f"touch {marker}"]}]}
    bundle.config["process"]["env"].append("ADDED_LATER=1")
    bundle.write()
    res = runtime.run(["exec", cid, "env"])
    assert "ADDED_LATER" not in res.stdout
    runtime.run(["delete", "--force", cid])
    assert not marker.exists()
    kept = stat.S_IMODE(os.stat(runtime.root).st_mode)
    assert kept & 0o022 == 0
