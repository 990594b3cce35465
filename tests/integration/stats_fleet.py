"""What the stats tests share: a fleet of real containers in every state, each doing something
that moves a figure, and a reader of `stats --format json`."""

import json
import time

import pytest

import harness

MIB = 1 << 20
# /dev/shm is a tmpfs of the container (the default spec's, 64 MiB): its pages are charged to
# the container's memory cgroup for as long as the file is there.
FILL_MIB = 40
LIMIT = 256 * MIB


def start(runtime, bundle, suffix, args, **edits):
    cid = runtime.new_id(suffix)
    bundle.set(args=["sh", "-c", args], **edits)
    config = bundle.config
    config.setdefault("linux", {}).setdefault("resources", {})["memory"] = {"limit": LIMIT}
    bundle.write()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    return cid


def stats_json(runtime, *ids):
    return {c["id"]: c for c in json.loads(runtime.run(["stats", "--no-stream", "--format",
                                                       "json", *ids]).stdout)}


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout * harness.TIME_SCALE
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def fleet(runtime, bundle):
    """burn: a CPU loop; mem: 40 MiB in /dev/shm; procs: three sleeps under sh; paused; hib
    (hibernated); stopped: exited and kept."""
    ids = {
        "burn": start(runtime, bundle, "-stats-burn", "while :; do :; done"),
        "mem": start(runtime, bundle, "-stats-mem",
                     f"head -c {FILL_MIB * MIB} /dev/zero > /dev/shm/fill && touch /tmp/filled"
                     " && exec sleep 1000", readonly=False),
        "procs": start(runtime, bundle, "-stats-procs",
                       "sleep 1000 & sleep 1000 & sleep 1000 & wait"),
        "paused": start(runtime, bundle, "-stats-paused", "exec sleep 1000"),
        "hib": start(runtime, bundle, "-stats-hib", "exec sleep 1000"),
    }
    stopped = runtime.new_id("-stats-stopped")
    bundle.set(args=["true"])
    runtime.run(["create", "--bundle", bundle.path, stopped])
    runtime.run(["start", stopped])
    runtime.wait_status(stopped, "stopped")
    ids["stopped"] = stopped
    runtime.run(["pause", ids["paused"]])
    runtime.run(["hibernate", ids["hib"]])
    harness.wait_for_file_text(bundle.rootfs / "tmp" / "filled", "")
    yield ids
    for cid in ids.values():
        runtime.run(["delete", "--force", cid], check=False)
