"""docker 20.10 driving the runtime in runc's place, as a user runs it: the runtime is one of
dockerd's `runtimes` by contrib/docker/daemon.json (its path the runtime under test's).

One dockerd per module, with its data root in the module's temp dir and everything else it
writes (its exec root, its containerd, the shims' sockets, the runtime's state) on the tmpfs
/run of a private mount namespace (clients.PrivateMounts). The runtime under test is docker's
default runtime; containers go under a cgroup parent of the module's own, so a cgroup left
there after `docker rm` is a leak. The image is the busybox rootfs, `docker load`ed from an
archive made here. Settings follow what docker needs on these hosts: cgroupfs, no bridge, no
iptables, --network none, and a key path that is not /etc/docker.
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import clients

DOCKER = "/usr/bin/docker"  # Debian's client; another docker on PATH may not speak to 20.10
DOCKERD = shutil.which("dockerd", path="/usr/sbin:/usr/bin:/sbin:/bin")
pytestmark = pytest.mark.skipif(
    not os.access(DOCKER, os.X_OK) or DOCKERD is None,
    reason="docker.io is not installed (needs /usr/bin/docker and dockerd)")

IMAGE = "wmt-busybox:latest"
# The daemon.json users merge into theirs; its runtime becomes dockerd's default here.
CONTRIB_CONFIG = "docker/daemon.json"
RUNTIME_NAME, = json.loads((clients.CONTRIB / CONTRIB_CONFIG).read_text())["runtimes"]
EXEC_ROOT = "/run/wmt-docker"  # on the namespace's tmpfs; dockerd wants a short path there
RUN_FLAGS = ("--network", "none")
START_TIMEOUT = 40
# pid 1 ignores SIGTERM, as a process without a handler for it does: only SIGKILL ends it.
IGNORES_TERM = "trap '' TERM; echo ready; while :; do sleep 1; done"
# pid 1 ends on SIGTERM with an exit status of its own: the signal reached it.
ENDS_ON_TERM = "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"


class Docker:
    """A private dockerd whose default runtime is the runtime under test, and its client."""

    def __init__(self, runtime, work, rootfs):
        self.runtime = runtime
        self.work = Path(work)
        self.ns = clients.PrivateMounts(self.work)
        self.parent = clients.CgroupParent("docker")
        self.sock = self.work / "docker.sock"
        config = json.loads(clients.contrib_config(CONTRIB_CONFIG, runtime))
        # Without it dockerd writes /etc/docker/key.json.
        config["deprecated-key-path"] = str(self.work / "key.json")
        (self.work / "daemon.json").write_text(json.dumps(config))
        self.daemon = self.ns.spawn([
            DOCKERD, "--config-file", self.work / "daemon.json",
            "--data-root", self.work / "data", "--exec-root", EXEC_ROOT,
            "--pidfile", self.work / "dockerd.pid", "-H", f"unix://{self.sock}",
            "--iptables=false", "--ip6tables=false", "--ip-forward=false",
            "--ip-masq=false", "--bridge=none", "--storage-driver", "overlay2",
            "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", self.parent.path,
            "--default-runtime", RUNTIME_NAME,
        ], self.work / "dockerd.log")
        self._wait_up()
        self(["load", "-i", clients.docker_archive(rootfs, self.work / "image.tar", IMAGE)])
        self.ns.mark_mounts()

    def _wait_up(self):
        deadline = time.monotonic() + START_TIMEOUT
        while self(["version"], check=False, timeout=10).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("dockerd did not start:\n" + self.log())
            time.sleep(0.1)

    def log(self):
        return (self.work / "dockerd.log").read_text(errors="replace")[-4000:]

    def client(self, args):
        return [DOCKER, "-H", f"unix://{self.sock}", *args]

    def __call__(self, args, check=True, timeout=clients.CLIENT_TIMEOUT):
        return self.ns.run(self.client(args), check=check, timeout=timeout)

    def on_terminal(self, args):
        return self.ns.run_on_terminal(self.client(args))

    def start(self, script, *flags):
        """A detached container running `sh -c script`; waits for its first line, "ready"."""
        cid = self(["run", "-d", *RUN_FLAGS, *flags, IMAGE, "sh", "-c", script]).stdout.strip()
        assert len(cid) == 64, cid
        deadline = time.monotonic() + 10
        while "ready" not in self(["logs", cid]).stdout:
            assert time.monotonic() < deadline, "the container never wrote its first line"
            time.sleep(0.05)
        return cid

    def state(self, cid):
        return json.loads(self(["inspect", cid]).stdout)[0]["State"]

    def cgroup(self, cid):
        return f"{self.parent.path}/{cid}"

    def runtime_state(self):
        """The runtime's state root as docker gives it (--root) on the private /run."""
        root = Path(f"/proc/{self.ns.holder.pid}/root{EXEC_ROOT}/runtime-{RUNTIME_NAME}/moby")
        return clients.runtime_state(root)

    def assert_nothing_left(self, cid):
        """After `docker rm`: no container, no runtime state, mount, cgroup or process."""
        assert self(["ps", "--all", "--quiet", "--no-trunc"]).stdout.split() == []
        assert self.runtime_state() == [], "the runtime's state root still has containers"
        left = [m for m in self.ns.new_mounts() if cid in m]
        assert left == [], f"mounts left after the container was removed: {left}"
        assert self.parent.children() == [], "cgroups left after the container was removed"
        left = self.ns.wait_no_processes(daemons=("dockerd", "containerd"), timeout=5)
        assert left == [], f"processes left after the container was removed: {left}"

    def close(self):
        self(["rm", "--force", *self(["ps", "-aq"], check=False).stdout.split()], check=False)
        return clients.stop_daemon(self.daemon, self.ns, self.parent)


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    yield from clients.module_client(tmp_path_factory, Docker, "docker")


@pytest.fixture(autouse=True)
def remove_containers(docker):
    """A failed test's containers go, so that the next test starts with none."""
    yield
    left = docker(["ps", "-aq", "--no-trunc"]).stdout.split()
    if left:
        docker(["rm", "--force", *left], check=False)


def test_run_prints_output_and_exit_status(docker):
    res = docker(["run", "--rm", *RUN_FLAGS, IMAGE, "sh", "-c", "echo hello; exit 7"],
                 check=False)
    assert (res.returncode, res.stdout) == (7, "hello\n"), res.stderr
    info = json.loads(docker(["info", "--format", "{{json .}}"]).stdout)
    assert info["DefaultRuntime"] == RUNTIME_NAME, info["DefaultRuntime"]
    # The contrib file's runtime, its path the runtime under test's.
    assert info["Runtimes"][RUNTIME_NAME]["path"] == str(docker.runtime), info["Runtimes"]
    docker.assert_nothing_left("")


@pytest.mark.parametrize("prog,status", [("/wmt/no/such", 127), ("wmt-no-such-command", 127),
                                         ("/etc/passwd", 126)])
def test_a_command_that_cannot_start_gives_docker_exit_status(docker, prog, status):
    # docker decides 127 or 126 from the runtime's error text, as runc words it.
    res = docker(["run", "--rm", *RUN_FLAGS, IMAGE, prog], check=False)
    assert res.returncode == status, res.stderr
    docker.assert_nothing_left("")


def test_exec_output_status_and_missing_command(docker):
    cid = docker.start(ENDS_ON_TERM)
    res = docker(["exec", cid, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline"])
    assert res.stdout.startswith("exec-ok\nsh\0-c\0trap"), res.stdout
    assert docker(["exec", cid, "sh", "-c", "exit 5"], check=False).returncode == 5
    res = docker(["exec", cid, "/wmt/no/such"], check=False)
    # docker exec prints the runtime's error on stdout.
    assert res.returncode == 126 and "no such file or directory" in res.stdout, res
    res = docker(["exec", cid, "/etc/passwd"], check=False)
    assert res.returncode == 126 and "permission denied" in res.stdout, res
    res = docker(["exec", "-e", "WMT=1", "-w", "/tmp", cid, "sh", "-c", 'echo "$WMT $PWD"'])
    assert res.stdout == "1 /tmp\n"
    docker(["rm", "--force", cid])
    docker.assert_nothing_left(cid)


def test_pause_unpause_as_docker_sees_it(docker):
    cid = docker.start(ENDS_ON_TERM)
    docker(["pause", cid])
    state = docker.state(cid)
    assert (state["Status"], state["Paused"]) == ("paused", True), state
    assert clients.freezer_state(docker.cgroup(cid)) == "FROZEN"
    docker(["unpause", cid])
    state = docker.state(cid)
    assert (state["Status"], state["Paused"]) == ("running", False), state
    assert clients.freezer_state(docker.cgroup(cid)) == "THAWED"
    assert docker(["exec", cid, "echo", "thawed"]).stdout == "thawed\n"
    docker(["rm", "--force", cid])
    docker.assert_nothing_left(cid)


def test_limits_inside_and_on_the_host(docker):
    cid = docker.start(ENDS_ON_TERM, "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5")
    res = docker(["exec", cid, "sh", "-c", clients.inside_limits_command()])
    assert res.stdout.split() == [str(64 << 20), "50"], res
    limits = clients.host_limits(docker.cgroup(cid))
    assert limits == {"memory": 64 << 20, "pids": 50, "cpu": (50000, 100000)}, limits
    docker(["rm", "--force", cid])
    docker.assert_nothing_left(cid)


def test_update_memory_alone_then_cpus_and_pids(docker):
    # `docker update --memory` sends zeros for the cpu quota, period, shares and blkio weight
    # it leaves alone: zero means unset, and the memory change still applies.
    cid = docker.start(ENDS_ON_TERM, "--memory", "64m", "--memory-swap", "256m",
                       "--pids-limit", "50", "--cpus", "0.5")
    docker(["update", "--memory", "96m", cid])
    assert clients.host_limits(docker.cgroup(cid)) == {
        "memory": 96 << 20, "pids": 50, "cpu": (50000, 100000)}
    docker(["update", "--cpus", "1.5", "--pids-limit", "80", cid])
    assert clients.host_limits(docker.cgroup(cid)) == {
        "memory": 96 << 20, "pids": 80, "cpu": (150000, 100000)}
    res = docker(["exec", cid, "sh", "-c", clients.inside_limits_command()])
    assert res.stdout.split() == [str(96 << 20), "80"], res
    docker(["rm", "--force", cid])
    docker.assert_nothing_left(cid)


def test_restart_runs_the_container_again(docker):
    # stop, then create and start under the same id: the runtime's state of the first run
    # must be gone for the second.
    cid = docker.start("echo run >> /tmp/runs; echo ready; exec sleep 1000")
    docker(["restart", "-t", "0", cid])
    assert docker.state(cid)["Status"] == "running"
    deadline = time.monotonic() + 10
    while (runs := docker(["exec", cid, "cat", "/tmp/runs"]).stdout) != "run\nrun\n":
        assert time.monotonic() < deadline, f"the second run never started: {runs!r}"
        time.sleep(0.05)
    docker(["rm", "--force", cid])
    docker.assert_nothing_left(cid)


def test_stop_sends_sigterm(docker):
    cid = docker.start(ENDS_ON_TERM)
    docker(["stop", "-t", "20", cid])
    state = docker.state(cid)
    assert (state["Status"], state["ExitCode"]) == ("exited", 3), state
    docker(["rm", cid])
    docker.assert_nothing_left(cid)


def test_stop_escalates_to_sigkill(docker):
    cid = docker.start(IGNORES_TERM)
    docker(["stop", "-t", "1", cid])
    state = docker.state(cid)
    assert (state["Status"], state["ExitCode"]) == ("exited", 137), state
    docker(["rm", cid])
    docker.assert_nothing_left(cid)


def test_tty(docker):
    status, out = docker.on_terminal(["run", "--rm", "-t", *RUN_FLAGS, IMAGE,
                                      "sh", "-c", "tty; test -t 1 && echo is-a-tty"])
    assert status == 0, out
    # The container's terminal turns "\n" into "\r\n" (onlcr): its output went through a pty.
    assert "/dev/pts/0\r" in out and "is-a-tty\r" in out, out
    docker.assert_nothing_left("")
