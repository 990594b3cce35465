"""NOTIFY_SOCKET (sd_notify) through a container, as podman's systemd integration uses it with
runc: the container gets a socket of its own, `start` returns once the process sends READY=1,
and the caller's socket receives READY=1 with MAINPID set to the container's init.

The process is tests/support/notify-ready (static), which sends STATUS=starting, waits, and
sends READY=1.
"""

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

import harness


@pytest.fixture
def notify_bundle(bundle):
    binary = harness.support_binary("notify-ready")
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build the tests/support targets")
    shutil.copy2(binary, bundle.rootfs / "bin" / "notify-ready")
    return bundle


@pytest.fixture
def host_socket(tmp_path):
    path = tmp_path / "host-notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(10)
    yield path, s
    s.close()


def messages(sock):
    out = []
    while True:
        data = sock.recv(4096).decode()
        out.append(data)
        if "READY=1" in data.split("\n"):
            return out


@pytest.mark.wmrun_only("runc 1.1 needs systemd's socket path conventions for its own checks")
def test_start_waits_for_ready_and_passes_it_on(runtime, notify_bundle, host_socket):
    path, sock = host_socket
    notify_bundle.set(args=["/bin/notify-ready", "500"])
    cid = runtime.new_id("notify")
    env = {"NOTIFY_SOCKET": str(path)}
    runtime.run(["create", "--bundle", notify_bundle.path, cid], env=env)
    pid = runtime.state(cid)["pid"]
    began = time.monotonic()
    runtime.run(["start", cid], env=env)
    # start returned only after the process's READY=1, which came 500 ms after it ran.
    assert time.monotonic() - began >= 0.45
    got = messages(sock)
    assert got[0] == "STATUS=starting"
    lines = got[-1].split("\n")
    assert "READY=1" in lines and f"MAINPID={pid}" in lines
    # Inside, the process saw the container's own socket, not the host's path.
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"NOTIFY_SOCKET=/run/notify/notify.sock" in environ
    runtime.run(["delete", "--force", cid])


@pytest.mark.wmrun_only("as above")
def test_run_detached_returns_when_ready(runtime, notify_bundle, host_socket):
    path, sock = host_socket
    notify_bundle.set(args=["/bin/notify-ready", "300"])
    cid = runtime.new_id("notify")
    began = time.monotonic()
    runtime.run(["run", "-d", "--bundle", notify_bundle.path, cid],
                env={"NOTIFY_SOCKET": str(path)})
    assert time.monotonic() - began >= 0.25
    assert any("READY=1" in m for m in messages(sock))
    runtime.run(["delete", "--force", cid])


def test_without_notify_socket_nothing_changes(runtime, notify_bundle):
    notify_bundle.set(args=["sh", "-c", "echo ${NOTIFY_SOCKET:-unset}"])
    cid = runtime.new_id("notify")
    res = runtime.run(["run", "--bundle", notify_bundle.path, cid], env={"NOTIFY_SOCKET": None})
    assert res.stdout.strip() == "unset"
