"""Automatic snapshots: `wmrun snapshot policy` (a container's schedule, repository, retention,
tags and excludes, kept in its state and gone with it), `wmrun snapshot auto` (one pass over
the containers whose snapshot is due, retention of their automatic snapshots only, then a
prune), the snapshots `wmrun activate` takes when it hibernates or stops a container, and the
recovery of an --image container from its newest automatic snapshot after a crash."""

import json
import os
import queue
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import clients
import harness
from test_activate import Activator, activators, server_bundle, talk  # noqa: F401 (fixtures)
from test_image_run import import_image, run_image
from test_snapshot_container import WRITER, check_consistent, layout, log_lines  # noqa: F401
from test_snapshot_container import repo  # noqa: F401 (fixture)
from test_snapshot_crash import killed_run, seeded_rng

pytestmark = pytest.mark.wmrun_only(reason="snapshot policies and passes are wmrun's own")

TIMEOUT = 120


# --- helpers ----------------------------------------------------------------------------------

def policy(runtime, cid, *args, check=True, cwd=None):
    return runtime.run(["snapshot", "policy", cid, *args], check=check, cwd=cwd)


def set_policy(runtime, cid, repo, every, *extra):
    res = policy(runtime, cid, "--repo", repo, "--every", every, *extra)
    assert res.stdout == "", "setting a policy prints nothing"


def shown(runtime, cid):
    return json.loads(policy(runtime, cid, "--json").stdout)


def auto(runtime, *args, rc=0):
    """One `snapshot auto --json` pass; its exit status must be rc."""
    res = runtime.run(["snapshot", "auto", "--json", *args], check=False, timeout=TIMEOUT)
    assert res.returncode == rc, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    out = json.loads(res.stdout)
    assert set(out) == {"containers", "pruned"}, out
    for e in out["containers"]:
        assert {"id", "action"} <= set(e), e
        assert set(e) >= {"snapshot": {"repo", "snapshot", "parent", "paused", "forgotten"},
                          "not due": {"repo", "next_in_seconds"},
                          "failed": {"error"}}[e["action"]], e
    return out


def by_id(out):
    return {e["id"]: e for e in out["containers"]}


def auto_text(runtime, *args, rc=0):
    res = runtime.run(["snapshot", "auto", *args], check=False, timeout=TIMEOUT)
    assert res.returncode == rc, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout.splitlines()


def listed(repo, source=None, tag=None):
    """snapshot list --json (oldest first), of one source and with one tag when given."""
    snaps = json.loads(harness.run_binary("snapshot", "list", "--repo", repo, "--json").stdout)
    return [s for s in snaps if (source is None or s["source"] == str(source))
            and (tag is None or tag in s["tags"])]


def verify(repo):
    v = harness.run_binary("snapshot", "verify", "--repo", repo, "--json", check=False)
    assert v.returncode == 0 and json.loads(v.stdout)["ok"] is True, v.stdout + v.stderr


def same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def refused(res, *names, code=None):
    """A refusal: a non-zero exit (code, when given) and one line on stderr naming one of
    names."""
    assert res.returncode != 0 and (code is None or res.returncode == code), \
        f"exit {res.returncode}: {res.stdout!r} {res.stderr!r}"
    assert res.stderr.count("\n") == 1, res.stderr
    assert any(n in res.stderr for n in names), res.stderr


def bundle_container(runtime, bundle):
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    return cid


def image_container(runtime, store):
    cid = runtime.new_id()
    runtime.run(["create", "--image", "writer", "--store", store, cid, "--", "sleep", "1000"],
                timeout=TIMEOUT)
    return cid


def delete(runtime, *ids):
    for cid in ids:
        runtime.run(["delete", "--force", cid])


def pass_when_due(runtime, cid, timeout=30):
    """Runs `snapshot auto cid` until it takes a snapshot, waiting as long as the passes
    before say; returns (the "not due" entries, the snapshot entry)."""
    deadline = time.monotonic() + timeout * harness.TIME_SCALE
    waited = []
    while True:
        e = by_id(auto(runtime, cid))[cid]
        if e["action"] == "snapshot":
            return waited, e
        assert e["action"] == "not due", e
        waited.append(e)
        assert time.monotonic() < deadline, f"never due: {waited}"
        time.sleep(min(max(e["next_in_seconds"], 0.05), 1))


# --- policy -----------------------------------------------------------------------------------

def test_policy_set_show_replace_remove(runtime, bundle, repo, tmp_path):
    cid = bundle_container(runtime, bundle)
    assert shown(runtime, cid) is None
    assert "no snapshot policy" in policy(runtime, cid).stdout

    # A relative --repo is kept absolute; every field round-trips.
    policy(runtime, cid, "--repo", repo.name, "--every", "1h30m", "--keep-last", "3",
           "--keep-hourly", "24", "--keep-daily", "7", "--keep-weekly", "4",
           "--keep-monthly", "-1", "--keep-yearly", "1", "--keep-tag", "a,b", "--keep-tag", "c",
           "--tag", "nightly", "--tag", "db", "--exclude", "*.log", "--exclude", "/cache",
           cwd=repo.parent)
    got = shown(runtime, cid)
    assert same_path(got.pop("repo"), repo)
    assert got == {"every_seconds": 5400,
                   "keep": {"last": 3, "hourly": 24, "daily": 7, "weekly": 4, "monthly": -1,
                            "yearly": 1, "tags": [["a", "b"], ["c"]]},
                   "tags": ["nightly", "db"], "exclude": ["*.log", "/cache"]}
    assert (runtime.root / cid / "snapshot-policy.json").is_file()
    text = policy(runtime, cid).stdout
    assert str(repo) in text and "nightly" in text and "no snapshot policy" not in text

    # A new policy replaces the old one whole: nothing of the old one is left.
    set_policy(runtime, cid, repo, "90")
    got = shown(runtime, cid)
    assert got["every_seconds"] == 90 and got["tags"] == [] and got["exclude"] == []
    assert got["keep"] == {"last": 0, "hourly": 0, "daily": 0, "weekly": 0, "monthly": 0,
                           "yearly": 0, "tags": []}
    for every, seconds in [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400),
                           ("1d2h3m4s", 93784), ("45", 45), ("1s", 1)]:
        set_policy(runtime, cid, repo, every)
        assert shown(runtime, cid)["every_seconds"] == seconds, every

    policy(runtime, cid, "--remove")
    assert shown(runtime, cid) is None
    assert not (runtime.root / cid / "snapshot-policy.json").exists()
    assert policy(runtime, cid, "--remove").returncode == 0  # none: no error
    delete(runtime, cid)


def test_policy_refusals_leave_the_policy_alone(runtime, bundle, repo, tmp_path):
    missing = runtime.new_id()
    refused(policy(runtime, missing, "--repo", repo, "--every", "1h", check=False),
            "does not exist", code=1)
    refused(policy(runtime, missing, "--json", check=False), "does not exist", code=1)

    cid = bundle_container(runtime, bundle)
    set_policy(runtime, cid, repo, "1h", "--tag", "good")
    before = shown(runtime, cid)

    plain = tmp_path / "plain"
    plain.mkdir()
    for bad in (plain, tmp_path / "missing"):
        refused(policy(runtime, cid, "--repo", bad, "--every", "1h", check=False), str(bad),
                code=1)
    for every in ("0", "abc", "5x", "0s"):
        refused(policy(runtime, cid, "--repo", repo, "--every", every, check=False),
                "every", "duration")
    # A keep/tag/exclude option, or only half of --repo/--every, sets nothing.
    for args in (["--keep-last", "2"], ["--keep-tag", "x"], ["--tag", "t"],
                 ["--exclude", "/x"], ["--repo", str(repo)], ["--every", "1h"],
                 ["--keep-daily", "2", "--every", "1h"]):
        refused(policy(runtime, cid, *args, check=False), "--repo", "--every")
    assert shown(runtime, cid) == before
    delete(runtime, cid)


def test_delete_removes_the_policy(runtime, bundle, repo):
    cid = bundle_container(runtime, bundle)
    set_policy(runtime, cid, repo, "1h")
    runtime.run(["delete", cid])
    runtime.run(["create", "--bundle", bundle.path, cid])
    assert shown(runtime, cid) is None
    assert auto(runtime)["containers"] == []
    delete(runtime, cid)


# --- snapshot auto ----------------------------------------------------------------------------

def test_a_pass_snapshots_the_due_containers_with_a_policy(runtime, bundle, layout, store,
                                                           repo):
    (bundle.rootfs / "scratch").mkdir()
    (bundle.rootfs / "scratch" / "junk").write_text("left out\n")
    import_image(layout, store, "writer")
    a = bundle_container(runtime, bundle)
    b = image_container(runtime, store)
    c = image_container(runtime, store)  # no policy
    assert auto(runtime) == {"containers": [], "pruned": []}
    set_policy(runtime, a, repo, "1h", "--tag", "nightly", "--exclude", "/scratch")
    set_policy(runtime, b, repo, "1h", "--tag", "img")
    sources = {a: bundle.rootfs, b: store / "containers" / b}

    out = auto(runtime)
    assert [e["id"] for e in out["containers"]] == sorted([a, b])  # id order, c left out
    assert out["pruned"] == []
    first = by_id(out)
    for cid, tag in ((a, "nightly"), (b, "img")):
        e = first[cid]
        assert e["action"] == "snapshot" and e["parent"] == "" and e["forgotten"] == []
        assert same_path(e["repo"], repo)
        [snap] = listed(repo, sources[cid])
        assert snap["id"] == e["snapshot"] and set(snap["tags"]) == {"auto", tag}
    assert len(listed(repo)) == 2
    ls = json.loads(harness.run_binary("snapshot", "ls", "--repo", repo, first[a]["snapshot"],
                                       "--json").stdout)
    paths = {n["path"] for n in ls}
    assert "bin/busybox" in paths
    assert not any(p == "scratch" or p.startswith("scratch/") for p in paths), paths

    # Right after: neither is due, nothing is taken.
    for e in auto(runtime)["containers"]:
        assert e["action"] == "not due" and 0 < e["next_in_seconds"] <= 3600, e
    for cid in (a, b):
        assert any(re.fullmatch(rf"{cid}: not due, next in [0-9dhms]+", l)
                   for l in auto_text(runtime)), cid
    assert len(listed(repo)) == 2

    # --force: one more each, its parent the first (the text form of a snapshot line). a's
    # policy gets a short `every` first: it is not due at once, then due once that passed.
    every = max(2, round(2 * harness.TIME_SCALE))
    set_policy(runtime, a, repo, f"{every}s", "--tag", "nightly", "--exclude", "/scratch")
    forced_at = time.monotonic()
    lines = auto_text(runtime, "--force")
    forced = {}
    for cid in (a, b):
        ids = [m.group(1) for m in (re.fullmatch(rf"{cid}: snapshot ([0-9a-f]+) \(0 forgotten\)",
                                                 l) for l in lines) if m]
        assert len(ids) == 1, lines
        [snap] = [s for s in listed(repo, sources[cid]) if s["id"].startswith(ids[0])]
        assert snap["parent"] == first[cid]["snapshot"] and "auto" in snap["tags"]
        forced[cid] = snap["id"]
    assert len(listed(repo)) == 4

    waited, e = pass_when_due(runtime, a)
    # The forced snapshot is younger than forced_at: due only `every` (less 5%) after it.
    assert time.monotonic() - forced_at >= every * 0.95
    assert waited and all(0 <= w["next_in_seconds"] <= every for w in waited), waited
    assert e["parent"] == forced[a]  # incremental, and the list says so
    assert [s["parent"] for s in listed(repo, sources[a]) if s["id"] == e["snapshot"]] == \
        [forced[a]]

    # A named container without a policy fails; the others named are still processed.
    out = auto(runtime, "--force", a, c, b, rc=1)
    got = by_id(out)
    assert set(got) == {a, b, c}
    assert got[c]["action"] == "failed" and got[c]["error"]
    assert got[a]["action"] == got[b]["action"] == "snapshot"
    assert len(listed(repo)) == 7
    assert any(l.startswith(f"{c}: failed: ") for l in auto_text(runtime, c, rc=1))
    delete(runtime, a, b, c)


def test_keep_last_forgets_only_that_containers_automatic_snapshots(runtime, bundle, layout,
                                                                     store, repo):
    import_image(layout, store, "writer")
    x = bundle_container(runtime, bundle)
    y = image_container(runtime, store)
    manual = json.loads(runtime.run(["snapshot", "create", "--repo", repo, x, "--json"],
                                    timeout=TIMEOUT).stdout)["id"]
    set_policy(runtime, x, repo, "1h", "--keep-last", "2")
    set_policy(runtime, y, repo, "1h")
    taken = {x: [], y: []}
    for i in range(4):
        # Data only this pass's snapshot of x holds: its forget frees something.
        (bundle.rootfs / "churn.bin").write_bytes(os.urandom(300_000))
        out = auto(runtime, "--force")
        got = by_id(out)
        for cid in (x, y):
            assert got[cid]["action"] == "snapshot", got[cid]
            taken[cid].append(got[cid]["snapshot"])
        assert got[y]["forgotten"] == []
        if i < 2:
            assert got[x]["forgotten"] == [] and out["pruned"] == []
            continue
        assert got[x]["forgotten"] == [taken[x][i - 2]]
        [pruned] = out["pruned"]
        assert same_path(pruned["repo"], repo)
        assert pruned["packs_deleted"] + pruned["packs_rewritten"] >= 1
        assert pruned["bytes_freed"] >= 250_000, pruned
    assert {s["id"] for s in listed(repo)} == {manual, *taken[x][2:], *taken[y]}
    assert [s["id"] for s in listed(repo, bundle.rootfs)] == [manual, *taken[x][2:]]

    # The text form of a pass that forgets and prunes.
    (bundle.rootfs / "churn.bin").write_bytes(os.urandom(300_000))
    lines = auto_text(runtime, "--force", x)
    assert any(re.fullmatch(rf"{x}: snapshot [0-9a-f]+ \(1 forgotten\)", l) for l in lines)
    assert any(re.fullmatch(rf"prune {re.escape(str(repo))}: \d+ packs deleted, \d+ rewritten, "
                            rf"[1-9]\d* bytes freed", l) for l in lines), lines
    assert manual in {s["id"] for s in listed(repo)}
    verify(repo)
    delete(runtime, x, y)


def test_a_running_container_is_snapshotted_consistently_and_keeps_running(
        runtime, layout, store, repo, tmp_path):
    import_image(layout, store, "writer")
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--image", "writer", "--store", store, cid], timeout=TIMEOUT)
    log = store / "containers" / cid / "upper" / "app" / "log"
    harness.wait_for_file_text(log, "line 200", timeout=30)
    set_policy(runtime, cid, repo, "1h")
    e = by_id(auto(runtime))[cid]
    assert e["action"] == "snapshot" and e["paused"] is True
    assert runtime.state(cid)["status"] == "running"
    grown = len(log_lines(log))
    harness.wait_for_file_text(log, f"line {grown + 50}", timeout=30)  # thawed: still writing

    out = tmp_path / "restored"
    runtime.run(["snapshot", "restore", "--repo", repo, e["snapshot"], out], timeout=TIMEOUT)
    check_consistent(out)

    # Stopped, it is read as it is: no freeze.
    runtime.run(["kill", "--all", cid, "KILL"])
    runtime.wait_status(cid, "stopped")
    later = by_id(auto(runtime, "--force"))[cid]
    assert later["paused"] is False and later["parent"] == e["snapshot"]
    runtime.run(["delete", cid])


# --- the activator ----------------------------------------------------------------------------

def events_until(a, done, timeout=30):
    """The activator's events, none skipped, until done(events); a snapshot-failed fails."""
    seen = []
    deadline = time.monotonic() + timeout * harness.TIME_SCALE
    while not done(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"events so far: {seen}"
        try:
            event = a.events.get(timeout=left)
        except queue.Empty:
            continue
        assert event is not None, f"activator exited: {a.err_path.read_text(errors='replace')}"
        assert event["type"] != "snapshot-failed", event
        seen.append(event)
    return seen


def snapshot_events(events):
    return [e for e in events if e["type"] == "snapshot"]


def test_hibernation_takes_a_snapshot(runtime, server_bundle, activators, repo):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "100ms")
    activators.append(a)
    set_policy(runtime, cid, repo, "1h", "--tag", "web")
    talk(port=a.port)
    events = events_until(a, lambda ev: snapshot_events(ev) and
                          any(e["type"] == "hibernate" for e in ev))
    [snap] = snapshot_events(events)
    assert snap["reason"] == "hibernate"
    [listed_snap] = listed(repo, server_bundle.rootfs)
    assert listed_snap["id"] == snap["snapshot"]
    assert set(listed_snap["tags"]) == {"auto", "hibernate", "web"}
    state = runtime.state(cid)
    assert state["status"] == "paused" and state.get("hibernated") is True
    assert talk(port=a.port)[0].startswith("hello")  # wakes as before
    assert a.stop() == 0
    verify(repo)


def test_stopping_takes_a_snapshot_and_applies_retention(runtime, server_bundle, activators,
                                                         repo):
    cid = runtime.new_id("act")
    a = Activator(runtime, cid, server_bundle, ["tcp:127.0.0.1:0"], "--idle-timeout", "50ms",
                  "--stop-after", "300ms", "--stop-timeout", "2s")
    activators.append(a)
    set_policy(runtime, cid, repo, "1h", "--tag", "web", "--keep-last", "1")
    talk(port=a.port)
    # Until the stop's snapshot and the container created again after the stop.
    events = events_until(a, lambda ev: any(e.get("reason") == "stop" for e in ev) and
                          any(e["type"] == "created" for e in ev))
    snaps = snapshot_events(events)
    assert [e["reason"] for e in snaps] == ["hibernate", "stop"]
    # keep-last 1: the stop snapshot only; the hibernation's was forgotten.
    [kept] = listed(repo, server_bundle.rootfs)
    assert kept["id"] == snaps[1]["snapshot"]
    assert set(kept["tags"]) == {"auto", "stop", "web"}
    assert runtime.state(cid)["status"] == "created"
    # The activator's delete and create kept the policy with the container.
    assert shown(runtime, cid)["tags"] == ["web"]
    assert a.stop() == 0
    verify(repo)


# --- recovery after a crash -------------------------------------------------------------------

def crash_trial(runtime, store, repo, rng, step):
    """A writing container with a policy, one pass, more writes, then SIGKILL of a forced pass
    (at durable step `step`, or at a random moment) and of the container; delete --force, and
    the volume layer restored from the newest automatic snapshot. Returns whether the pass
    was killed."""
    cid = runtime.new_id()
    cdir = store / "containers" / cid
    runtime.run(["run", "-d", "--image", "writer", "--store", store, cid, "--", "sh", "-c",
                 "echo kept > /data/marker; " + WRITER], timeout=TIMEOUT)
    log = cdir / "upper" / "app" / "log"
    harness.wait_for_file_text(log, "line 50", timeout=30)
    set_policy(runtime, cid, repo, "1h")
    first = by_id(auto(runtime, cid))[cid]["snapshot"]
    harness.wait_for_file_text(log, f"line {len(log_lines(log)) + 50}", timeout=30)

    pid = runtime.state(cid)["pid"]
    killed = killed_run(rng, step, ["--root", runtime.root, "snapshot", "auto", "--force", cid])
    os.kill(pid, signal.SIGKILL)
    runtime.run(["delete", "--force", cid])
    assert harness.wait_pid_gone(pid)
    assert cid not in runtime.list_ids()

    autos = [s["id"] for s in listed(repo, cdir, "auto")]
    # The first pass's snapshot, and the killed one's only if it was complete.
    assert autos[0] == first and len(autos) <= 2 and (killed or len(autos) == 2), autos
    runtime.run(["snapshot", "restore", "--repo", repo, autos[-1], cid, "--store", store],
                timeout=TIMEOUT)
    n = check_consistent(cdir)
    latest = (cdir / "volumes" / "data" / "latest").read_text().strip()
    out = run_image(runtime, store, "writer", cid, "sh", "-c",
                    "cat /data/marker; wc -l < /app/log; cat /data/latest").stdout
    assert out.split() == ["kept", str(n), latest]
    verify(repo)
    return killed


@pytest.mark.slow
def test_recovery_from_the_newest_automatic_snapshot_after_a_crash(runtime, layout, store,
                                                                   repo):
    rng = seeded_rng()
    import_image(layout, store, "writer")
    # Durable steps before and after the new snapshot's manifest, random moments, and a pass
    # that finishes before the crash.
    steps = (2, 4, 6, 8, 10, None, None, 0)
    killed = sum(crash_trial(runtime, store, repo, rng, step) for step in steps)
    assert killed >= 4, f"only {killed} of {len(steps)} passes were killed"


def freezer(pid):
    """A function telling whether the cgroup of pid is frozen (v1 freezer or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            f = Path(f"/sys/fs/cgroup/freezer{path}/freezer.state")
            return lambda: f.read_text().strip() != "THAWED"
    f = Path(f"/sys/fs/cgroup{line.split(':', 2)[2]}/cgroup.events")
    return lambda: "frozen 1" in f.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["TERM", "INT", "KILL"])
def test_a_pass_stopped_by_a_signal_leaves_the_container_running(runtime, bundle, repo, sig):
    """systemd stops the oneshot with SIGTERM (shutdown, TimeoutStartSec); a person with ^C:
    the container a pass froze must not stay frozen (a later pass takes it for paused). SIGKILL
    cannot be held back: the next pass thaws what the killed one left frozen."""
    bundle.set(args=["sleep", "1000"])
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    set_policy(runtime, cid, repo, "1h")
    frozen = freezer(runtime.state(cid)["pid"])
    caught = 0
    for _ in range(20):
        p = runtime.spawn(["snapshot", "auto", "--force", cid])
        while p.poll() is None:
            if frozen():
                p.send_signal(sig)
                caught += 1
                break
        p.wait(timeout=TIMEOUT)
        if sig == signal.SIGKILL:
            auto(runtime, "--force", cid)
        status = runtime.state(cid)["status"]
        assert status == "running", f"a pass stopped by {sig.name} while the container was " \
            f"frozen (exit {p.returncode}) left it {status}"
        if caught == 3:
            break
    assert caught, "no pass was seen with the container frozen"
    verify(repo)
    delete(runtime, cid)


# --- the timer --------------------------------------------------------------------------------

def test_contrib_timer_runs_a_pass(runtime, bundle, repo, tmp_path):
    """contrib/systemd/wmrun-snapshot-auto.{service,timer} pass systemd-analyze verify, the timer
    starts the service, and the service's ExecStart is one pass that snapshots a due container."""
    service = tmp_path / "wmrun-snapshot-auto.service"
    timer = tmp_path / "wmrun-snapshot-auto.timer"
    service.write_text(clients.contrib_config("systemd/wmrun-snapshot-auto.service",
                                              runtime.binary))
    timer.write_text((clients.CONTRIB / "systemd/wmrun-snapshot-auto.timer").read_text())
    verify_units = subprocess.run(["systemd-analyze", "verify", "--man=no", str(service),
                                   str(timer)], capture_output=True, text=True, timeout=60)
    assert verify_units.returncode == 0, verify_units.stderr
    assert re.search(r"^Type=oneshot$", service.read_text(), re.M)
    assert re.search(r"^OnCalendar=", timer.read_text(), re.M)
    assert re.search(r"^Persistent=true$", timer.read_text(), re.M)
    exec_start = re.search(r"^ExecStart=(.*)$", service.read_text(), re.M).group(1).split()
    assert exec_start == [str(runtime.binary), "snapshot", "auto"]

    bundle.set(args=["sleep", "1000"])
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    set_policy(runtime, cid, repo, "1h")
    res = subprocess.run([exec_start[0], "--root", str(runtime.root), *exec_start[1:]],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert re.match(rf"^{re.escape(cid)}: snapshot [0-9a-f]+ \(0 forgotten\)$", res.stdout), \
        res.stdout
    assert len(listed(repo, tag="auto")) == 1
    delete(runtime, cid)
