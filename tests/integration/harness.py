"""Helpers for the integration suite: the runtime wrapper, bundles, config edits, leak checks.

The suite drives the runtime only through its command line, exactly as an orchestrator
(containerd's shim, podman, CRI-O) does, so it runs unchanged against runc to prove that
each test checks real runc behaviour.
"""

import copy
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO / "build" / "tools" / "wmrun"
# A runtime built with sanitizers runs several times slower: tools/run-tests --sanitize sets
# WMRUN_TIME_SCALE, which stretches every time limit and waiting period of the tests.
TIME_SCALE = float(os.environ.get("WMRUN_TIME_SCALE", "1"))
DEFAULT_TIMEOUT = 30 * TIME_SCALE
ID_PREFIX = "wmt-"

# Applets the tests call; the rootfs gets a symlink for every applet busybox has, but these
# must exist or the suite cannot work at all.
REQUIRED_APPLETS = (
    "sh", "echo", "cat", "ls", "sleep", "true", "false", "id", "hostname", "mount", "ps",
    "kill", "readlink", "stat", "env", "pwd", "test", "touch", "grep",
)


def runtime_binary():
    return Path(os.environ.get("WMRUN", str(DEFAULT_BINARY)))


def run_binary(*args, check=True, timeout=60):
    """Runs the binary under test without --root (for commands that keep no container state);
    with check, a non-zero exit fails the test with its stderr."""
    p = subprocess.run([str(runtime_binary()), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"wmrun {' '.join(map(str, args))} failed ({p.returncode}):\n"
                             f"{p.stderr}")
    return p


_is_runc_cache = {}


def binary_is_runc(binary):
    """True when the binary under test is runc itself (decided by what it says it is)."""
    key = str(binary)
    if key not in _is_runc_cache:
        verdict = Path(os.path.realpath(binary)).name == "runc"
        if not verdict:
            try:
                out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                     timeout=10, stdin=subprocess.DEVNULL).stdout
                verdict = out.startswith("runc ")
            except (OSError, subprocess.SubprocessError):
                verdict = False
        _is_runc_cache[key] = verdict
    return _is_runc_cache[key]


def run_tool(*args, timeout=120):
    """Runs a helper program of the tests (umoci, skopeo); skips the test when it is missing."""
    import pytest
    if shutil.which(str(args[0])) is None:
        pytest.skip(f"{args[0]} is not installed")
    subprocess.run([*map(str, args)], check=True, capture_output=True, timeout=timeout)


def support_binary(name):
    """A program of tests/support (static, for busybox rootfs), from the build dir of the
    runtime under test, or from $WMRUN_SUPPORT_DIR (a sanitizer build has none)."""
    if os.environ.get("WMRUN_SUPPORT_DIR"):
        return Path(os.environ["WMRUN_SUPPORT_DIR"]) / name
    return runtime_binary().resolve().parents[1] / "tests" / "support" / name


def sanitizer_reports_dir():
    """Where the runtime under test, built with ASan+UBSan, writes its reports (log_path of
    ASAN_OPTIONS and UBSAN_OPTIONS), or None when the run is not sanitized. Set by
    tools/run-tests --sanitize --integration."""
    d = os.environ.get("WMRUN_SANITIZER_REPORTS")
    return Path(d) if d else None


def new_container_id(suffix=""):
    return ID_PREFIX + secrets.token_hex(5) + suffix


class RunFailed(AssertionError):
    pass


class Runtime:
    """Runs the runtime binary with a private --root; every id it hands out is remembered so
    the leak checker can find what a test left behind."""

    def __init__(self, binary, root, io_dir):
        self.binary = Path(binary)
        self.root = Path(root)
        self.io_dir = Path(io_dir)
        self.io_dir.mkdir(parents=True, exist_ok=True)
        self.ids = []
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def is_runc(self):
        return binary_is_runc(self.binary)

    def new_id(self, suffix=""):
        cid = new_container_id(suffix)
        with self._lock:
            self.ids.append(cid)
        return cid

    def _io_path(self, name):
        with self._lock:
            self._seq += 1
            return self.io_dir / f"{self._seq:04d}.{name}"

    def command(self, args, global_args=()):
        return [str(self.binary), "--root", str(self.root), *global_args, *map(str, args)]

    def run(self, args, input=None, check=True, timeout=DEFAULT_TIMEOUT, stdout=None,
            global_args=(), cwd=None, env=None):
        """Run one command and wait for it.

        stdout/stderr go to files, never pipes: a created or detached container inherits the
        runtime's stdio, and a pipe would keep us waiting until the container exits.
        Returns a CompletedProcess with .stdout/.stderr text and .stdout_path/.stderr_path.
        env: variables to set for the command (a value of None removes one).
        """
        out_path = Path(stdout) if stdout is not None else self._io_path("out")
        err_path = self._io_path("err")
        cmd = self.command(args, global_args)
        full_env = None
        if env is not None:
            full_env = dict(os.environ)
            for k, v in env.items():
                if v is None:
                    full_env.pop(k, None)
                else:
                    full_env[k] = v
        with open(out_path, "ab") as out, open(err_path, "wb") as err:
            start = out.tell()
            try:
                proc = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL if input is None else None,
                    input=None if input is None else input.encode(), stdout=out, stderr=err,
                    timeout=timeout, cwd=cwd, env=full_env)
            except subprocess.TimeoutExpired:
                raise RunFailed(f"{cmd} did not finish within {timeout}s; "
                                f"stderr: {err_path.read_text(errors='replace')!r}") from None
        with open(out_path, "rb") as f:
            f.seek(start)
            stdout_text = f.read().decode(errors="replace")
        res = subprocess.CompletedProcess(cmd, proc.returncode, stdout_text,
                                          err_path.read_text(errors="replace"))
        res.stdout_path = out_path
        res.stderr_path = err_path
        if check and res.returncode != 0:
            raise RunFailed(f"{cmd} exited {res.returncode}\nstdout: {res.stdout!r}\n"
                            f"stderr: {res.stderr!r}")
        return res

    def spawn(self, args, global_args=(), cwd=None):
        """Start a command without waiting (e.g. a foreground `run`). Returns the Popen with
        .stdout_path/.stderr_path attached; the caller waits with a timeout."""
        out_path = self._io_path("out")
        err_path = self._io_path("err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(self.command(args, global_args), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, cwd=cwd)
        proc.stdout_path = out_path
        proc.stderr_path = err_path
        return proc

    def state(self, cid):
        return json.loads(self.run(["state", cid]).stdout)

    def wait_status(self, cid, status, timeout=10):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            res = self.run(["state", cid], check=False)
            if res.returncode == 0:
                last = json.loads(res.stdout)
                if last["status"] == status:
                    return last
            time.sleep(0.02)
        raise AssertionError(f"container {cid} did not reach {status!r} in {timeout}s; "
                             f"last state: {last}")

    def list_ids(self):
        res = self.run(["list", "-q"], check=False)
        return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def wait_for_file_text(path, needle, timeout=10):
    """Poll a container's output file until it contains needle."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if needle in text:
            return text
        time.sleep(0.02)
    raise AssertionError(f"{path} never contained {needle!r}; it holds {text!r}")


def wait_pid_gone(pid, timeout=10):
    """True once pid has exited (gone or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


# --- rootfs and bundles ---------------------------------------------------------------------

def build_rootfs_template(dest):
    """A minimal rootfs: static busybox plus a symlink per applet, and the usual top dirs."""
    busybox = shutil.which("busybox", path="/bin:/usr/bin") or "/bin/busybox"
    dest = Path(dest)
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt", "home", "run"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True,
                             timeout=10).stdout.split()
    missing = [a for a in REQUIRED_APPLETS if a not in applets]
    if missing:
        raise RuntimeError(f"busybox lacks applets {missing}")
    for applet in applets:
        link = dest / "bin" / applet
        if applet != "busybox" and not link.exists():
            os.symlink("busybox", link)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    return dest


def make_config(config, *, args=None, env=None, add_env=None, cwd=None, hostname=None,
                readonly=None, user=None, rlimits=None, add_mounts=(), drop_namespaces=(),
                terminal=False):
    """Return an edited deep copy of an OCI config.

    user: (uid, gid) or (uid, gid, [additional gids]); rlimits: [(type, soft, hard)] replaces
    the list; add_mounts: OCI mount dicts appended; drop_namespaces: namespace types removed.
    """
    c = copy.deepcopy(config)
    proc = c.setdefault("process", {})
    proc["terminal"] = terminal
    if args is not None:
        proc["args"] = list(args)
    if env is not None:
        proc["env"] = list(env)
    if add_env:
        proc["env"] = list(proc.get("env", [])) + list(add_env)
    if cwd is not None:
        proc["cwd"] = cwd
    if hostname is not None:
        c["hostname"] = hostname
    if readonly is not None:
        c.setdefault("root", {})["readonly"] = readonly
    if user is not None:
        u = {"uid": user[0], "gid": user[1]}
        if len(user) > 2:
            u["additionalGids"] = list(user[2])
        proc["user"] = u
    if rlimits is not None:
        proc["rlimits"] = [{"type": t, "soft": s, "hard": h} for t, s, h in rlimits]
    if add_mounts:
        c["mounts"] = list(c.get("mounts", [])) + [dict(m) for m in add_mounts]
    if drop_namespaces:
        ns = c.get("linux", {}).get("namespaces", [])
        c["linux"]["namespaces"] = [n for n in ns if n["type"] not in drop_namespaces]
    return c


class Bundle:
    def __init__(self, path, base_config):
        self.path = Path(path)
        self.rootfs = self.path / "rootfs"
        self.config_path = self.path / "config.json"
        self.config = base_config

    def set(self, **edits):
        """Apply make_config edits to the bundle's config and write config.json."""
        self.config = make_config(self.config, **edits)
        self.write()
        return self.config

    def write(self):
        self.config_path.write_text(json.dumps(self.config, indent=2))


# --- leak checking ---------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _unescape_mountinfo(field):
    # mountinfo escapes space, tab, newline and backslash as octal.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
            continue
        out.append(field[i])
        i += 1
    return "".join(out)


def mount_lines():
    return Path("/proc/self/mountinfo").read_text().splitlines()


def mount_point(line):
    return _unescape_mountinfo(line.split()[4])


def cgroup_dirs():
    """Every cgroup directory (all v1 hierarchies and the unified one)."""
    found = set()
    if not CGROUP_ROOT.is_dir():
        return found
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        found.add(dirpath)
    return found


class LeakSnapshot:
    def __init__(self, tmp_root, runtime):
        self.tmp_root = str(tmp_root)
        self.runtime = runtime
        self.mounts = set(mount_lines())
        self.cgroups = cgroup_dirs()

    def _ours(self, text):
        return text == self.tmp_root or text.startswith(self.tmp_root + "/") or any(
            cid in text for cid in self.runtime.ids)

    def leaked_mounts(self):
        # Other work on this host may mount things meanwhile; only mounts under the test's
        # temp dir or named after its containers are the test's.
        return [l for l in mount_lines() if l not in self.mounts and self._ours(mount_point(l))]

    def leaked_cgroups(self):
        ids = self.runtime.ids
        return sorted(d for d in cgroup_dirs() - self.cgroups
                      if any(cid in Path(d).name for cid in ids))

    def leaked_state(self):
        root = self.runtime.root
        if not root.is_dir():
            return []
        # .exe-lower: the empty layer of the read-only overlay the runtime re-executes through.
        return sorted(str(p) for p in root.iterdir() if p.name != ".exe-lower")


def force_delete_all(runtime):
    """Delete every container the test made or the runtime still lists, running or not."""
    for cid in dict.fromkeys(runtime.list_ids() + list(runtime.ids)):
        try:
            runtime.run(["delete", "--force", cid], check=False, timeout=DEFAULT_TIMEOUT)
        except RunFailed:
            pass


def unmount_all(lines):
    for line in sorted(lines, key=lambda l: -mount_point(l).count("/")):
        subprocess.run(["umount", "-l", mount_point(line)], capture_output=True, timeout=10)


def _kill_cgroup(d):
    procs = Path(d) / "cgroup.procs"
    for _ in range(50):
        try:
            pids = [int(p) for p in procs.read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def remove_cgroups(dirs):
    for d in sorted(dirs, key=lambda p: -p.count("/")):
        frozen = Path(d) / "freezer.state"
        if frozen.exists():
            try:
                frozen.write_text("THAWED")
            except OSError:
                pass
        _kill_cgroup(d)
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
