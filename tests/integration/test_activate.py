"""hibernate, wake and activate (wake-on-connection) against real containers.

The app is tests/support/listen-server, a static socket-activated server built with the
runtime: it greets each connection with "hello <fd name>" and echoes what it reads.
"""

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only("hibernate, wake and activate are wmrun's own commands")


def listen_server_binary():
    path = os.environ.get("LISTEN_SERVER")
    if path:
        return Path(path)
    return harness.support_binary("listen-server")


@pytest.fixture
def server_bundle(bundle):
    binary = listen_server_binary()
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build the tests/support targets or set LISTEN_SERVER")
    shutil.copy2(binary, bundle.rootfs / "bin" / "listen-server")
    # No network namespace: the sockets come from the activator, and sparing the netns keeps
    # each cycle fast. Everything else stays as `spec` wrote it, seccomp profile included.
    bundle.set(args=["/bin/listen-server"], drop_namespaces=("network",))
    return bundle


class Activator:
    """`wmrun activate --events` in the background; its events are read from a pipe."""

    def __init__(self, runtime, cid, bundle, listen, *extra):
        self.events = queue.Queue()
        cmd = runtime.command(["activate", "--events", "--bundle", bundle.path,
                               *[a for spec in listen for a in ("--listen", spec)],
                               *extra, cid])
        self.err_path = runtime.io_dir / f"activate-{cid}.err"
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.listen = self.wait("listen")
        self.created = self.wait("created")

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def wait(self, kind, timeout=10):
        """The next event of `kind`; events of other kinds before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event in {timeout}s; stderr: "
                                     f"{self.err_path.read_text(errors='replace')!r}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                raise AssertionError(f"activator exited ({self.proc.wait()}) before {kind!r}; "
                                     f"stderr: {self.err_path.read_text(errors='replace')!r}")
            if event["type"] == kind:
                return event

    def no_event(self, kind, seconds):
        """Fails if an event of `kind` arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return
            assert event is not None and event["type"] != kind, f"unexpected {event}"

    @property
    def port(self):
        return next(s["port"] for s in self.listen["sockets"] if s["listen"].startswith("tcp:"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.err.close()
        return rc


@pytest.fixture
def activators():
    started = []
    yield started
    for a in started:
        a.stop()


def talk(port=None, path=None, message=b"ping\n", timeout=10):
    """Connects, returns (greeting, echo)."""
    if path is not None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(str(path))
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with s:
        f = s.makefile("rb")
        greeting = f.readline()
        s.sendall(message)
        echo = f.readline()
    return greeting.decode(), echo


def test_first_connection_starts_the_container(runtime, server_bundle, activators, tmp_path):
    cid = runtime.new_id("act")
    sock = tmp_path / "app.sock"
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0", f"unix:{sock}"])
    activators.append(a)
    names = [s["name"] for s in a.listen["sockets"]]
    assert names == [f"tcp-{a.port}", "app.sock"]
    # Prepared, not started: the app has not run yet.
    assert runtime.state(cid)["status"] == "created"

    greeting, echo = talk(port=a.port)
    assert greeting == f"hello tcp-{a.port}\n"
    assert echo == b"ping\n"
    a.wait("start")
    assert runtime.state(cid)["status"] == "running"
    # The second socket is the app's fd 4, named as LISTEN_FDNAMES says.
    greeting, _ = talk(path=sock)
    assert greeting == "hello app.sock\n"
    # The app runs as the container's pid 1 and saw LISTEN_PID=1 (it refuses to run otherwise).
    pid = runtime.state(cid)["pid"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"LISTEN_FDS=2" in environ and b"LISTEN_PID=1" in environ
    assert a.stop() == 0


def test_idle_hibernates_and_the_next_connection_wakes(runtime, server_bundle, activators):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "100ms")
    activators.append(a)
    talk(port=a.port)
    a.wait("start")
    a.wait("hibernate")
    state = runtime.state(cid)
    assert state["status"] == "paused" and state.get("hibernated") is True
    listing = runtime.run(["list"]).stdout
    assert any(line.split()[:3] == [cid, str(state["pid"]), "hibernated"]
               for line in listing.splitlines())

    greeting, echo = talk(port=a.port, message=b"after wake\n")
    assert greeting.startswith("hello tcp-") and echo == b"after wake\n"
    a.wait("wake")
    state = runtime.state(cid)
    assert state["status"] in ("running", "paused")  # it may be idle again already
    assert state["pid"] == a.created["pid"]  # thawed, not restarted


def test_an_open_connection_keeps_it_awake(runtime, server_bundle, activators):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "100ms")
    activators.append(a)
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        s.makefile("rb").readline()
        a.wait("start")
        # Held open for several idle timeouts: the app must not be frozen under it.
        a.no_event("hibernate", 0.6)
        s.sendall(b"still here\n")
        assert s.recv(100) == b"still here\n"
    a.wait("hibernate")


def test_stop_after_stops_and_the_next_connection_starts_again(runtime, server_bundle,
                                                               activators):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "50ms",
                  "--stop-after", "300ms", "--stop-timeout", "2s")
    activators.append(a)
    talk(port=a.port)
    first = a.wait("start")
    a.wait("hibernate")
    stop = a.wait("stop")
    assert stop["status"] == 0  # SIGTERM after the thaw, handled by the app
    again = a.wait("created")
    assert runtime.state(cid)["status"] == "created"
    assert again["pid"] != a.created["pid"]
    greeting, _ = talk(port=a.port)
    assert greeting.startswith("hello")
    assert a.wait("start")["time"] >= first["time"]


def test_sigterm_to_the_activator_leaves_a_clean_state(runtime, server_bundle, activators):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "50ms")
    talk(port=a.port)
    a.wait("hibernate")
    pid = runtime.state(cid)["pid"]
    assert a.stop() == 0
    # The frozen app was thawed, stopped and deleted: no process, no state (the leak checker
    # checks mounts and cgroups after the test).
    harness.wait_pid_gone(pid)
    assert cid not in runtime.list_ids()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", a.port), timeout=2)


@pytest.mark.slow
def test_a_thousand_idle_wake_cycles_lose_no_connection(runtime, server_bundle, activators):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "5ms")
    activators.append(a)
    talk(port=a.port)
    a.wait("start")
    clients, cycles = 4, 1000
    failures = []

    def client(n, cycle):
        try:
            greeting, echo = talk(port=a.port, message=f"{cycle}:{n}\n".encode())
            if not greeting.startswith("hello") or echo != f"{cycle}:{n}\n".encode():
                failures.append((cycle, n, greeting, echo))
        except OSError as e:
            failures.append((cycle, n, repr(e)))

    for cycle in range(cycles):
        a.wait("hibernate")
        threads = [threading.Thread(target=client, args=(n, cycle)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        a.wait("wake")
        assert not failures, failures[:5]
    assert a.stop() == 0


def test_hibernate_and_wake_commands(runtime, bundle):
    cid = runtime.new_id("hib")
    # 32 MiB of page cache (a file in the rootfs on the host's disk), then a counting loop.
    bundle.set(args=["sh", "-c", "head -c 33554432 /dev/zero > /tmp/fill && cat /tmp/fill >"
                                 " /dev/null && while :; do echo x >> /tmp/count; sleep 0.02; done"],
               readonly=False)
    count = bundle.rootfs / "tmp" / "count"
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    harness.wait_for_file_text(count, "x")
    out = json.loads(runtime.run(["hibernate", "--json", cid]).stdout)
    assert out["id"] == cid and out["reclaimed"] is True
    # The page cache went back to the host: at least 16 of the 32 MiB.
    assert out["memoryBefore"] >= 32 << 20, out
    assert out["memoryAfter"] < out["memoryBefore"] - (16 << 20), out
    state = runtime.state(cid)
    assert state["status"] == "paused" and state["hibernated"] is True
    # Frozen for real, not just flagged: the loop does not advance.
    before = count.stat().st_size
    time.sleep(0.3)
    assert count.stat().st_size == before
    bad = runtime.run(["pause", cid], check=False)
    assert bad.returncode != 0 and "hibernated" in bad.stderr
    runtime.run(["wake", cid])
    state = runtime.state(cid)
    assert state["status"] == "running" and "hibernated" not in state
    deadline = time.monotonic() + 5
    while count.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count.stat().st_size > before
    # Wake of a running container is an error naming its status.
    bad = runtime.run(["wake", cid], check=False)
    assert bad.returncode != 0 and "running" in bad.stderr
    runtime.run(["delete", "--force", cid])
    bad = runtime.run(["hibernate", cid], check=False)
    assert bad.returncode != 0 and cid in bad.stderr


def test_activate_refuses_a_running_container(runtime, server_bundle):
    cid = runtime.new_id("act")
    server_bundle.set(args=["sleep", "100"])
    runtime.run(["run", "-d", "--bundle", server_bundle.path, cid])
    res = runtime.run(["activate", "--listen", "tcp:127.0.0.1:0", cid], check=False, timeout=20)
    assert res.returncode != 0
    assert "container is running" in res.stderr
    assert res.stderr.count("\n") == 1
    assert runtime.state(cid)["status"] == "running"


def test_activate_an_image_container_keeps_its_volume_layer(runtime, rootfs_template, tmp_path,
                                                            activators):
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed")
    rootfs = tmp_path / "image-rootfs"
    shutil.copytree(rootfs_template, rootfs, symlinks=True)
    shutil.copy2(listen_server_binary(), rootfs / "bin" / "listen-server")
    layout, store = tmp_path / "layout", tmp_path / "store"
    layer = tmp_path / "layer.tar"
    subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-cf",
                    layer, "."], check=True)
    for cmd in (["umoci", "init", "--layout", layout],
                ["umoci", "new", "--image", f"{layout}:app"],
                ["umoci", "raw", "add-layer", "--image", f"{layout}:app", layer],
                ["umoci", "config", "--image", f"{layout}:app", "--config.cmd",
                 "/bin/listen-server"]):
        subprocess.run(list(map(str, cmd)), check=True, capture_output=True, timeout=120)
    runtime.run(["image", "import", "--store", store, "--name", "app", f"{layout}:app"])

    cid = runtime.new_id("act")
    a = Activator(runtime, cid, harness.Bundle(tmp_path, {}), ["tcp:127.0.0.1:0"],
                  "--image", "app", "--store", store, "--idle-timeout", "50ms",
                  "--stop-after", "400ms", "--stop-timeout", "2s")
    activators.append(a)
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        assert s.makefile("rb").readline() == f"hello tcp-{a.port}\n".encode()
        # The open connection keeps it awake for the exec.
        runtime.run(["exec", cid, "sh", "-c", "echo kept > /marker"])
    a.wait("stop")
    a.wait("created")
    # Re-created from the image with the same volume layer: the write is still there.
    rootfs_path = Path(runtime.state(cid)["rootfs"])
    assert (rootfs_path / "marker").read_text() == "kept\n"
    assert (store / "containers" / cid / "upper" / "marker").is_file()
    assert talk(port=a.port)[0].startswith("hello")
    assert a.stop() == 0
    assert cid not in runtime.list_ids()
