"""pause/resume on a host with the v1 freezer: the state podman, docker and containerd read.

Those clients check freezer.state of the container's v1 freezer cgroup after `pause`; a runtime
that froze only the unified tree's cgroup.freeze left it THAWED and they reported failure.
"""

import json
import time
from pathlib import Path

import pytest

CGROUP_ROOT = Path("/sys/fs/cgroup")
FREEZER_ROOT = CGROUP_ROOT / "freezer"

# A parent and a child that each count into their own file as fast as they can.
COUNTING = ("count() { i=0; while :; do i=$((i+1)); echo $i >/tmp/$1.new; mv /tmp/$1.new /tmp/$1;"
            " done; }; count child & count parent")

pytestmark = pytest.mark.skipif(
    not (FREEZER_ROOT / "freezer.state").exists() and not FREEZER_ROOT.is_dir(),
    reason="no v1 freezer hierarchy at /sys/fs/cgroup/freezer on this host")


def freezer_dir(pid):
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return CGROUP_ROOT / controllers / path.lstrip("/")
    pytest.fail(f"process {pid} is in no v1 freezer cgroup")


def read_count(pid, name):
    try:
        return int(Path(f"/proc/{pid}/root/tmp/{name}").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def task_state(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def wait_until(predicate, timeout=10, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def container_pids(runtime, cid):
    out = runtime.run(["ps", "--format", "json", cid]).stdout
    return json.loads(out)


@pytest.fixture
def counting(runtime, bundle):
    bundle.set(args=["sh", "-c", COUNTING], readonly=False)
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    assert wait_until(lambda: read_count(pid, "parent") > 10 and read_count(pid, "child") > 10), \
        "the counters never started"
    yield cid, pid
    runtime.run(["delete", "--force", cid], check=False)


def test_pause_freezes_the_v1_freezer_and_resume_thaws_it(runtime, counting):
    cid, pid = counting
    freezer = freezer_dir(pid) / "freezer.state"
    assert freezer.read_text().strip() == "THAWED"

    runtime.run(["pause", cid])
    assert freezer.read_text().strip() == "FROZEN"
    assert runtime.state(cid)["status"] == "paused"
    pids = container_pids(runtime, cid)
    assert pid in pids and len(pids) >= 2, f"ps while paused: {pids}"
    # Frozen by the v1 freezer, a task sleeps in the refrigerator (D); a busy loop is never R.
    states = {p: task_state(p) for p in pids}
    assert all(s == "D" for s in states.values()), f"task states while paused: {states}"
    counts = (read_count(pid, "parent"), read_count(pid, "child"))
    time.sleep(0.3)
    assert (read_count(pid, "parent"), read_count(pid, "child")) == counts, \
        "the counters advanced while paused"
    # A second pause is refused, as runc refuses it: the container is not running.
    assert runtime.run(["pause", cid], check=False).returncode != 0

    runtime.run(["resume", cid])
    assert freezer.read_text().strip() == "THAWED"
    assert runtime.state(cid)["status"] == "running"
    assert wait_until(lambda: read_count(pid, "parent") > counts[0] + 10
                      and read_count(pid, "child") > counts[1] + 10), \
        "the counters did not advance after resume"


def test_state_reads_a_freezer_frozen_by_another_client(runtime, counting):
    """What a client writes to freezer.state itself is what `state` reports, and resume undoes it."""
    cid, pid = counting
    freezer = freezer_dir(pid) / "freezer.state"
    freezer.write_text("FROZEN")
    assert wait_until(lambda: freezer.read_text().strip() == "FROZEN")
    assert runtime.state(cid)["status"] == "paused"
    runtime.run(["resume", cid])
    assert freezer.read_text().strip() == "THAWED"
    assert runtime.state(cid)["status"] == "running"


def test_kill_of_a_running_container_leaves_it_thawed(runtime, counting):
    """kill --all freezes while it signals; the freezer is THAWED again afterwards."""
    cid, pid = counting
    freezer = freezer_dir(pid) / "freezer.state"
    runtime.run(["kill", "--all", cid, "CONT"])
    assert freezer.read_text().strip() == "THAWED"
    before = read_count(pid, "parent")
    assert wait_until(lambda: read_count(pid, "parent") > before + 10)


def test_delete_force_of_a_paused_container(runtime, counting):
    cid, pid = counting
    freezer = freezer_dir(pid)
    runtime.run(["pause", cid])
    runtime.run(["delete", "--force", cid])
    assert wait_until(lambda: not freezer.exists()), f"{freezer} is left behind"
    assert cid not in runtime.list_ids()
