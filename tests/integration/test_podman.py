"""podman 4.3 driving the runtime in runc's place (`podman --runtime PATH`).

podman writes /var/lib/containers, /var/cache/containers and /run/* whatever its config says,
so every podman command runs inside one private mount namespace with tmpfs over those, and
its storage, run root, temp dir and event log in the test's temp dir. The image is a busybox
rootfs made here and `podman import`ed: no registry is involved. Settings follow what podman
needs on these hosts: cgroupfs, file events and locks, no network, and explicit rlimits (root
cannot raise nofile/nproc to podman's defaults here).
"""

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import harness

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")

IMAGE = "localhost/wmt-busybox:latest"
PODMAN_TIMEOUT = 40
# /run holds the runtime's default state root (podman's cleanup process drops --runtime-flag,
# so --root cannot point elsewhere); a tmpfs keeps that, conmon's and podman's files private.
PRIVATE_DIRS = ("/run", "/var/lib/containers", "/var/cache")
RUN_FLAGS = ("--pull", "never", "--network", "none",
             "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")


class Podman:
    """podman with --runtime set to the runtime under test, run inside a private mount
    namespace held open by a sleeping process."""

    def __init__(self, runtime, work):
        self.runtime = runtime
        self.work = work
        self.work.mkdir()
        self.root = work / "storage"
        # podman refuses a run root longer than 50 characters; /run is private, see above.
        self.runroot = Path("/run/wmt-podman")
        (work / "tmp").mkdir()
        (work / "containers.conf").write_text(f"""\
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
lock_type = "file"
tmp_dir = "{self.runroot}/libpod-tmp"
""")
        (work / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{self.root}"
runroot = "{self.runroot}"
""")
        self.env = dict(os.environ, CONTAINERS_CONF=str(work / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(work / "storage.conf"),
                        TMPDIR=str(work / "tmp"))
        mounts = " && ".join(f"mount -t tmpfs tmpfs {d}" for d in PRIVATE_DIRS)
        self.holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"{mounts} && echo ready && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            self.holder.kill()
            _, err = self.holder.communicate(timeout=10)
            raise AssertionError(f"could not set up the private mount namespace: {err!r}")
        self.mnt_ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        # Each test's containers go under a cgroup parent of its own, so whatever is left
        # there afterwards is a leak, and the parent itself can be removed.
        self.cgroup_parent = "/" + harness.new_container_id("-podman")
        self.run_flags = (*RUN_FLAGS, "--cgroup-parent", self.cgroup_parent)

    def enter(self, args):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--wd=" + str(self.work),
                *map(str, args)]

    def run(self, args, check=True, timeout=PODMAN_TIMEOUT):
        cmd = self.enter([PODMAN, "--runtime", self.runtime, "--root", self.root,
                          "--runroot", self.runroot, *args])
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{cmd} did not finish within {timeout}s") from None
        if check and res.returncode != 0:
            raise AssertionError(f"{cmd} exited {res.returncode}\nstdout: {res.stdout!r}\n"
                                 f"stderr: {res.stderr!r}")
        return res

    def mounts(self):
        return Path(f"/proc/{self.holder.pid}/mountinfo").read_text().splitlines()

    def runtime_ids(self):
        """Containers the runtime knows in its default state root inside the namespace."""
        res = subprocess.run(self.enter([self.runtime, "list", "-q"]), capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, f"runtime list failed: {res.stderr!r}"
        return res.stdout.split()

    def processes_inside(self):
        """Processes other than the holder still in the namespace (conmon, containers)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.holder.pid:
                continue
            try:
                if os.readlink(entry / "ns" / "mnt") == self.mnt_ns:
                    found.append((int(entry.name), (entry / "comm").read_text().strip()))
            except OSError:
                pass
        return found

    def wait_no_processes(self, timeout=5):
        """conmon may take a moment to exit after podman is done; returns what stays."""
        deadline = time.monotonic() + timeout
        while (left := self.processes_inside()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def cgroups(self):
        """Every cgroup directory under this test's parent, the parent included."""
        return sorted(d for d in harness.cgroup_dirs()
                      if f"{self.cgroup_parent}/" in d + "/")

    def close(self):
        self.run(["rm", "--all", "--force", "--time", "0"], check=False)
        leftover = self.wait_no_processes()
        for pid, _ in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.holder.kill()
        self.holder.communicate(timeout=10)
        # podman itself leaves the parent and its conmon/ child; the containers' own
        # libpod-<id> cgroups are the runtime's to remove on delete.
        left = [d for d in self.cgroups() if "/libpod-" in d]
        harness.remove_cgroups(self.cgroups())
        return leftover, left


def make_image_tar(rootfs, dest):
    with tarfile.open(dest, "w") as tar:
        tar.add(rootfs, arcname=".")
    return dest


@pytest.fixture
def podman(tmp_path, rootfs_template):
    binary = str(harness.runtime_binary().resolve())
    p = Podman(binary, tmp_path / "podman")
    try:
        p.run(["import", make_image_tar(rootfs_template, tmp_path / "rootfs.tar"), IMAGE])
        p.baseline_mounts = set(p.mounts())
        yield p
    finally:
        leftover, cgroups = p.close()
    assert not leftover, f"processes left in podman's namespace after rm --all: {leftover}"
    assert not cgroups, f"cgroups left after rm --all: {cgroups}"


def assert_nothing_left(podman, cid):
    """No container in podman or the runtime, and no new mount or cgroup, for cid."""
    assert podman.run(["ps", "--all", "--quiet", "--no-trunc"]).stdout.split() == []
    assert cid not in podman.runtime_ids(), "the runtime still lists the removed container"
    new_mounts = [harness.mount_point(l) for l in podman.mounts()
                  if l not in podman.baseline_mounts]
    assert new_mounts == [], f"mounts left after the container was removed: {new_mounts}"
    cgroups = [d for d in podman.cgroups() if cid in d]
    assert cgroups == [], f"cgroups left after the container was removed: {cgroups}"
    assert podman.wait_no_processes() == []


def test_run_rm_prints_output(podman):
    res = podman.run(["run", "--rm", *podman.run_flags, IMAGE, "echo", "hello"])
    assert res.stdout == "hello\n", res.stderr
    assert podman.run(["ps", "--all", "--quiet"]).stdout == ""
    assert podman.runtime_ids() == []
    assert [l for l in podman.mounts() if l not in podman.baseline_mounts] == []
    assert [d for d in podman.cgroups() if "/libpod-" in d] == []


def test_run_exit_status_is_reported(podman):
    res = podman.run(["run", "--rm", *podman.run_flags, IMAGE, "sh", "-c", "exit 7"], check=False)
    assert res.returncode == 7, res.stderr


def test_detached_exec_stop_rm(podman):
    # A trap makes SIGTERM end pid 1 cleanly: `stop` then succeeds without SIGKILL and the
    # exit code shows the signal reached the container's init.
    script = "trap 'exit 3' TERM; echo started; while :; do sleep 0.1; done"
    cid = podman.run(["run", "-d", "--name", "wmt-podman", *podman.run_flags, IMAGE,
                      "sh", "-c", script]).stdout.strip()
    assert len(cid) == 64, cid
    info = json.loads(podman.run(["inspect", cid]).stdout)[0]
    assert info["State"]["Status"] == "running", info["State"]
    assert info["OCIRuntime"] == podman.runtime, info["OCIRuntime"]
    assert cid in podman.runtime_ids()
    assert any(cid in d for d in podman.cgroups()), podman.cgroups()

    res = podman.run(["exec", cid, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline"])
    assert res.stdout.startswith("exec-ok\nsh\0-c\0trap"), res.stdout
    res = podman.run(["exec", cid, "sh", "-c", "exit 5"], check=False)
    assert res.returncode == 5, res.stderr

    deadline = time.monotonic() + 10
    while "started" not in podman.run(["logs", cid]).stdout:
        assert time.monotonic() < deadline, "the container never wrote its first line"
        time.sleep(0.1)

    start = time.monotonic()
    res = podman.run(["stop", "--time", "10", cid])
    assert time.monotonic() - start < 8, f"stop needed SIGKILL: {res.stderr!r}"
    state = json.loads(podman.run(["inspect", cid]).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 3, state

    podman.run(["rm", cid])
    assert_nothing_left(podman, cid)
