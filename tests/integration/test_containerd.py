"""containerd 1.6 driving the runtime in runc's place through its runc shim
(`ctr run --runtime io.containerd.runc.v2 --runc-binary PATH`), as a user runs it.

One containerd per module, its root in the module's temp dir and its state, socket, the
shims' sockets (always /run/containerd/s) and the runtime's state (/run/containerd/runc) on
the tmpfs /run of a private mount namespace (clients.PrivateMounts). Containers go under a
cgroup parent of the module's own (`--cgroup`). The image is the busybox rootfs, `ctr image
import`ed from an archive made here. ctr has no `update` and no `stop`: a user stops a task
with `ctr task kill` and escalates with `kill -s SIGKILL`, which is what is tested.

ctr has no runtime handlers (those are the CRI plugin's, test_cri.py runs pods with
contrib/containerd/wmrun.toml's): it names the runtime with --runc-binary. Here containerd
reads the systemd variant of the handler, contrib/containerd/wmrun-systemd.toml, which no test
runs pods with (the CRI test's hosts have no systemd as init).
"""

import shutil
import subprocess
import time
import tomllib

import pytest

import clients
import harness

pytestmark = pytest.mark.skipif(
    clients.CTR is None or clients.CONTAINERD is None
    or shutil.which("containerd-shim-runc-v2") is None,
    reason="containerd is not installed (needs containerd, ctr and containerd-shim-runc-v2)")

IMAGE = "docker.io/library/wmt-busybox:latest"
NAMESPACE = "wmt"
STATE = "/run/wmt-containerd"  # on the namespace's tmpfs
# ctr's default spec has no cgroup mount; a user who wants to see limits inside adds one.
CGROUP_MOUNT = ("--mount", "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro")
IGNORES_TERM = "trap '' TERM; echo ready; while :; do sleep 1; done"
ENDS_ON_TERM = "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"


class Containerd(clients.ContainerdDaemon):
    """A private containerd and ctr running every container with the runtime under test."""

    def __init__(self, runtime, work, rootfs):
        super().__init__(work, STATE, "containerd",
                         disabled_plugins=["io.containerd.grpc.v1.cri"])
        self.runtime = runtime
        self(["images", "import", clients.docker_archive(rootfs, self.work / "image.tar",
                                                        "wmt-busybox:latest")])
        self.ns.mark_mounts()

    def client(self, args):
        return self.ctr_command(NAMESPACE, args)

    def __call__(self, args, check=True, timeout=clients.CLIENT_TIMEOUT):
        return self.ctr(NAMESPACE, args, check=check, timeout=timeout)

    def cgroup(self, cid):
        return f"{self.parent.path}/{cid}"

    def run_flags(self, cid):
        return ("--runtime", "io.containerd.runc.v2", "--runc-binary", self.runtime,
                "--cgroup", self.cgroup(cid))

    def new_id(self):
        return harness.new_container_id()

    def start(self, script, *flags):
        """A detached task running `sh -c script`; waits for its first line, "ready"."""
        cid = self.new_id()
        log = self.work / f"{cid}.log"
        self(["run", "--detach", "--log-uri", f"file://{log}", *self.run_flags(cid), *flags,
              IMAGE, cid, "sh", "-c", script])
        assert harness.wait_for_file_text(log, "ready"), "the task never wrote its first line"
        return cid

    def status(self, cid):
        for line in self(["task", "list"]).stdout.splitlines()[1:]:
            fields = line.split()
            if fields[0] == cid:
                return fields[2]
        return None

    def wait_status(self, cid, status, timeout=10):
        deadline = time.monotonic() + timeout
        while (now := self.status(cid)) != status:
            assert time.monotonic() < deadline, f"task {cid} is {now}, not {status}"
            time.sleep(0.05)

    def remove(self, cid):
        """`ctr task rm` of a stopped task and `ctr container rm`: what a user does."""
        res = self(["task", "rm", cid])
        self(["container", "rm", cid])
        return res

    def assert_nothing_left(self):
        """No container or task, no runtime state, mount, cgroup, shim or container process."""
        assert self(["container", "list", "--quiet"]).stdout.split() == []
        assert self(["task", "list", "--quiet"]).stdout.split() == []
        assert self.runtime_state(NAMESPACE) == [], \
            "the runtime's state root still has containers"
        assert self.ns.new_mounts() == [], "mounts left after the containers were removed"
        assert self.parent.children() == [], "cgroups left after the containers were removed"
        left = self.ns.wait_no_processes(daemons=("containerd",), timeout=5)
        assert left == [], f"processes left after the containers were removed: {left}"

    def remove_everything(self):
        for cid in self(["task", "list", "--quiet"], check=False).stdout.split():
            self(["task", "rm", "--force", cid], check=False)
        for cid in self(["container", "list", "--quiet"], check=False).stdout.split():
            self(["container", "rm", cid], check=False)

    def close(self):
        self.remove_everything()
        return super().close()


@pytest.fixture(scope="module")
def containerd(tmp_path_factory):
    yield from clients.module_client(tmp_path_factory, Containerd, "ctr")


@pytest.fixture(autouse=True)
def remove_containers(containerd):
    """A failed test's tasks and containers go, so that the next test starts with none."""
    yield
    containerd.remove_everything()


def cri_handler(contrib_file, tmp_path):
    """The runtime handler table of containerd's CRI plugin as containerd reads it from its
    config with the contrib file appended (`containerd config dump`)."""
    config = tmp_path / "config.toml"
    config.write_text("version = 2\n" + clients.contrib_config(contrib_file, "/usr/sbin/wmrun"))
    res = subprocess.run([clients.CONTAINERD, "--config", config, "config", "dump"],
                         capture_output=True, text=True, timeout=30, check=True)
    runtimes = tomllib.loads(res.stdout)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"][
        "runtimes"]
    return runtimes["wmrun"]


def test_the_systemd_handler_is_the_cgroupfs_one_with_systemd_cgroups(tmp_path):
    systemd = cri_handler("containerd/wmrun-systemd.toml", tmp_path)
    cgroupfs = cri_handler("containerd/wmrun.toml", tmp_path)
    assert systemd["runtime_type"] == "io.containerd.runc.v2"
    assert systemd["options"] == {**cgroupfs["options"], "SystemdCgroup": True}
    assert systemd["options"]["BinaryName"] == "/usr/sbin/wmrun"
    assert {k: v for k, v in systemd.items() if k != "options"} == \
        {k: v for k, v in cgroupfs.items() if k != "options"}


def test_run_prints_output_and_exit_status(containerd):
    cid = containerd.new_id()
    res = containerd(["run", "--rm", *containerd.run_flags(cid), IMAGE, cid,
                      "sh", "-c", "echo hello; exit 7"], check=False)
    assert (res.returncode, res.stdout) == (7, "hello\n"), res.stderr
    containerd.assert_nothing_left()


@pytest.mark.parametrize("prog,words", [
    ("/wmt/no/such", 'exec: "/wmt/no/such": stat /wmt/no/such: no such file or directory'),
    ("wmt-no-such-command", 'exec: "wmt-no-such-command": executable file not found in $PATH'),
    ("/etc/passwd", 'exec: "/etc/passwd": permission denied'),
])
def test_a_command_that_cannot_start_fails_run_with_runc_words(containerd, prog, words):
    # ctr has no exit statuses of its own for these: the shim reads the runtime's error from
    # its JSON log and ctr prints it; CRI and its users match these words.
    cid = containerd.new_id()
    res = containerd(["run", "--rm", *containerd.run_flags(cid), IMAGE, cid, prog],
                     check=False)
    assert res.returncode == 1 and words in res.stderr, res
    containerd.assert_nothing_left()


def test_exec_output_status_and_missing_command(containerd):
    cid = containerd.start(ENDS_ON_TERM)
    res = containerd(["task", "exec", "--exec-id", "e1", cid,
                      "sh", "-c", "echo exec-ok; cat /proc/1/cmdline"])
    assert res.stdout.startswith("exec-ok\nsh\0-c\0trap"), res.stdout
    res = containerd(["task", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 5"],
                     check=False)
    assert res.returncode == 5, res
    res = containerd(["task", "exec", "--exec-id", "e3", cid, "/wmt/no/such"], check=False)
    assert res.returncode == 1 and "stat /wmt/no/such: no such file or directory" in \
        res.stderr, res
    res = containerd(["task", "exec", "--exec-id", "e4", "--cwd", "/tmp", "--user", "1:2",
                      cid, "sh", "-c", 'echo "$(id -u):$(id -g) $PWD"'])
    assert res.stdout == "1:2 /tmp\n"
    containerd(["task", "kill", "--signal", "SIGKILL", cid])
    containerd.wait_status(cid, "STOPPED")
    containerd.remove(cid)
    containerd.assert_nothing_left()


def test_pause_resume_as_ctr_sees_it(containerd):
    cid = containerd.start(ENDS_ON_TERM)
    containerd(["task", "pause", cid])
    assert containerd.status(cid) == "PAUSED"
    assert clients.freezer_state(containerd.cgroup(cid)) == "FROZEN"
    containerd(["task", "resume", cid])
    assert containerd.status(cid) == "RUNNING"
    assert clients.freezer_state(containerd.cgroup(cid)) == "THAWED"
    res = containerd(["task", "exec", "--exec-id", "e1", cid, "echo", "thawed"])
    assert res.stdout == "thawed\n"
    containerd(["task", "kill", "--signal", "SIGKILL", cid])
    containerd.wait_status(cid, "STOPPED")
    containerd.remove(cid)
    containerd.assert_nothing_left()


def test_limits_inside_and_on_the_host(containerd):
    cid = containerd.start(ENDS_ON_TERM, "--memory-limit", str(64 << 20), "--cpus", "0.5",
                           *CGROUP_MOUNT)
    res = containerd(["task", "exec", "--exec-id", "e1", cid,
                      "sh", "-c", clients.inside_limits_command()])
    # ctr has no flag for a pids limit: the container sees its cgroup's, unlimited.
    assert res.stdout.split() == [str(64 << 20), "max"], res
    limits = clients.host_limits(containerd.cgroup(cid))
    assert limits == {"memory": 64 << 20, "pids": "max", "cpu": (50000, 100000)}, limits
    containerd(["task", "kill", "--signal", "SIGKILL", cid])
    containerd.wait_status(cid, "STOPPED")
    containerd.remove(cid)
    containerd.assert_nothing_left()


def test_kill_sends_sigterm(containerd):
    cid = containerd.start(ENDS_ON_TERM)
    containerd(["task", "kill", cid])
    containerd.wait_status(cid, "STOPPED")
    res = containerd.remove(cid)
    assert "non-zero exit code 3" in res.stderr, res
    containerd.assert_nothing_left()


def test_sigterm_ignored_then_sigkill(containerd):
    cid = containerd.start(IGNORES_TERM)
    containerd(["task", "kill", cid])
    # Nothing to wait for: a moment to show SIGTERM did not end the task.
    time.sleep(1)
    assert containerd.status(cid) == "RUNNING"
    containerd(["task", "kill", "--signal", "SIGKILL", "--all", cid])
    containerd.wait_status(cid, "STOPPED")
    res = containerd.remove(cid)
    assert "non-zero exit code 137" in res.stderr, res
    containerd.assert_nothing_left()


def test_tty(containerd):
    cid = containerd.new_id()
    status, out = containerd.ns.run_on_terminal(containerd.client([
        "run", "--rm", "--tty", *containerd.run_flags(cid), IMAGE, cid,
        "sh", "-c", "tty; test -t 1 && echo is-a-tty; exit 2"]))
    assert status == 2, out
    assert "/dev/pts/0\r" in out and "is-a-tty\r" in out, out
    containerd.assert_nothing_left()
