"""Fixtures for the integration suite.

The runtime under test is $WMRUN (default <repo>/build/tools/wmrun). The suite is kept
honest by running it against runc as well: WMRUN=/usr/bin/runc.
"""

import json
import os
import shutil
import signal

import pytest

import harness


def pytest_addoption(parser):
    parser.addini("wmrun_test_timeout", "seconds a test may run before it fails", default="60")
    parser.addini("wmrun_slow_timeout", "seconds a test marked slow may run", default="600")


def pytest_collection_modifyitems(config, items):
    if not items:
        return
    binary = harness.runtime_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.exit(f"runtime binary {binary} is missing or not executable; build it or set "
                    f"WMRUN", returncode=4)
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests create real containers: need root")
        for item in items:
            item.add_marker(skip)


def pytest_report_header(config):
    binary = harness.runtime_binary()
    kind = "runc" if binary.exists() and harness.binary_is_runc(binary) else "wmrun"
    return f"runtime under test: {binary} ({kind})"


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("wmrun_only")
    if marker is not None and harness.binary_is_runc(harness.runtime_binary()):
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else
                                                 "checks a behaviour specific to wmrun")
        pytest.skip(f"runtime is runc: {reason}")


class TimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # No pytest-timeout on the host: a SIGALRM bounds the test body. Every subprocess also has
    # its own timeout, so this only catches a loop that never ends.
    key = "wmrun_slow_timeout" if item.get_closest_marker("slow") else "wmrun_test_timeout"
    seconds = int(int(item.config.getini(key)) * harness.TIME_SCALE)

    def expired(signum, frame):
        raise TimeLimitExceeded(f"test ran longer than {seconds}s ({key} in pytest.ini)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_template = []


@pytest.fixture
def rootfs_template(tmp_path_factory):
    """The busybox rootfs, built once per pytest run and copied into every bundle."""
    if not _template:
        _template.append(harness.build_rootfs_template(
            tmp_path_factory.mktemp("template") / "rootfs"))
    return _template[0]


@pytest.fixture
def runtime(tmp_path):
    """The runtime under test, with a state root private to this test."""
    return harness.Runtime(harness.runtime_binary(), tmp_path / "state", tmp_path / "io")


@pytest.fixture
def sanitizer_reports():
    """In a sanitized run (harness.sanitizer_reports_dir), fail the test during which a wmrun
    process wrote an ASan or UBSan report, showing it; tools/run-tests lists every report
    again at the end, with those of processes that outlived their test."""
    reports = harness.sanitizer_reports_dir()
    before = set(reports.iterdir()) if reports else set()
    yield
    new = sorted(set(reports.iterdir()) - before) if reports else []
    if new:
        pytest.fail("sanitizer reports:\n" + "\n".join(
            f"--- {p}\n{p.read_text(errors='replace')[:6000]}" for p in new), pytrace=False)


@pytest.fixture(autouse=True)
def leak_check(runtime, tmp_path, sanitizer_reports):
    """Fail the test if it leaves a mount, a state dir or a cgroup behind.

    Containers still present at the end are force-deleted first (so a failed test cleans up
    too); whatever survives that is a leak of the runtime, reported and then removed by hand.
    """
    snapshot = harness.LeakSnapshot(tmp_path, runtime)
    yield
    harness.force_delete_all(runtime)
    mounts = snapshot.leaked_mounts()
    cgroups = snapshot.leaked_cgroups()
    state = snapshot.leaked_state()
    harness.unmount_all(mounts)
    harness.remove_cgroups(cgroups)
    if runtime.root.is_dir():
        for entry in runtime.root.iterdir():
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
    leaks = [f"mount: {harness.mount_point(m)}" for m in mounts]
    leaks += [f"cgroup: {c}" for c in cgroups]
    leaks += [f"state: {s}" for s in state]
    if leaks:
        pytest.fail("leaked after the test (containers were force-deleted first):\n  "
                    + "\n  ".join(leaks), pytrace=False)


@pytest.fixture
def make_config():
    """harness.make_config: returns an edited copy of an OCI config dict."""
    return harness.make_config


@pytest.fixture
def bundle(runtime, tmp_path, rootfs_template):
    """A fresh bundle: a busybox rootfs and the runtime's own `spec`, with terminal off."""
    path = tmp_path / "bundle"
    path.mkdir()
    shutil.copytree(rootfs_template, path / "rootfs", symlinks=True)
    runtime.run(["spec"], cwd=path)
    b = harness.Bundle(path, json.loads((path / "config.json").read_text()))
    b.set(terminal=False)
    return b


@pytest.fixture
def canary(tmp_path):
    """A host directory outside every rootfs, with one file in it, `secret`: what an escape
    would reach."""
    d = tmp_path / "host-canary"
    d.mkdir()
    (d / "secret").write_text("host data\n")
    return d


@pytest.fixture
def store(tmp_path):
    """An image store private to the test (--store), removed afterwards."""
    s = tmp_path / "store"
    yield s
    shutil.rmtree(s, ignore_errors=True)
