"""`update` as docker and containerd send it: zero means "leave alone", as in runc, and an update
applies whole or not at all (on a refused write the values written before it are put back).

docker sends 0 for each field it does not change (cpu quota, period, shares, blockIO weight...);
a 0 written to cpu.cfs_quota_us is refused with EINVAL, which left the update half applied.
"""

import json
import time
from pathlib import Path

import pytest

from test_cgroups import controller_dir as v1_dir

MiB = 1024 * 1024

# The cgroup files each test compares before and after, per v1 controller.
WATCHED = {
    "memory": ["memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "devices": ["devices.list"],
}

# What docker's daemon hands containerd for `docker update --memory 96m` (and containerd's shim
# passes to `runtime update --resources -`): every field it leaves alone is 0.
DOCKER_MEMORY_UPDATE = {
    "memory": {"limit": 96 * MiB, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
    "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0,
            "cpus": "", "mems": ""},
    "blockIO": {"weight": 0},
    "pids": {"limit": 0},
}

# Limits the container starts with, so that "unchanged" means something.
INITIAL = {
    "memory": {"limit": 512 * MiB, "reservation": 256 * MiB},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    "pids": {"limit": 100},
}


def snapshot(pid):
    out = {}
    for controller, files in WATCHED.items():
        d = v1_dir(pid, controller)
        for f in files:
            if (d / f).exists():
                out[f] = (d / f).read_text().strip()
    return out


@pytest.fixture
def limited(runtime, bundle):
    """A running container with INITIAL limits; its pid."""
    def start(args=("sleep", "600")):
        bundle.set(args=list(args))
        bundle.config.setdefault("linux", {})["resources"] = json.loads(json.dumps(INITIAL))
        bundle.write()
        cid = runtime.new_id()
        runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
        started.append(cid)
        return cid, runtime.state(cid)["pid"]
    started = []
    yield start
    for cid in started:
        runtime.run(["delete", "--force", cid], check=False)


def assert_only_memory_changed(before, after, limit):
    assert after.pop("memory.limit_in_bytes") == str(limit)
    before.pop("memory.limit_in_bytes")
    assert after == before


def update_json(runtime, cid, doc, check=True):
    return runtime.run(["update", "--resources", "-", cid], input=json.dumps(doc),
                       check=check)


def test_docker_update_with_zeros_changes_only_the_memory(runtime, limited):
    cid, pid = limited()
    before = snapshot(pid)
    update_json(runtime, cid, DOCKER_MEMORY_UPDATE)
    assert_only_memory_changed(before, snapshot(pid), 96 * MiB)


def test_update_flags_of_zero_leave_the_limits_alone(runtime, limited):
    cid, pid = limited()
    before = snapshot(pid)
    runtime.run(["update", "--memory", "80m", "--memory-swap", "0", "--memory-reservation", "0",
                 "--cpu-quota", "0", "--cpu-period", "0", "--cpu-shares", "0",
                 "--cpu-rt-period", "0", "--cpu-rt-runtime", "0", "--pids-limit", "0",
                 "--blkio-weight", "0", cid])
    assert_only_memory_changed(before, snapshot(pid), 80 * MiB)


def test_a_quota_alone_keeps_the_period(runtime, limited):
    cid, pid = limited()
    update_json(runtime, cid, {"cpu": {"quota": 30000, "period": 0}})
    cpu = v1_dir(pid, "cpu")
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "30000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_a_refused_pids_write_puts_every_earlier_value_back(runtime, limited):
    cid, pid = limited()
    before = snapshot(pid)
    # Memory and cpu are written before pids; the kernel refuses a pids.max above
    # PID_MAX_LIMIT (4194304) with EINVAL.
    res = update_json(runtime, cid, {
        "memory": {"limit": 300 * MiB, "reservation": 100 * MiB, "swappiness": 10},
        "cpu": {"shares": 2048, "quota": 20000, "period": 50000},
        "pids": {"limit": 100000000},
    }, check=False)
    assert res.returncode != 0
    assert "pids.max" in res.stderr
    assert snapshot(pid) == before


def test_a_memory_limit_below_usage_puts_the_devices_back(runtime, limited):
    """devices are written before memory; the kernel refuses a limit below what tmpfs holds
    (EBUSY, nothing to reclaim without swap), and the device list is restored."""
    if any(line.split()[0] != "Filename" for line in Path("/proc/swaps").read_text().splitlines()):
        pytest.skip("the host has swap: a low memory limit would be met by swapping")
    cid, pid = limited(["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 "
                        "2>/dev/null; echo filled >/dev/shm/done; exec sleep 600"])
    done = Path(f"/proc/{pid}/root/dev/shm/done")

    deadline = time.monotonic() + 10
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.exists(), "the container did not fill /dev/shm"
    before = snapshot(pid)
    res = update_json(runtime, cid, {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        "memory": {"limit": 4 * MiB},
    }, check=False)
    assert res.returncode != 0
    assert "memory.limit_in_bytes" in res.stderr
    assert snapshot(pid) == before


def test_out_of_range_values_are_refused_before_anything_is_written(runtime, limited):
    cid, pid = limited()
    before = snapshot(pid)
    for doc, field in [
        ({"memory": {"limit": 200 * MiB}, "cpu": {"quota": 500}}, "quota"),
        ({"memory": {"limit": 200 * MiB}, "cpu": {"period": 5000000}}, "period"),
        ({"pids": {"limit": 50}, "memory": {"swappiness": 101}}, "swappiness"),
        ({"pids": {"limit": 50}, "memory": {"limit": 100 * MiB, "swap": 50 * MiB}}, "swap"),
    ]:
        res = update_json(runtime, cid, doc, check=False)
        assert res.returncode != 0, doc
        assert field in res.stderr, res.stderr
        assert snapshot(pid) == before, doc
