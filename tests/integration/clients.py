"""What the client tests (podman, docker, containerd in runc's place) share: a private mount
namespace to run a client and its daemons in, the busybox image as archives the clients load,
the cgroup parent a test's containers go under, where the limits are on this host's cgroups,
a terminal to run a client on, a containerd of a module's own, and the module fixture that
starts a client's daemon and checks what its stop leaves.

Clients write /run, /var/lib and /var/cache whatever their configs say; each client runs in a
mount namespace of its own, held open by a sleeping process, with tmpfs over those paths, so
that nothing of it reaches the host and whatever it leaves behind is seen."""

import collections
import hashlib
import io
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import harness

CLIENT_TIMEOUT = 60
CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
CONTAINERD_START_TIMEOUT = 30
# Where the runtimes' state, the daemons' sockets and the clients' stores go by default.
PRIVATE_DIRS = ("/run", "/var/lib", "/var/cache")
# The client configurations users copy (docs/clients.md): the tests load these very files.
CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
# Where they say wmrun is, as the Debian package installs it: the tests put the runtime under
# test there.
CONTRIB_WMRUN = "/usr/sbin/wmrun"


class PrivateMounts:
    """A mount namespace with a tmpfs on each of `dirs`, held by a process that sleeps until
    close(); commands enter it with nsenter."""

    def __init__(self, work, dirs=PRIVATE_DIRS):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        missing = [d for d in dirs if not Path(d).is_dir()]
        if missing:
            # Making them would change the host, which is what the namespace is for avoiding.
            raise AssertionError(f"cannot hide {missing}: not directories on this host")
        mounts = " && ".join(f"mount -t tmpfs -o mode=0755 tmpfs {d}" for d in dirs)
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
        self.mark_mounts()

    def enter(self, args):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--wd=" + str(self.work),
                *map(str, args)]

    def run(self, args, check=True, timeout=CLIENT_TIMEOUT, env=None, input=None):
        cmd = self.enter(args)
        try:
            res = subprocess.run(cmd, input=input, capture_output=True, text=True,
                                 timeout=timeout, env=env,
                                 stdin=subprocess.DEVNULL if input is None else None)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{cmd} did not finish within {timeout}s") from None
        if check and res.returncode != 0:
            raise AssertionError(f"{cmd} exited {res.returncode}\nstdout: {res.stdout!r}\n"
                                 f"stderr: {res.stderr!r}")
        return res

    def run_on_terminal(self, args, timeout=CLIENT_TIMEOUT, env=None):
        """Runs a command with a new pseudo-terminal as its stdin, stdout and stderr, as in a
        user's shell (clients check that their input is a terminal before asking for one).
        Returns (exit status, everything written to the terminal)."""
        return on_terminal(self.enter(args), timeout, env)

    def spawn(self, args, log, env=None):
        """A daemon in the namespace, its output in `log`."""
        with open(log, "ab") as out:
            return subprocess.Popen(self.enter(args), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env)

    def mounts(self):
        return Path(f"/proc/{self.holder.pid}/mountinfo").read_text().splitlines()

    def mount_points(self):
        return [harness.mount_point(line) for line in self.mounts()]

    def mark_mounts(self):
        """What new_mounts() compares with: the mounts there are now."""
        self.baseline_mounts = collections.Counter(self.mount_points())

    def new_mounts(self):
        """Mount points there are more of than at mark_mounts() (a daemon remounting one of
        its own, as dockerd does its data root, is not new)."""
        return sorted((collections.Counter(self.mount_points()) - self.baseline_mounts).elements())

    def processes_inside(self, exclude=(), daemons=()):
        """(pid, comm) of every process in the namespace but the holder, the pids in
        `exclude` and the programs named in `daemons`. A container has a mount namespace of
        its own: its processes are found by cgroup."""
        skip = {self.holder.pid, *exclude}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in skip:
                continue
            try:
                if os.readlink(entry / "ns" / "mnt") == self.mnt_ns:
                    comm = (entry / "comm").read_text().strip()
                    if comm not in daemons:
                        found.append((int(entry.name), comm))
            except OSError:
                pass
        return found

    def wait_no_processes(self, exclude=(), daemons=(), timeout=10):
        """Shims and monitors may take a moment to exit; returns what stays."""
        deadline = time.monotonic() + timeout
        while (left := self.processes_inside(exclude, daemons)) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def close(self, exclude=(), grace=2):
        """Kills what is left in the namespace after `grace` seconds and returns it, so that
        the caller can fail on it."""
        left = self.wait_no_processes(exclude, timeout=grace)
        for pid, _ in self.processes_inside():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.holder.kill()
        self.holder.communicate(timeout=10)
        return left


def contrib_config(name, runtime):
    """contrib/`name` as a client is to read it here: its text with the runtime under test in
    place of /usr/sbin/wmrun."""
    text = (CONTRIB / name).read_text()
    if CONTRIB_WMRUN not in text:
        raise AssertionError(f"contrib/{name} does not name {CONTRIB_WMRUN}")
    return text.replace(CONTRIB_WMRUN, str(runtime))


def contrib_runtime_names(name, runtimes):
    """The names under which the TOML file contrib/`name` defines runtimes, `runtimes` being
    the path of keys to the table of them."""
    table = tomllib.loads((CONTRIB / name).read_text())
    for key in runtimes:
        table = table[key]
    return list(table)


def runtime_state(root):
    """The containers in a runtime's state root (.exe-lower: the empty layer of the read-only
    overlay wmrun re-executes through, which stays for the next container)."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.name != ".exe-lower") \
        if root.is_dir() else []


def on_terminal(cmd, timeout=CLIENT_TIMEOUT, env=None):
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(cmd, stdin=terminal, stdout=terminal, stderr=terminal,
                                env=env, start_new_session=True)
    finally:
        os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait(timeout=10)
                raise AssertionError(f"{cmd} did not finish within {timeout}s; "
                                     f"output: {bytes(output)!r}")
            ready, _, _ = select.select([controller], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: every process holding the terminal has closed it
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(deadline - time.monotonic(), 1)), \
            output.decode(errors="replace")
    finally:
        os.close(controller)


class CgroupParent:
    """A cgroup parent of a test's own ("/wmt-<hex>-<client>"): whatever is under it when the
    containers are gone is a leak of the runtime, and the parent itself can be removed."""

    def __init__(self, client):
        self.path = "/" + harness.new_container_id("-" + client)

    def dirs(self):
        found = []
        for hierarchy in cgroup_hierarchies():
            top = hierarchy / self.path.lstrip("/")
            for dirpath, _, _ in os.walk(top):
                found.append(dirpath)
        return sorted(found)

    def children(self):
        return [d for d in self.dirs() if not d.endswith(self.path)]

    def remove(self):
        harness.remove_cgroups(self.dirs())


def cgroup_hierarchies():
    """The mount point of every cgroup hierarchy (each v1 controller's and the unified)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        point = harness.mount_point(line)
        if fstype in ("cgroup", "cgroup2") and point.startswith("/sys/fs/cgroup"):
            found.append(Path(point))
    return found


# --- images -------------------------------------------------------------------------------------

def image_tar(rootfs, dest):
    """The busybox rootfs as a tar, for `podman import`."""
    with tarfile.open(dest, "w") as tar:
        tar.add(rootfs, arcname=".")
    return dest


def docker_archive(rootfs, dest, tag, cmd=("sh",)):
    """The busybox rootfs as one-layer image in the archive format of `docker save`, which
    `docker load` and `ctr image import` read; no registry is involved. `cmd` is the image's
    Cmd, what runs when a client gives no command (a pod's sandbox container runs it)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add(rootfs, arcname=".")
    layer = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "tests/integration/clients.py"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(dest, "w") as tar:
        for name, data in (("layer/layer.tar", layer), (config_name, config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return dest


# --- limits as the container and the host see them -----------------------------------------------

def v1_memory():
    """True where memory, pids and cpu are v1 controllers (a hybrid host), false on pure v2."""
    return Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()


def inside_limits_command():
    """A shell command that prints the memory limit and the pids limit, one a line, as the
    container sees them under its /sys/fs/cgroup."""
    if v1_memory():
        return "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    return "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"


def inside_cpu_command():
    """A shell command that prints the CFS quota ("max" for none) and period, then the CPU
    weight, each on a line, as the container sees them under its /sys/fs/cgroup: cpu.shares
    on v1, cpu.weight on v2 (runc writes shares converted to a weight there)."""
    if v1_memory():
        return ("cd /sys/fs/cgroup/cpu && q=$(cat cpu.cfs_quota_us) && "
                '{ [ "$q" -lt 0 ] && echo max || echo "$q"; } && '
                "cat cpu.cfs_period_us cpu.shares")
    return "cd /sys/fs/cgroup && tr ' ' '\\n' < cpu.max && cat cpu.weight"


def parse_inside_cpu(output):
    """(quota or "max", period, weight) from what inside_cpu_command printed."""
    quota, period, weight = output.split()
    return (quota if quota == "max" else int(quota), int(period), int(weight))


def cpu_weight(shares):
    """What the container reads back for cpu shares: the shares on v1, on v2 the weight runc
    converts them to (1 + ((shares - 2) * 9999) / 262142)."""
    return shares if v1_memory() else 1 + ((shares - 2) * 9999) // 262142


def _controller_file(container_cgroup, controller, name):
    """`name` in the container's cgroup (its path as the runtime got it) in the hierarchy of
    `controller` on v1, or in the unified hierarchy."""
    rel = container_cgroup.lstrip("/")
    if v1_memory():
        return Path("/sys/fs/cgroup") / controller / rel / name
    return Path("/sys/fs/cgroup") / rel / name


def host_limits(container_cgroup):
    """{"memory": bytes or "max", "pids": n or "max", "cpu": (quota or "max", period)} of the
    container's cgroup, read on the host."""
    def read(controller, name):
        return _controller_file(container_cgroup, controller, name).read_text().strip()
    if v1_memory():
        memory = int(read("memory", "memory.limit_in_bytes"))
        quota = int(read("cpu", "cpu.cfs_quota_us"))
        cpu = ("max" if quota < 0 else quota, int(read("cpu", "cpu.cfs_period_us")))
    else:
        memory = read("", "memory.max")
        memory = memory if memory == "max" else int(memory)
        quota, period = read("", "cpu.max").split()
        cpu = (quota if quota == "max" else int(quota), int(period))
    pids = read("pids", "pids.max")
    return {"memory": memory, "pids": pids if pids == "max" else int(pids), "cpu": cpu}


def freezer_state(container_cgroup):
    """FROZEN or THAWED as the freezer the clients read says: v1's freezer.state on a hybrid
    host, cgroup.freeze in the unified hierarchy on pure v2."""
    v1 = _controller_file(container_cgroup, "freezer", "freezer.state")
    if v1_memory():
        return v1.read_text().strip()
    frozen = _controller_file(container_cgroup, "", "cgroup.freeze").read_text().strip()
    return "FROZEN" if frozen == "1" else "THAWED"


def wait_gone(path, timeout=10):
    deadline = time.monotonic() + timeout
    while Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(path).exists()


def module_client(tmp_path_factory, make, name):
    """What a client test's module fixture yields from: `make(runtime under test, work dir,
    busybox rootfs)`, a client whose daemon runs until the module ends; its close() must
    leave no process in its namespace and no cgroup under its parent."""
    rootfs = harness.build_rootfs_template(tmp_path_factory.mktemp(f"{name}-image") / "rootfs")
    client = make(harness.runtime_binary().resolve(), tmp_path_factory.mktemp(name), rootfs)
    try:
        yield client
    finally:
        left, cgroups = client.close()
    assert not left, f"processes left after the {name} daemon stopped: {left}"
    assert not cgroups, f"cgroups left after every {name} container was removed: {cgroups}"


def stop_daemon(daemon, ns, parent):
    """Stops a client's daemon (SIGTERM, then SIGKILL after 30 s), closes its namespace and
    removes the cgroup parent; returns (processes left in the namespace, cgroups left)."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(timeout=10)
    left = ns.close()
    cgroups = parent.children()
    parent.remove()
    return left, cgroups


class ContainerdDaemon:
    """A containerd of a test module's own, in a PrivateMounts namespace: its root in `work`,
    its state and sockets under `state` (a path on the namespace's tmpfs /run, where the runc
    shim also keeps its sockets, /run/containerd/s, and the runtime's state,
    /run/containerd/runc/<namespace>), `plugins` (TOML tables) added to its config, and a
    cgroup parent of the module's own for its containers."""

    def __init__(self, work, state, client, disabled_plugins=(), plugins=""):
        self.work = Path(work)
        self.ns = PrivateMounts(self.work)
        self.parent = CgroupParent(client)
        self.socket = f"{state}/containerd.sock"
        config = self.work / "config.toml"
        config.write_text(f"""\
version = 2
root = "{self.work}/root"
state = "{state}/state"
disabled_plugins = {json.dumps(list(disabled_plugins))}
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
{plugins}""")
        self.daemon = self.ns.spawn([CONTAINERD, "--config", config],
                                    self.work / "containerd.log")
        # ctr waits for a socket that is not there yet: it is called once the socket is.
        socket = Path(f"/proc/{self.ns.holder.pid}/root{self.socket}")
        deadline = time.monotonic() + CONTAINERD_START_TIMEOUT
        while not socket.exists() or \
                self.ctr("default", ["version"], check=False, timeout=10).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("containerd did not start:\n" + self.log())
            time.sleep(0.1)

    def log(self):
        return (self.work / "containerd.log").read_text(errors="replace")[-4000:]

    def ctr_command(self, namespace, args):
        return [CTR, "--address", self.socket, "--namespace", namespace, *args]

    def ctr(self, namespace, args, check=True, timeout=CLIENT_TIMEOUT):
        return self.ns.run(self.ctr_command(namespace, args), check=check, timeout=timeout)

    def runtime_state(self, namespace):
        """What is in the state root the shim gives the runtime for `namespace`."""
        return runtime_state(
            f"/proc/{self.ns.holder.pid}/root/run/containerd/runc/{namespace}")

    def close(self):
        """Stops the daemon; returns (processes left in its namespace, cgroups left)."""
        return stop_daemon(self.daemon, self.ns, self.parent)
