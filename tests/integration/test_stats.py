"""`wmrun stats`: every container's state and figures, from real containers that burn CPU,
hold memory and run several processes, beside a paused, a hibernated and a stopped one."""

import json
import re
import subprocess

import pytest

from stats_fleet import FILL_MIB, LIMIT, MIB, fleet, stats_json, wait_for  # noqa: F401

pytestmark = pytest.mark.wmrun_only("stats is wmrun's own command")


def test_stats_json_numbers_move(runtime, fleet):
    s = stats_json(runtime)
    assert set(fleet.values()) <= set(s), s.keys()
    states = {name: s[cid]["state"] for name, cid in fleet.items()}
    assert states == {"burn": "running", "mem": "running", "procs": "running",
                      "paused": "paused", "hib": "hibernated", "stopped": "stopped"}

    # The loop takes what CPU it gets: on a loaded host far less than one CPU, but always more
    # than the others' nothing.
    assert wait_for(lambda: stats_json(runtime, fleet["burn"])[fleet["burn"]]["cpuPercent"] > 1)
    burn = s[fleet["burn"]]["cgroup"]
    assert burn["cpu"]["usageSeconds"] > 0
    assert burn["memory"]["limit"] == LIMIT

    def mem_figures():
        m = stats_json(runtime, fleet["mem"])[fleet["mem"]]["cgroup"]["memory"]
        return m if m["usage"] >= FILL_MIB * MIB else None
    mem = wait_for(mem_figures) or s[fleet["mem"]]["cgroup"]["memory"]
    assert FILL_MIB * MIB <= mem["usage"] < (FILL_MIB + 16) * MIB, mem
    assert mem["workingSet"] <= mem["usage"]

    assert s[fleet["procs"]]["cgroup"]["pids"]["current"] == 4  # sh and three sleeps

    # Frozen containers run nothing: CPU % is 0 without a second reading. Hibernation is read
    # as it is, without thawing: the container is still hibernated afterwards.
    for name in ("paused", "hib"):
        c = s[fleet[name]]
        assert c["cpuPercent"] == 0 and c["cgroup"]["pids"]["current"] == 1, c
    assert runtime.state(fleet["hib"]).get("hibernated") is True
    assert s[fleet["hib"]]["hibernatedSeconds"] >= 0
    assert s[fleet["hib"]]["uptimeSeconds"] > 0

    stopped = s[fleet["stopped"]]
    assert stopped["cgroup"] is None and stopped["cpuPercent"] is None


def test_stats_wakes_are_counted_and_timed(runtime, fleet):
    hib = fleet["hib"]
    runtime.run(["wake", hib])
    runtime.run(["hibernate", hib])
    runtime.run(["wake", hib])
    c = stats_json(runtime, hib)[hib]
    assert c["state"] == "running" and c["wakes"] == 2 and c["wakeSecondsSum"] > 0
    text = runtime.run(["stats", "--no-stream", "--format", "prometheus", hib]).stdout
    count = re.search(r'^wmrun_wake_duration_seconds_count\{id="%s".*\} (\d+)$' % hib, text,
                      re.M)
    inf = re.search(r'^wmrun_wake_duration_seconds_bucket\{id="%s".*le="\+Inf"\} (\d+)$' % hib,
                    text, re.M)
    assert count and inf and count.group(1) == inf.group(1) == "2", text


def test_stats_table_and_named_ids(runtime, fleet):
    out = runtime.run(["stats", "--no-stream", fleet["mem"], fleet["hib"]]).stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "CPU"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {fleet["mem"], fleet["hib"]}
    assert rows[fleet["mem"]].split()[1] == "running"
    assert "/ 256.0MiB" in rows[fleet["mem"]]
    assert rows[fleet["hib"]].split()[1] == "hibernated" and " zz " in rows[fleet["hib"]]


def test_stats_prometheus_text(runtime, fleet):
    text = runtime.run(["stats", "--no-stream", "--format", "prometheus"]).stdout
    mem = fleet["mem"]
    usage = re.search(r'^container_memory_usage_bytes\{id="%s",image="",state="running"\} (\d+)$'
                      % mem, text, re.M)
    assert usage and int(usage.group(1)) >= FILL_MIB * MIB, text[:2000]
    assert re.search(r'^wmrun_container_hibernated\{id="%s",.*\} 1$' % fleet["hib"], text, re.M)
    assert re.search(r'^wmrun_container_hibernated\{id="%s",.*\} 0$' % mem, text, re.M)
    assert '# TYPE container_cpu_usage_seconds_total counter' in text


def test_stats_refuses_bad_input(runtime, fleet):
    missing = runtime.run(["stats", "--no-stream", "wmt-stats-nosuch"], check=False)
    assert missing.returncode != 0 and "wmt-stats-nosuch" in missing.stderr
    assert "does not exist" in missing.stderr and missing.stdout == ""
    bad = runtime.run(["stats", "--no-stream", "--format", "yaml"], check=False)
    assert bad.returncode != 0 and "yaml" in bad.stderr
    stream = runtime.run(["stats", "--format", "prometheus"], check=False)
    assert stream.returncode != 0 and "--no-stream" in stream.stderr


def test_stats_streams_until_stopped(runtime, fleet):
    """Without --no-stream, a frame a second; two frames of JSON arrive in a few seconds."""
    p = subprocess.Popen(runtime.command(["stats", "--format", "json", fleet["burn"]]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        second = json.loads(p.stdout.readline())
    finally:
        p.kill()
        p.wait()
    assert first[0]["id"] == second[0]["id"] == fleet["burn"]
    assert second[0]["cgroup"]["cpu"]["usageSeconds"] > first[0]["cgroup"]["cpu"]["usageSeconds"]
