"""Rootless containers: an ordinary user runs busybox in its own user namespace, with its state
under $XDG_RUNTIME_DIR, no cgroup limits, and multi-range maps through newuidmap/newgidmap.

The tests run as root only to prepare: they make (or reuse) the user `wmrun-rootless`, give it
a work dir outside /root, and then drive the runtime as that user through runuser.
"""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import harness

USER = "wmrun-rootless"
TIMEOUT = 30


def _ensure_user():
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed: cannot make an unprivileged user")
    subprocess.run(["useradd", "-m", USER], check=True, capture_output=True, timeout=30)
    return pwd.getpwnam(USER)


def _userns_blocked_reason(user):
    """Why this kernel refuses an unprivileged user namespace, or None if it allows one."""
    knob = Path("/proc/sys/kernel/unprivileged_userns_clone")
    if knob.exists() and knob.read_text().strip() == "0":
        return "sysctl kernel.unprivileged_userns_clone = 0"
    if Path("/proc/sys/user/max_user_namespaces").read_text().strip() == "0":
        return "sysctl user.max_user_namespaces = 0"
    p = subprocess.run(["runuser", "-u", user.pw_name, "--", "unshare", "-U", "true"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return f"unshare -U as {user.pw_name} fails: {p.stderr.strip()}"
    return None


def _sub_range(path, user):
    """(start, count) of the user's first entry in /etc/subuid or /etc/subgid, or None."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (user.pw_name, str(user.pw_uid)):
            return int(fields[1]), int(fields[2])
    return None


class Rootless:
    """The runtime run as the unprivileged user, with its state root under XDG_RUNTIME_DIR."""

    def __init__(self, user, base):
        self.user = user
        self.base = Path(base)
        self.xdg = self.base / "xdg"
        self.root = self.xdg / "wmrun"
        self.binary = self.base / "bin" / harness.runtime_binary().name
        self.ids = []

    def command(self, args):
        env = [f"XDG_RUNTIME_DIR={self.xdg}", f"HOME={self.user.pw_dir}",
               "PATH=/usr/local/bin:/usr/bin:/bin"]
        return ["runuser", "-u", self.user.pw_name, "--", "env", "-i", *env,
                str(self.binary), "--root", str(self.root), *map(str, args)]

    def run(self, args, cwd=None, check=True, detached=False):
        # A created container keeps the runtime's stdio: no pipes for it, or we would wait
        # for the container's end; its stderr goes through a file instead.
        if detached:
            with tempfile.TemporaryFile() as err:
                p = subprocess.run(self.command(args), cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err, timeout=TIMEOUT)
                err.seek(0)
                p.stderr = err.read().decode(errors="replace")
                p.stdout = ""
        else:
            p = subprocess.run(self.command(args), cwd=cwd, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=TIMEOUT)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, args))} as {self.user.pw_name} exited "
                                 f"{p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def new_id(self):
        cid = harness.new_container_id("-rl")
        self.ids.append(cid)
        return cid

    def state(self, cid):
        return json.loads(self.run(["state", cid]).stdout)

    def wait_status(self, cid, status):
        deadline = time.monotonic() + 10
        last = None
        while time.monotonic() < deadline:
            last = self.state(cid)
            if last["status"] == status:
                return last
            time.sleep(0.02)
        raise AssertionError(f"{cid} did not reach {status}: {last}")


@pytest.fixture(scope="module")
def user():
    u = _ensure_user()
    reason = _userns_blocked_reason(u)
    if reason:
        pytest.skip(f"unprivileged user namespaces are disabled on this host: {reason}")
    return u


@pytest.fixture
def rootless(user, rootfs_template):
    # Not under /root or pytest's root-only tmp dirs: the user must reach every path itself.
    base = Path(tempfile.mkdtemp(prefix="wmrun-rootless-", dir="/tmp"))
    os.chmod(base, 0o755)
    r = Rootless(user, base)
    (base / "bin").mkdir()
    shutil.copy2(harness.runtime_binary(), r.binary)
    r.xdg.mkdir(mode=0o700)
    shutil.copytree(rootfs_template, base / "bundle" / "rootfs", symlinks=True)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(base)], check=True,
                   timeout=60)
    yield r
    for cid in r.ids:
        r.run(["delete", "--force", cid], check=False)
    shutil.rmtree(base, ignore_errors=True)


def write_bundle(r, edit):
    """`spec --rootless` as the user, then `edit(config)`; returns the bundle dir."""
    bundle = r.base / "bundle"
    (bundle / "config.json").unlink(missing_ok=True)
    r.run(["spec", "--rootless"], cwd=bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["root"]["readonly"] = False
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


def test_spec_rootless_maps_the_caller_and_run_works(rootless):
    u = rootless.user
    bundle = write_bundle(rootless, lambda c: c["process"].update(args=[
        "sh", "-c", "id -u; id -g; cat /proc/self/uid_map; echo hello > /tmp/made; "
                    "cat /proc/self/status | grep NoNewPrivs"]))
    config = json.loads((bundle / "config.json").read_text())
    assert {"type": "user"} in config["linux"]["namespaces"]
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": u.pw_uid, "size": 1}]
    assert config["linux"]["gidMappings"] == [{"containerID": 0, "hostID": u.pw_gid, "size": 1}]
    assert "resources" not in config["linux"] or not config["linux"]["resources"].get("memory")

    p = rootless.run(["run", rootless.new_id()], cwd=bundle)
    lines = p.stdout.split("\n")
    assert lines[0] == "0" and lines[1] == "0", p.stdout
    assert lines[2].split() == ["0", str(u.pw_uid), "1"]
    # Root inside is the user outside: what it writes belongs to the user on the host.
    made = bundle / "rootfs" / "tmp" / "made"
    assert made.read_text() == "hello\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (u.pw_uid, u.pw_gid)
    # The state root is the one asked for, and the user's own.
    assert rootless.root.is_dir() and rootless.root.stat().st_uid == u.pw_uid


def test_run_returns_the_exit_status_and_echo_output(rootless):
    bundle = write_bundle(rootless, lambda c: c["process"].update(
        args=["sh", "-c", "echo out-$((6*7)); exit 3"]))
    p = rootless.run(["run", rootless.new_id()], cwd=bundle, check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out-42\n"


def test_lifecycle_commands_as_the_user(rootless):
    u = rootless.user
    bundle = write_bundle(rootless, lambda c: c["process"].update(args=["sleep", "1000"]))
    cid = rootless.new_id()
    rootless.run(["create", "--bundle", bundle, cid], detached=True)
    st = rootless.state(cid)
    assert st["status"] == "created" and st["pid"] > 0
    # The init is the user's process on the host, not root's.
    status = Path(f"/proc/{st['pid']}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(u.pw_uid)] * 4
    assert (rootless.root / cid).is_dir()

    rootless.run(["start", cid])
    rootless.wait_status(cid, "running")
    listed = rootless.run(["list", "--format", "json"]).stdout
    assert [c["id"] for c in json.loads(listed)] == [cid]

    rootless.run(["kill", cid, "KILL"])
    rootless.wait_status(cid, "stopped")
    rootless.run(["delete", cid])
    assert not (rootless.root / cid).exists()
    assert rootless.run(["list", "-q"]).stdout.strip() == ""
    assert rootless.run(["state", cid], check=False).returncode != 0


def test_exec_into_a_rootless_container(rootless):
    u = rootless.user
    bundle = write_bundle(rootless, lambda c: c["process"].update(args=["sleep", "1000"]))
    cid = rootless.new_id()
    rootless.run(["run", "--detach", "--bundle", bundle, cid], detached=True)
    rootless.wait_status(cid, "running")
    p = rootless.run(["exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; echo $$"])
    lines = p.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(u.pw_uid), "1"]
    # Joined the container's pid namespace: a small pid there, not the host's.
    assert 1 < int(lines[2]) < 100
    rootless.run(["delete", "--force", cid])


def _two_range_maps(u, sub_uid, sub_gid):
    return (
        [{"containerID": 0, "hostID": u.pw_uid, "size": 1},
         {"containerID": 1, "hostID": sub_uid[0], "size": min(sub_uid[1], 65536)}],
        [{"containerID": 0, "hostID": u.pw_gid, "size": 1},
         {"containerID": 1, "hostID": sub_gid[0], "size": min(sub_gid[1], 65536)}])


@pytest.fixture
def subids(user):
    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        pytest.skip("newuidmap/newgidmap are not installed (package uidmap)")
    sub_uid = _sub_range("/etc/subuid", user)
    sub_gid = _sub_range("/etc/subgid", user)
    if sub_uid is None or sub_gid is None:
        # useradd gives new users ranges by default; an older user gets one here.
        subprocess.run(["usermod", "--add-subuids", "300000-365535", "--add-subgids",
                        "300000-365535", user.pw_name], check=True, timeout=30)
        sub_uid = _sub_range("/etc/subuid", user)
        sub_gid = _sub_range("/etc/subgid", user)
    return sub_uid, sub_gid


def test_multi_range_maps_through_newuidmap(rootless, subids):
    u = rootless.user
    sub_uid, sub_gid = subids
    uid_maps, gid_maps = _two_range_maps(u, sub_uid, sub_gid)

    def edit(c):
        c["linux"]["uidMappings"] = uid_maps
        c["linux"]["gidMappings"] = gid_maps
        for kind in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][kind].append("CAP_CHOWN")
        c["process"]["args"] = [
            "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; "
                        "touch /tmp/owned && chown 1000:2000 /tmp/owned && echo chowned"]

    bundle = write_bundle(rootless, edit)
    p = rootless.run(["run", rootless.new_id()], cwd=bundle)
    uid_text, gid_text = p.stdout.split("--\n")
    assert [line.split() for line in uid_text.strip().splitlines()] == [
        ["0", str(u.pw_uid), "1"], ["1", str(sub_uid[0]), str(uid_maps[1]["size"])]]
    assert [line.split() for line in gid_text.splitlines()[:2]] == [
        ["0", str(u.pw_gid), "1"], ["1", str(sub_gid[0]), str(gid_maps[1]["size"])]]
    assert "chowned" in p.stdout
    # uid 1000 inside is subuid start + 999 on the host: the second range is real.
    owned = (bundle / "rootfs" / "tmp" / "owned").stat()
    assert (owned.st_uid, owned.st_gid) == (sub_uid[0] + 999, sub_gid[0] + 1999)


def test_a_map_outside_the_subordinate_ids_is_refused(rootless, subids):
    u = rootless.user
    sub_uid, sub_gid = subids
    uid_maps, gid_maps = _two_range_maps(u, sub_uid, sub_gid)
    # Ids the user was never given: newuidmap must refuse, and create must say so.
    uid_maps[1]["hostID"] = sub_uid[0] + sub_uid[1] + 1000000

    def edit(c):
        c["linux"]["uidMappings"] = uid_maps
        c["linux"]["gidMappings"] = gid_maps
        c["process"]["args"] = ["true"]

    bundle = write_bundle(rootless, edit)
    cid = rootless.new_id()
    p = rootless.run(["run", cid], cwd=bundle, check=False)
    assert p.returncode != 0
    assert "newuidmap" in p.stderr, p.stderr
    assert not (rootless.root / cid).exists()
