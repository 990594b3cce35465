"""podman 4.3 driving the runtime in runc's place, as a user runs it: the runtime is named in
podman's config by contrib/podman/wmrun.conf (its path the runtime under test's) and chosen
with `podman --runtime wmrun`.

podman writes /var/lib/containers, /var/cache/containers and /run/* whatever its config says,
so every podman command runs inside one private mount namespace with tmpfs over those
(clients.PrivateMounts), and its storage, run root, temp dir and event log in the module's
temp dir. The image is a busybox rootfs made here and `podman import`ed: no registry is
involved. Settings follow what podman needs on these hosts: cgroupfs, file events and locks, no
network, and explicit rlimits (root cannot raise nofile/nproc to podman's defaults here).
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import clients
import harness

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")

IMAGE = "localhost/wmt-busybox:latest"
PODMAN_TIMEOUT = 40
RUN_FLAGS = ("--pull", "never", "--network", "none",
             "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
IGNORES_TERM = "trap '' TERM; echo ready; while :; do sleep 1; done"
ENDS_ON_TERM = "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"


# The runtime contrib/podman/wmrun.conf defines.
CONTRIB_CONF = "podman/wmrun.conf"
RUNTIME_NAME, = clients.contrib_runtime_names(CONTRIB_CONF, ("engine", "runtimes"))


class Podman:
    """podman with --runtime set to the runtime under test (by its name in the config, the
    contrib file's), run inside a private mount namespace; its containers go under a cgroup
    parent of its own, so whatever is left there afterwards is a leak."""

    def __init__(self, runtime, work):
        self.runtime = runtime
        self.work = Path(work)
        self.root = self.work / "storage"
        # podman refuses a run root longer than 50 characters; /run is private.
        self.runroot = Path("/run/wmt-podman")
        (self.work / "tmp").mkdir()
        (self.work / "containers.conf").write_text(f"""\
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.work}/events.log"
lock_type = "file"
tmp_dir = "{self.runroot}/libpod-tmp"

{clients.contrib_config(CONTRIB_CONF, runtime)}""")
        (self.work / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{self.root}"
runroot = "{self.runroot}"
""")
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.work / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(self.work / "storage.conf"),
                        TMPDIR=str(self.work / "tmp"))
        self.ns = clients.PrivateMounts(self.work)
        self.parent = clients.CgroupParent("podman")
        self.run_flags = (*RUN_FLAGS, "--cgroup-parent", self.parent.path)

    def client(self, args):
        return [PODMAN, "--runtime", RUNTIME_NAME, "--root", self.root,
                "--runroot", self.runroot, *args]

    def run(self, args, check=True, timeout=PODMAN_TIMEOUT):
        return self.ns.run(self.client(args), check=check, timeout=timeout, env=self.env)

    def on_terminal(self, args):
        return self.ns.run_on_terminal(self.client(args), env=self.env)

    def start(self, script, *flags):
        """A detached container running `sh -c script`; waits for its first line, "ready"."""
        cid = self.run(["run", "-d", *self.run_flags, *flags, IMAGE, "sh", "-c", script]
                       ).stdout.strip()
        assert len(cid) == 64, cid
        deadline = time.monotonic() + 10
        while "ready" not in self.run(["logs", cid]).stdout:
            assert time.monotonic() < deadline, "the container never wrote its first line"
            time.sleep(0.05)
        return cid

    def state(self, cid):
        return json.loads(self.run(["inspect", cid]).stdout)[0]["State"]

    def cgroup(self, cid):
        return f"{self.parent.path}/libpod-{cid}"

    def runtime_ids(self):
        """Containers the runtime knows in its default state root inside the namespace."""
        res = self.ns.run([self.runtime, "list", "-q"], timeout=30)
        return res.stdout.split()

    def cgroups(self):
        return self.parent.dirs()

    def remove_all(self):
        """`podman rm --all --force`; returns the processes and containers' cgroups left."""
        self.run(["rm", "--all", "--force", "--time", "0"], check=False)
        left = self.ns.wait_no_processes(timeout=5)
        # podman itself leaves the parent and its conmon/ child; the containers' own
        # libpod-<id> cgroups are the runtime's to remove on delete.
        return left, [d for d in self.cgroups() if "/libpod-" in d]

    def close(self):
        self.run(["rm", "--all", "--force", "--time", "0"], check=False)
        self.ns.close()
        self.parent.remove()


@pytest.fixture(scope="module")
def podman_session(tmp_path_factory):
    work = tmp_path_factory.mktemp("podman")
    rootfs = harness.build_rootfs_template(tmp_path_factory.mktemp("podman-image") / "rootfs")
    p = Podman(str(harness.runtime_binary().resolve()), work)
    try:
        p.run(["import", clients.image_tar(rootfs, work / "rootfs.tar"), IMAGE])
        p.ns.mark_mounts()
        yield p
    finally:
        p.close()


@pytest.fixture
def podman(podman_session):
    """The module's podman; after each test nothing of its containers may be left."""
    yield podman_session
    leftover, cgroups = podman_session.remove_all()
    assert not leftover, f"processes left in podman's namespace after rm --all: {leftover}"
    assert not cgroups, f"cgroups left after rm --all: {cgroups}"


def assert_nothing_left(podman, cid):
    """No container in podman or the runtime, and no new mount or cgroup, for cid."""
    assert podman.run(["ps", "--all", "--quiet", "--no-trunc"]).stdout.split() == []
    assert cid not in podman.runtime_ids(), "the runtime still lists the removed container"
    # c/storage bind-mounts its overlay home on itself while layers are in use, and may keep
    # it after the last one: podman's, not a container's.
    new_mounts = [m for m in podman.ns.new_mounts() if m != str(podman.root / "overlay")]
    assert new_mounts == [], f"mounts left after the container was removed: {new_mounts}"
    cgroups = [d for d in podman.cgroups() if "/libpod-" in d]
    assert cgroups == [], f"cgroups left after the container was removed: {cgroups}"
    assert podman.ns.wait_no_processes() == []


def test_run_rm_prints_output(podman):
    res = podman.run(["run", "--rm", *podman.run_flags, IMAGE, "echo", "hello"])
    assert res.stdout == "hello\n", res.stderr
    assert podman.runtime_ids() == []
    assert_nothing_left(podman, "")


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
    assert info["OCIRuntime"] == RUNTIME_NAME, info["OCIRuntime"]
    # The path the contrib file gives for that name ran it: the runtime keeps its state.
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


@pytest.mark.parametrize("prog,status", [("/wmt/no/such", 127), ("wmt-no-such-command", 127),
                                         ("/etc/passwd", 126)])
def test_a_command_that_cannot_start_gives_podman_exit_status(podman, prog, status):
    # podman decides 127 or 126 from the runtime's error text, as runc words it.
    res = podman.run(["run", "--rm", *podman.run_flags, IMAGE, prog], check=False)
    assert res.returncode == status, res.stderr
    assert_nothing_left(podman, "")


def test_exec_of_a_command_that_cannot_start(podman):
    cid = podman.start(ENDS_ON_TERM)
    res = podman.run(["exec", cid, "/wmt/no/such"], check=False)
    assert res.returncode == 127 and "no such file or directory" in res.stderr, res
    res = podman.run(["exec", cid, "/etc/passwd"], check=False)
    assert res.returncode == 126 and "permission denied" in res.stderr, res
    res = podman.run(["exec", "-e", "WMT=1", "-w", "/tmp", "-u", "1:2", cid,
                      "sh", "-c", 'echo "$WMT $(id -u):$(id -g) $PWD"'])
    assert res.stdout == "1 1:2 /tmp\n"
    podman.run(["rm", "--force", "--time", "0", cid])
    assert_nothing_left(podman, cid)


def test_pause_unpause_as_podman_sees_it(podman):
    cid = podman.start(ENDS_ON_TERM)
    podman.run(["pause", cid])
    assert podman.state(cid)["Status"] == "paused"
    assert clients.freezer_state(podman.cgroup(cid)) == "FROZEN"
    podman.run(["unpause", cid])
    assert podman.state(cid)["Status"] == "running"
    assert clients.freezer_state(podman.cgroup(cid)) == "THAWED"
    assert podman.run(["exec", cid, "echo", "thawed"]).stdout == "thawed\n"
    podman.run(["rm", "--force", "--time", "0", cid])
    assert_nothing_left(podman, cid)


def test_limits_inside_and_on_the_host(podman):
    cid = podman.start(ENDS_ON_TERM, "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5")
    res = podman.run(["exec", cid, "sh", "-c", clients.inside_limits_command()])
    assert res.stdout.split() == [str(64 << 20), "50"], res
    limits = clients.host_limits(podman.cgroup(cid))
    assert limits == {"memory": 64 << 20, "pids": 50, "cpu": (50000, 100000)}, limits
    podman.run(["rm", "--force", "--time", "0", cid])
    assert_nothing_left(podman, cid)


def test_update_memory_alone_then_cpus(podman):
    # podman 4.3's update has no --pids-limit.
    cid = podman.start(ENDS_ON_TERM, "--memory", "64m", "--memory-swap", "256m",
                       "--pids-limit", "50", "--cpus", "0.5")
    podman.run(["update", "--memory", "96m", cid])
    assert clients.host_limits(podman.cgroup(cid)) == {
        "memory": 96 << 20, "pids": 50, "cpu": (50000, 100000)}
    podman.run(["update", "--cpus", "1.5", cid])
    assert clients.host_limits(podman.cgroup(cid)) == {
        "memory": 96 << 20, "pids": 50, "cpu": (150000, 100000)}
    res = podman.run(["exec", cid, "sh", "-c", clients.inside_limits_command()])
    assert res.stdout.split() == [str(96 << 20), "50"], res
    podman.run(["rm", "--force", "--time", "0", cid])
    assert_nothing_left(podman, cid)


def test_stop_escalates_to_sigkill(podman):
    cid = podman.start(IGNORES_TERM)
    podman.run(["stop", "--time", "1", cid])
    state = podman.state(cid)
    assert (state["Status"], state["ExitCode"]) == ("exited", 137), state
    podman.run(["rm", cid])
    assert_nothing_left(podman, cid)


def test_tty(podman):
    status, out = podman.on_terminal(["run", "--rm", "-t", *podman.run_flags, IMAGE,
                                      "sh", "-c", "tty; test -t 1 && echo is-a-tty; exit 2"])
    assert status == 2, out
    # The container's terminal turns "\n" into "\r\n" (onlcr): its output went through a pty.
    assert "/dev/pts/0\r" in out and "is-a-tty\r" in out, out
    assert_nothing_left(podman, "")
