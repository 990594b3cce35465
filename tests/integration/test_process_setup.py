"""Process and namespace setup beyond the lifecycle: hooks, sysctl, keyrings, inherited fds,
the console socket and the pidfd socket."""

import array
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from harness import wait_for_file_text


def run_fg(runtime, bundle, args, **edits):
    bundle.set(args=list(args), **edits)
    return runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)


def hook_script(tmp_path, name):
    """A hook that appends its stage name and the state's id and status to a log."""
    log = tmp_path / "hooks.log"
    script = tmp_path / f"{name}.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"state=$(cat)\n"
        f"echo \"{name} $state\" >> {log}\n")
    script.chmod(0o755)
    return {"path": str(script)}, log


def test_hooks_run_in_order_with_the_state_on_stdin(runtime, bundle, tmp_path):
    hooks = {}
    log = None
    for stage in ("createRuntime", "createContainer", "startContainer", "poststart", "poststop"):
        hook, log = hook_script(tmp_path, stage)
        hooks[stage] = [hook]
    # startContainer runs inside the container: give it the script and the log through binds.
    bundle.set(args=["true"], add_mounts=[
        {"destination": str(tmp_path), "type": "bind", "source": str(tmp_path),
         "options": ["rbind", "rw"]}])
    bundle.config["hooks"] = hooks
    bundle.write()
    # The busybox rootfs has /bin/sh for the startContainer hook, which runs in the container.
    cid = runtime.new_id()
    res = runtime.run(["run", "--bundle", bundle.path, cid], check=False)
    assert res.returncode == 0, res.stderr
    lines = log.read_text().splitlines()
    stages = [l.split(" ", 1)[0] for l in lines]
    assert stages == ["createRuntime", "createContainer", "startContainer", "poststart",
                      "poststop"], lines
    for line in lines:
        state = json.loads(line.split(" ", 1)[1])
        assert state["id"] == cid and state["bundle"] == str(bundle.path)
    assert json.loads(lines[0].split(" ", 1)[1])["pid"] > 0


def test_failing_create_runtime_hook_fails_create_and_cleans_up(runtime, bundle, tmp_path):
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\nexit 7\n")
    script.chmod(0o755)
    bundle.set(args=["true"])
    bundle.config["hooks"] = {"createRuntime": [{"path": str(script)}]}
    bundle.write()
    cid = runtime.new_id()
    res = runtime.run(["create", "--bundle", bundle.path, cid], check=False)
    assert res.returncode != 0
    assert "createRuntime" in res.stderr and "exit status 7" in res.stderr
    assert runtime.list_ids() == []


def test_hook_past_its_timeout_is_killed_and_fails_create(runtime, bundle, tmp_path):
    script = tmp_path / "slow.sh"
    marker = tmp_path / "finished"
    script.write_text(f"#!/bin/sh\nsleep 30\ntouch {marker}\n")
    script.chmod(0o755)
    bundle.set(args=["true"])
    bundle.config["hooks"] = {"prestart": [{"path": str(script), "timeout": 1}]}
    bundle.write()
    cid = runtime.new_id()
    start = time.monotonic()
    res = runtime.run(["create", "--bundle", bundle.path, cid], check=False, timeout=20)
    assert res.returncode != 0
    assert time.monotonic() - start < 10
    assert "prestart" in res.stderr and "timed out after 1s" in res.stderr, res.stderr
    assert runtime.list_ids() == []
    time.sleep(0.5)
    assert not marker.exists()


def test_sysctl_is_written_in_the_container(runtime, bundle):
    bundle.set(args=["cat", "/proc/sys/net/ipv4/ip_forward"])
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert res.stdout.strip() == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host = f.read().strip()
    # The container has its own network namespace: the host's value is untouched by it.
    assert host in ("0", "1")


@pytest.mark.wmrun_only("runc names the session keyring _ses.<id>")
def test_container_gets_its_own_session_keyring(runtime, bundle):
    cid = runtime.new_id()
    bundle.set(args=["sleep", "30"])
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    with open("/proc/keys") as f:
        assert any(l.split()[-2].rstrip(":") == cid for l in f if "keyring" in l)
    other = runtime.new_id()
    runtime.run(["run", "--detach", "--no-new-keyring", "--bundle", bundle.path, other])
    with open("/proc/keys") as f:
        assert not any(l.split()[-2].rstrip(":") == other for l in f if "keyring" in l)


def test_only_stdio_and_preserved_fds_reach_the_container(runtime, bundle, tmp_path):
    bundle.set(args=["sh", "-c", "ls /proc/self/fd"])
    # The shell opens fd 3 (preserved) and fd 4 (not preserved) before it execs the runtime.
    cmd = " ".join([str(runtime.binary), "--root", str(runtime.root), "run",
                    "--preserve-fds", "1", "--bundle", str(bundle.path), runtime.new_id()])
    script = f"exec 3>{tmp_path}/preserved 4>{tmp_path}/leaked; exec {cmd}"
    res = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    fds = sorted(int(x) for x in res.stdout.split())
    # 0-2, the preserved 3, and the fd ls itself opens on /proc/self/fd; never 4.
    assert fds[:4] == [0, 1, 2, 3] and 4 not in fds[:4] and len(fds) == 5, fds


def recv_fd(conn):
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(16, socket.CMSG_LEN(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:fds.itemsize])
    return fds[0]


class FdReceiver:
    """A unix socket that accepts one connection and keeps the fd sent over it (SCM_RIGHTS),
    as a caller of --console-socket or --pidfd-socket does."""

    def __init__(self, path):
        self.path = str(path)
        self.fd = None
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.thread = threading.Thread(target=self._accept)
        self.thread.start()

    def _accept(self):
        conn, _ = self.server.accept()
        self.fd = recv_fd(conn)
        conn.close()

    def wait(self, timeout=10):
        self.thread.join(timeout)
        self.server.close()
        return self.fd


def read_pty_until(master, needle):
    """What the pty master gives until `needle` shows or the slave side closes; closes it."""
    out = b""
    try:
        while needle.encode() not in out:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass  # EIO: every slave fd closed
    finally:
        os.close(master)
    return out.decode(errors="replace")


def pidfd_pid(pidfd):
    """The pid a pidfd refers to (its fdinfo's Pid line); closes it."""
    with open(f"/proc/self/fdinfo/{pidfd}") as f:
        info = dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)
    os.close(pidfd)
    return int(info["Pid"])


def test_console_socket_receives_the_pty_master(runtime, bundle, tmp_path):
    receiver = FdReceiver(tmp_path / "console.sock")
    bundle.set(args=["sh", "-c", "tty; echo on-the-console"], terminal=True)
    cid = runtime.new_id()
    runtime.run(["create", "--console-socket", receiver.path, "--bundle", bundle.path, cid])
    master = receiver.wait()
    assert master is not None
    runtime.run(["start", cid])
    text = read_pty_until(master, "on-the-console")
    assert "/dev/pts/" in text and "on-the-console" in text, text
    runtime.run(["delete", "--force", cid])


def test_exec_tty_sends_its_own_pty_master(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    receiver = FdReceiver(tmp_path / "exec-console.sock")
    try:
        runtime.run(["exec", "--tty", "--detach", "--console-socket", receiver.path, cid,
                     "sh", "-c", "tty; echo from-exec"])
        master = receiver.wait()
        assert master is not None
        text = read_pty_until(master, "from-exec")
        assert "/dev/pts/" in text and "from-exec" in text, text
    finally:
        runtime.run(["delete", "--force", cid])


def test_pidfd_socket_receives_the_init_pidfd(runtime, bundle, tmp_path):
    receiver = FdReceiver(tmp_path / "pidfd.sock")
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--pidfd-socket", receiver.path, "--bundle", bundle.path,
                 cid])
    pidfd = receiver.wait()
    assert pidfd is not None
    assert pidfd_pid(pidfd) == runtime.state(cid)["pid"]
    runtime.run(["delete", "--force", cid])


def test_exec_pidfd_socket_receives_the_process_pidfd(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    receiver = FdReceiver(tmp_path / "exec-pidfd.sock")
    pid_file = tmp_path / "exec.pid"
    try:
        runtime.run(["exec", "--detach", "--pidfd-socket", receiver.path, "--pid-file",
                     pid_file, cid, "sleep", "20"])
        pidfd = receiver.wait()
        assert pidfd is not None
        pid = pidfd_pid(pidfd)
        # The exec'd process, not the container's init.
        assert pid == int(pid_file.read_text())
        assert pid != runtime.state(cid)["pid"]
    finally:
        runtime.run(["delete", "--force", cid])
