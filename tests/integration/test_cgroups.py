"""cgroup commands: pause/resume, update and events, checked against the cgroup files."""

import json
import time
from pathlib import Path

import pytest

import harness

from harness import RunFailed

CGROUP_ROOT = Path("/sys/fs/cgroup")
MiB = 1024 * 1024


def start_detached(runtime, bundle, args=("sleep", "60"), resources=None, readonly=None):
    bundle.set(args=list(args), readonly=readonly)
    if resources is not None:
        bundle.config.setdefault("linux", {})["resources"] = resources
        bundle.write()
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    return cid


def controller_dir(pid, controller):
    """The v1 cgroup directory of `pid` for `controller`, read from /proc/PID/cgroup."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / controllers / path.lstrip("/")
    pytest.skip(f"no v1 {controller} controller on this host")


def read_cg(pid, controller, name):
    return (controller_dir(pid, controller) / name).read_text().strip()


def cgroup_frozen(pid):
    """True when the v1 freezer or the v2 (or hybrid unified) cgroup.freeze says frozen."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            base = CGROUP_ROOT / "unified" if (CGROUP_ROOT / "unified").is_dir() else CGROUP_ROOT
            f = base / rel / "cgroup.freeze"
            if f.exists() and f.read_text().strip() == "1":
                return True
        elif "freezer" in controllers.split(","):
            f = CGROUP_ROOT / controllers / rel / "freezer.state"
            if f.exists() and f.read_text().strip() == "FROZEN":
                return True
    return False


def wait_until(predicate, timeout=10, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


# --- pause / resume ---------------------------------------------------------------------------

def test_pause_stops_a_counting_loop_and_resume_restarts_it(runtime, bundle):
    cid = start_detached(runtime, bundle, args=[
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done"],
        readonly=False)
    pid = runtime.state(cid)["pid"]
    counter = Path(f"/proc/{pid}/root/tmp/count")

    def count():
        try:
            text = counter.read_text().strip()
            return int(text) if text else 0
        except (FileNotFoundError, ValueError):
            return 0

    assert wait_until(lambda: count() >= 3), "the loop never started counting"
    runtime.run(["pause", cid])
    assert runtime.state(cid)["status"] == "paused"
    assert cgroup_frozen(pid)
    frozen_at = count()
    time.sleep(0.5)
    assert count() == frozen_at, "the loop kept counting while paused"

    runtime.run(["resume", cid])
    assert runtime.state(cid)["status"] == "running"
    assert wait_until(lambda: count() > frozen_at + 3), "the loop did not resume"
    runtime.run(["delete", "--force", cid])


def test_a_frozen_cgroup_of_the_same_path_is_refused_not_joined(runtime, bundle, tmp_path):
    """Two state roots, one container id: both default to the cgroup wmrun/<id>. A create into
    the other's paused cgroup used to hang for good (its init frozen where it stood); now it
    fails at once, and the paused container keeps its cgroup and stays paused."""
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    runtime.run(["pause", cid])
    other = harness.Runtime(runtime.binary, tmp_path / "other-state", tmp_path / "other-io")
    try:
        r = other.run(["run", "--detach", "--bundle", bundle.path, cid], check=False, timeout=20)
        assert r.returncode != 0
        assert "container's cgroup unexpectedly frozen" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
        assert other.list_ids() == []
        assert runtime.state(cid)["status"] == "paused" and cgroup_frozen(pid)
        runtime.run(["resume", cid])
        assert runtime.state(cid)["status"] == "running"
    finally:
        other.run(["delete", "--force", cid], check=False)
        runtime.run(["delete", "--force", cid])


def test_resume_of_running_container_fails(runtime, bundle):
    cid = start_detached(runtime, bundle)
    assert runtime.run(["resume", cid], check=False).returncode != 0
    runtime.run(["delete", "--force", cid])


# --- update -----------------------------------------------------------------------------------

def test_update_memory_with_suffix(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    runtime.run(["update", "--memory", "64m", cid])
    assert read_cg(pid, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    # Only what is given changes: a later pids update leaves the memory limit alone.
    runtime.run(["update", "--pids-limit", "50", cid])
    assert read_cg(pid, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    runtime.run(["delete", "--force", cid])


def test_update_pids_limit(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    assert read_cg(pid, "pids", "pids.max") != "10"
    runtime.run(["update", "--pids-limit", "10", cid])
    assert read_cg(pid, "pids", "pids.max") == "10"
    runtime.run(["delete", "--force", cid])


def test_update_cpu_flags(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    runtime.run(["update", "--cpu-period", "100000", "--cpu-quota", "25000",
                 "--cpu-share", "512", cid])
    assert read_cg(pid, "cpu", "cpu.cfs_quota_us") == "25000"
    assert read_cg(pid, "cpu", "cpu.cfs_period_us") == "100000"
    assert read_cg(pid, "cpu", "cpu.shares") == "512"
    runtime.run(["delete", "--force", cid])


def test_update_resources_from_stdin(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    doc = {"memory": {"limit": 48 * MiB}, "pids": {"limit": 20}}
    runtime.run(["update", "-r", "-", cid], input=json.dumps(doc))
    assert read_cg(pid, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert read_cg(pid, "pids", "pids.max") == "20"
    runtime.run(["delete", "--force", cid])


def test_update_resources_from_file(runtime, bundle, tmp_path):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    path = tmp_path / "resources.json"
    path.write_text(json.dumps({"pids": {"limit": 33}}))
    runtime.run(["update", "--resources", path, cid])
    assert read_cg(pid, "pids", "pids.max") == "33"
    runtime.run(["delete", "--force", cid])


def test_update_rejects_bad_input(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    before = read_cg(pid, "memory", "memory.limit_in_bytes")
    assert runtime.run(["update", "--memory", "lots", cid], check=False).returncode != 0
    res = runtime.run(["update", "-r", "-", cid], input='{"memory": {"limit": "x"}}',
                      check=False)
    assert res.returncode != 0
    assert read_cg(pid, "memory", "memory.limit_in_bytes") == before
    runtime.run(["delete", "--force", cid])


def test_update_stopped_container_fails(runtime, bundle):
    cid = start_detached(runtime, bundle, args=["true"])
    runtime.wait_status(cid, "stopped")
    assert runtime.run(["update", "--pids-limit", "10", cid], check=False).returncode != 0
    runtime.run(["delete", cid])


# --- events -----------------------------------------------------------------------------------

def test_events_stats_once(runtime, bundle):
    cid = start_detached(runtime, bundle, args=["sh", "-c", "sleep 60 & sleep 60"])
    runtime.wait_status(cid, "running")
    runtime.run(["update", "--pids-limit", "40", cid])
    res = runtime.run(["events", "--stats", cid], timeout=10)
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res.stdout
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert data["memory"]["usage"]["usage"] > 0
    assert data["pids"]["current"] >= 1
    assert data["pids"]["limit"] == 40
    assert data["cpu"]["usage"]["total"] > 0
    runtime.run(["delete", "--force", cid])


def test_events_stats_count_hits_of_the_memory_limit(runtime, bundle):
    # Writing more than the limit through the page cache makes the kernel reclaim at the limit
    # (no OOM: the cache can go), and each time it counts a hit: failcnt.
    cid = start_detached(runtime, bundle, readonly=False, resources={"memory": {"limit": 16 << 20}},
                         args=["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=48 && "
                                           "echo done > /tmp/ok; sleep 60"])
    harness.wait_for_file_text(bundle.rootfs / "tmp" / "ok", "done", timeout=30)
    data = json.loads(runtime.run(["events", "--stats", cid], timeout=10).stdout)["data"]
    usage = data["memory"]["usage"]
    assert usage["limit"] == 16 << 20
    assert usage["failcnt"] > 0
    runtime.run(["delete", "--force", cid])


def test_events_of_stopped_container_fails(runtime, bundle):
    cid = start_detached(runtime, bundle, args=["true"])
    runtime.wait_status(cid, "stopped")
    assert runtime.run(["events", "--stats", cid], check=False).returncode != 0
    runtime.run(["delete", cid])


def read_events(path):
    events = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def test_events_streams_stats_and_exits_when_container_stops(runtime, bundle):
    cid = start_detached(runtime, bundle)
    proc = runtime.spawn(["events", "--interval", "200ms", cid])
    try:
        assert wait_until(lambda: len(read_events(proc.stdout_path)) >= 2, timeout=10)
        runtime.run(["kill", cid, "KILL"])
        if not runtime.is_runc:  # runc 1.1's events keeps running after the container stops
            assert proc.wait(timeout=10) == 0, proc.stderr_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = read_events(proc.stdout_path)
    assert all(e["type"] == "stats" and e["id"] == cid for e in events)
    assert events[0]["data"]["pids"]["current"] >= 1
    runtime.run(["delete", "--force", cid])


@pytest.mark.slow
def test_events_reports_oom_kill(runtime, bundle):
    # The shell stays alive: only `tail`, which buffers /dev/zero without end, is OOM-killed.
    resources = {"memory": {"limit": 32 * MiB}}
    if (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists():
        resources["memory"]["swap"] = 32 * MiB  # no swapping out of the limit
    cid = start_detached(runtime, bundle, resources=resources,
                         args=["sh", "-c", "sleep 1; tail /dev/zero; sleep 60"])
    pid = runtime.state(cid)["pid"]
    assert read_cg(pid, "memory", "memory.limit_in_bytes") == str(32 * MiB)
    proc = runtime.spawn(["events", "--interval", "30s", cid])
    try:
        ooms = wait_until(
            lambda: [e for e in read_events(proc.stdout_path) if e["type"] == "oom"],
            timeout=30)
        assert ooms, (f"no oom event; stdout: {proc.stdout_path.read_text()!r} "
                      f"stderr: {proc.stderr_path.read_text()!r}")
        assert ooms[0] == {"type": "oom", "id": cid}
        assert proc.poll() is None, "events exited while the container still runs"
        assert runtime.state(cid)["status"] == "running"
        runtime.run(["kill", cid, "KILL"])
        if not runtime.is_runc:
            assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    runtime.run(["delete", "--force", cid])


# --- the VM's cgroup v2 behaviours (tests/vm/tests/wmrun-*.sh), here through v1 -------------

def test_pids_limit_stops_a_fork_loop(runtime, bundle):
    cid = start_detached(runtime, bundle, resources={"pids": {"limit": 8}})
    # The fork loop runs in an exec'd shell, which gives up at the first failed fork.
    loop = runtime.run(["exec", cid, "sh", "-c", "for i in $(seq 1 40); do sleep 60 & done"],
                       check=False)
    assert loop.returncode != 0 and "can't fork" in loop.stderr, loop.stderr
    pids = json.loads(runtime.run(["ps", "-f", "json", cid]).stdout)
    assert 2 <= len(pids) <= 8, pids  # the init and the sleeps that got a pid
    data = json.loads(runtime.run(["events", "--stats", cid]).stdout)["data"]
    assert data["pids"]["limit"] == 8 and data["pids"]["current"] <= 8
    runtime.run(["delete", "--force", cid])


def test_cpu_quota_throttles_a_busy_loop(runtime, bundle):
    quota, period = 20000, 100000  # a fifth of one cpu
    cid = start_detached(runtime, bundle, args=["sh", "-c", "while :; do :; done"],
                         resources={"cpu": {"quota": quota, "period": period}})

    def usage():
        data = json.loads(runtime.run(["events", "--stats", cid]).stdout)["data"]
        return data["cpu"]["usage"]["total"], data["cpu"]["throttling"]

    time.sleep(0.5)
    u0, t0 = usage()
    began = time.monotonic()
    time.sleep(3)
    u1, t1 = usage()
    wall = time.monotonic() - began
    used = (u1 - u0) / 1e9
    allowed = wall * quota / period
    assert 0.8 * allowed <= used <= 1.2 * allowed, (used, allowed)
    assert t1.get("throttledPeriods", 0) > t0.get("throttledPeriods", 0)
    runtime.run(["delete", "--force", cid])


def test_device_rules_deny_dev_null_and_allow_dev_zero(runtime, bundle, tmp_path):
    cid = start_detached(runtime, bundle)
    assert runtime.run(["exec", cid, "sh", "-c", "echo x > /dev/null"]).returncode == 0
    rules = {"devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 136, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"}]}
    (tmp_path / "devices.json").write_text(json.dumps(rules))
    runtime.run(["update", "--resources", tmp_path / "devices.json", cid])
    denied = runtime.run(["exec", cid, "sh", "-c", "echo x > /dev/null"], check=False)
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    allowed = runtime.run(["exec", cid, "sh", "-c", "head -c 4 /dev/zero | wc -c"])
    assert allowed.stdout.strip() == "4"
    runtime.run(["delete", "--force", cid])


def test_kill_all_leaves_no_process(runtime, bundle):
    cid = start_detached(runtime, bundle, args=["sh", "-c", "sleep 60 & sleep 60 & sleep 60 & "
                                                            "trap '' TERM; wait"])
    deadline = time.monotonic() + 10
    while len(pids := json.loads(runtime.run(["ps", "-f", "json", cid]).stdout)) < 4:
        assert time.monotonic() < deadline, pids
        time.sleep(0.05)
    runtime.run(["kill", "--all", cid, "KILL"])
    for pid in pids:
        harness.wait_pid_gone(pid)
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])
