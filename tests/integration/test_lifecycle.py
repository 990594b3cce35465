"""Container lifecycle and process setup, driven through the runtime's command line."""

import json
import os
import re
import threading
import time
from datetime import datetime

import pytest

from harness import RunFailed, wait_for_file_text, wait_pid_gone

STATE_KEYS = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}


def parse_created(text):
    # RFC 3339 with nanoseconds, e.g. 2026-11-25T16:41:03.988869774Z.
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")


def start_detached(runtime, bundle, args=("sleep", "60"), **edits):
    bundle.set(args=list(args), **edits)
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    return cid


def run_fg(runtime, bundle, args, **edits):
    bundle.set(args=list(args), **edits)
    return runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)


# --- run -------------------------------------------------------------------------------------

def test_run_echo(runtime, bundle):
    cid = runtime.new_id()
    bundle.set(args=["echo", "hello from the container"])
    res = runtime.run(["run", "--bundle", bundle.path, cid])
    assert res.stdout == "hello from the container\n"
    # A foreground run removes the container when it exits.
    assert runtime.run(["state", cid], check=False).returncode != 0
    assert runtime.list_ids() == []


def test_run_exit_code(runtime, bundle):
    assert run_fg(runtime, bundle, ["sh", "-c", "exit 3"]).returncode == 3


def test_run_stdin_reaches_container(runtime, bundle):
    bundle.set(args=["cat"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], input="piped\n")
    assert res.stdout == "piped\n"


def test_init_is_pid1_and_ignores_its_own_sigkill(runtime, bundle):
    # Inside its pid namespace the init is pid 1, and the kernel drops a SIGKILL it sends
    # itself; so `kill -9 $$` only works without a pid namespace (next test).
    res = run_fg(runtime, bundle, ["sh", "-c", "echo $$; kill -9 $$; echo survived"])
    assert res.returncode == 0
    assert res.stdout == "1\nsurvived\n"


def test_run_killed_by_own_sigkill_exits_137(runtime, bundle):
    res = run_fg(runtime, bundle, ["sh", "-c", "kill -9 $$; echo survived"],
                 drop_namespaces=("pid",))
    assert res.returncode == 137
    assert "survived" not in res.stdout


def test_run_killed_by_runtime_kill_exits_137(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    proc = runtime.spawn(["run", "--bundle", bundle.path, cid])
    try:
        runtime.wait_status(cid, "running")
        runtime.run(["kill", cid, "KILL"])
        assert proc.wait(timeout=10) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_run_detach_returns_while_container_runs(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    t0 = time.monotonic()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid], timeout=10)
    assert time.monotonic() - t0 < 5
    st = runtime.state(cid)
    assert st["status"] == "running"
    time.sleep(0.3)
    assert runtime.state(cid)["status"] == "running"
    assert os.path.exists(f"/proc/{st['pid']}")
    runtime.run(["delete", "--force", cid])


# --- create / start / state / delete ------------------------------------------------------------

def test_create_start_state_delete(runtime, bundle, tmp_path):
    bundle.set(args=["sh", "-c", "echo started; sleep 0.2"])
    cid = runtime.new_id()
    out = tmp_path / "create.out"
    runtime.run(["create", "--bundle", bundle.path, cid], stdout=out)

    st = runtime.state(cid)
    assert STATE_KEYS <= set(st), st
    assert st["id"] == cid and st["status"] == "created"
    assert st["bundle"] == str(bundle.path)
    assert st["rootfs"] == str(bundle.rootfs)
    assert st["pid"] > 0 and os.path.exists(f"/proc/{st['pid']}")
    parse_created(st["created"])
    time.sleep(0.3)
    assert out.read_text() == "", "the process must not run before start"

    runtime.run(["start", cid])
    wait_for_file_text(out, "started")
    stopped = runtime.wait_status(cid, "stopped")
    assert stopped["pid"] == 0  # runc reports pid 0 once stopped
    assert stopped["created"] == st["created"]

    runtime.run(["delete", cid])
    res = runtime.run(["state", cid], check=False)
    assert res.returncode != 0


def test_state_json_layout(runtime, bundle):
    cid = start_detached(runtime, bundle)
    res = runtime.run(["state", cid])
    # runc prints the state indented by two spaces, keys in this order, no trailing newline.
    keys = re.findall(r'^  "(\w+)":', res.stdout, re.M)
    assert keys[:8] == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                        "owner"], res.stdout
    assert res.stdout.startswith("{\n") and res.stdout.endswith("}")
    runtime.run(["delete", "--force", cid])


def test_run_missing_executable_fails_cleanly(runtime, bundle):
    res = run_fg(runtime, bundle, ["/no/such/binary"])
    assert res.returncode != 0
    assert "/no/such/binary" in res.stderr
    assert runtime.list_ids() == []


@pytest.mark.parametrize("bad_id", ["../wmt-escape", "wmt/slash", ""])
def test_invalid_container_id_rejected(runtime, bundle, tmp_path, bad_id):
    bundle.set(args=["true"])
    res = runtime.run(["create", "--bundle", bundle.path, bad_id], check=False)
    assert res.returncode != 0
    assert not (tmp_path / "wmt-escape").exists()
    assert runtime.list_ids() == []


def test_start_twice_fails(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    runtime.run(["start", cid])
    assert runtime.run(["start", cid], check=False).returncode != 0
    runtime.run(["delete", "--force", cid])


def test_create_duplicate_id_fails(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    res = runtime.run(["create", "--bundle", bundle.path, cid], check=False)
    assert res.returncode != 0
    assert runtime.state(cid)["status"] == "created"
    runtime.run(["delete", "--force", cid])


def test_create_then_sigkill_stops(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    runtime.run(["kill", cid, "SIGKILL"])
    runtime.wait_status(cid, "stopped")
    assert wait_pid_gone(pid)
    runtime.run(["delete", cid])


@pytest.mark.parametrize("signal_arg", [None, "TERM", "SIGTERM", "15"])
def test_kill_signal_forms(runtime, bundle, tmp_path, signal_arg):
    # The trap proves SIGTERM arrived (not some other signal): only it prints "got TERM".
    bundle.set(args=["sh", "-c", "trap 'echo got TERM; exit 7' TERM; "
                                 "trap 'echo got HUP' HUP; echo ready; "
                                 "while true; do sleep 0.05; done"])
    cid = runtime.new_id()
    out = tmp_path / "out"
    runtime.run(["create", "--bundle", bundle.path, cid], stdout=out)
    runtime.run(["start", cid])
    wait_for_file_text(out, "ready")
    runtime.run(["kill", cid] + ([signal_arg] if signal_arg else []))
    runtime.wait_status(cid, "stopped")
    assert "got TERM" in out.read_text() and "got HUP" not in out.read_text()
    runtime.run(["delete", cid])


def test_kill_of_stopped_container_fails(runtime, bundle):
    cid = start_detached(runtime, bundle, args=("true",))
    runtime.wait_status(cid, "stopped")
    assert runtime.run(["kill", cid, "KILL"], check=False).returncode != 0
    runtime.run(["delete", cid])


def test_kill_unknown_signal_fails(runtime, bundle):
    cid = start_detached(runtime, bundle)
    res = runtime.run(["kill", cid, "NOSUCHSIG"], check=False)
    assert res.returncode != 0 and "NOSUCHSIG" in res.stderr
    assert runtime.state(cid)["status"] == "running"
    runtime.run(["delete", "--force", cid])


def test_pause_resume(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    runtime.run(["pause", cid])
    assert runtime.state(cid)["status"] == "paused"
    runtime.run(["resume", cid])
    assert runtime.state(cid)["status"] == "running"
    assert not wait_pid_gone(pid, timeout=0.2)
    runtime.run(["delete", "--force", cid])


def test_delete_running_needs_force(runtime, bundle):
    cid = start_detached(runtime, bundle)
    pid = runtime.state(cid)["pid"]
    res = runtime.run(["delete", cid], check=False)
    assert res.returncode != 0
    assert runtime.state(cid)["status"] == "running"
    runtime.run(["delete", "--force", cid])
    assert runtime.run(["state", cid], check=False).returncode != 0
    assert wait_pid_gone(pid)


def test_delete_force_of_missing_container_succeeds(runtime):
    # Orchestrators call `delete --force` to clean up idempotently.
    assert runtime.run(["delete", "--force", runtime.new_id()], check=False).returncode == 0
    assert runtime.run(["delete", runtime.new_id()], check=False).returncode != 0


def test_pid_file(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    pid_file = tmp_path / "init.pid"
    runtime.run(["create", "--bundle", bundle.path, "--pid-file", pid_file, cid])
    assert int(pid_file.read_text()) == runtime.state(cid)["pid"]
    runtime.run(["delete", "--force", cid])

    cid2 = runtime.new_id()
    pid_file2 = tmp_path / "run.pid"
    runtime.run(["run", "--detach", "--bundle", bundle.path, "--pid-file", pid_file2, cid2])
    assert int(pid_file2.read_text()) == runtime.state(cid2)["pid"]
    runtime.run(["delete", "--force", cid2])


# --- list / ps ---------------------------------------------------------------------------------

def tabwriter(rows, minwidth=12, padding=3):
    """Go's text/tabwriter as runc's list uses it: NewWriter(w, 12, 1, 3, ' ', 0)."""
    widths = [max(minwidth, max(len(r[i]) for r in rows) + padding)
              for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def test_list_table_and_json(runtime, bundle):
    bundle.set(args=["sleep", "60"])
    short = runtime.new_id()
    long = runtime.new_id("-with-a-much-longer-name")
    runtime.run(["create", "--bundle", bundle.path, short])
    runtime.run(["run", "--detach", "--bundle", bundle.path, long])

    res = runtime.run(["list"])
    assert res.stdout.splitlines()[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                                  "OWNER"]
    states = {cid: runtime.state(cid) for cid in (short, long)}
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for cid in sorted(states):  # runc lists in state-dir (readdir name) order
        s = states[cid]
        rows.append([cid, str(s["pid"]), s["status"], s["bundle"], s["created"], "root"])
    # Row order is not part of the contract; the layout is.
    got = res.stdout.splitlines(keepends=True)
    expected = tabwriter(rows).splitlines(keepends=True)
    assert got[0] == expected[0] and sorted(got[1:]) == sorted(expected[1:]), res.stdout

    assert sorted(runtime.run(["list", "-q"]).stdout.split()) == sorted([short, long])

    listed = json.loads(runtime.run(["list", "--format", "json"]).stdout)
    by_id = {e["id"]: e for e in listed}
    assert set(by_id) == {short, long}
    for cid, s in states.items():
        e = by_id[cid]
        assert (e["pid"], e["status"], e["bundle"], e["created"]) == (
            s["pid"], s["status"], s["bundle"], s["created"])
        assert e["owner"] == "root"
    assert by_id[short]["status"] == "created" and by_id[long]["status"] == "running"
    for cid in (short, long):
        runtime.run(["delete", "--force", cid])


def test_list_empty(runtime):
    res = runtime.run(["list"])
    assert res.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert runtime.run(["list", "-q"]).stdout == ""
    assert json.loads(runtime.run(["list", "--format", "json"]).stdout) in (None, [])


def test_ps(runtime, bundle):
    cid = start_detached(runtime, bundle, args=("sleep", "61"))
    init = runtime.state(cid)["pid"]
    res = runtime.run(["ps", cid])
    header, *lines = res.stdout.splitlines()
    assert "PID" in header.split() and "CMD" in header.split()
    pid_col = header.split().index("PID")
    assert any(int(l.split()[pid_col]) == init and "sleep 61" in l for l in lines), res.stdout

    runtime.run(["exec", "--detach", cid, "sleep", "62"])
    pids = json.loads(runtime.run(["ps", "-f", "json", cid]).stdout)
    assert isinstance(pids, list) and init in pids and len(pids) == 2
    other = next(p for p in pids if p != init)
    assert open(f"/proc/{other}/cmdline").read().split("\0")[:2] == ["sleep", "62"]
    runtime.run(["delete", "--force", cid])


# --- exec ----------------------------------------------------------------------------------

@pytest.fixture
def running(runtime, bundle):
    cid = start_detached(runtime, bundle)
    yield cid
    runtime.run(["delete", "--force", cid], check=False)


def test_exec_echo(runtime, running):
    assert runtime.run(["exec", running, "echo", "hi"]).stdout == "hi\n"


def test_exec_exit_code(runtime, running):
    assert runtime.run(["exec", running, "sh", "-c", "exit 5"], check=False).returncode == 5


def test_exec_env(runtime, running):
    res = runtime.run(["exec", "--env", "FOO=bar", running, "sh", "-c", "echo $FOO"])
    assert res.stdout == "bar\n"


def test_exec_cwd(runtime, running):
    assert runtime.run(["exec", "--cwd", "/tmp", running, "pwd"]).stdout == "/tmp\n"


def test_exec_user(runtime, running):
    assert runtime.run(["exec", "--user", "1000:1000", running, "id", "-u"]).stdout == "1000\n"
    assert runtime.run(["exec", "--user", "1000:1000", running, "id", "-g"]).stdout == "1000\n"


def test_exec_joins_the_container_namespaces(runtime, running):
    init = runtime.state(running)["pid"]
    res = runtime.run(["exec", running, "sh", "-c",
                       "for n in pid mnt uts; do readlink /proc/self/ns/$n; done"])
    inside = res.stdout.split()
    host = [os.readlink(f"/proc/{init}/ns/{n}") for n in ("pid", "mnt", "uts")]
    assert inside == host


def test_exec_process_json(runtime, running, tmp_path):
    process = {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo $PROC_VAR; pwd"],
        "env": ["PATH=/bin", "PROC_VAR=from-process-json"],
        "cwd": "/tmp",
    }
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    res = runtime.run(["exec", "--process", path, running])
    assert res.stdout == "from-process-json\n/tmp\n"


def test_exec_detach_pid_file(runtime, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    t0 = time.monotonic()
    runtime.run(["exec", "--detach", "--pid-file", pid_file, running, "sleep", "63"])
    assert time.monotonic() - t0 < 5
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[:2] == ["sleep", "63"]
    assert pid in json.loads(runtime.run(["ps", "-f", "json", running]).stdout)


def test_exec_missing_executable_fails(runtime, running):
    res = runtime.run(["exec", running, "/no/such/binary"], check=False)
    assert res.returncode != 0
    assert runtime.state(running)["status"] == "running"


def test_exec_in_stopped_container_fails(runtime, bundle):
    cid = start_detached(runtime, bundle, args=("true",))
    runtime.wait_status(cid, "stopped")
    res = runtime.run(["exec", cid, "true"], check=False)
    assert res.returncode != 0
    runtime.run(["delete", cid])


# --- process and rootfs setup from config.json --------------------------------------------------

def test_hostname(runtime, bundle):
    res = run_fg(runtime, bundle, ["hostname"], hostname="wmt-host-name")
    assert (res.returncode, res.stdout) == (0, "wmt-host-name\n")


def test_readonly_root(runtime, bundle):
    res = run_fg(runtime, bundle, ["touch", "/x"], readonly=True)
    assert res.returncode != 0
    assert not (bundle.rootfs / "x").exists()


def test_writable_root(runtime, bundle):
    res = run_fg(runtime, bundle, ["touch", "/x"], readonly=False)
    assert res.returncode == 0, res.stderr
    assert (bundle.rootfs / "x").exists()


def test_tmpfs_mount(runtime, bundle):
    mount = {"destination": "/data", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "size=1m"]}
    res = run_fg(runtime, bundle, ["sh", "-c", "echo ok > /data/f && cat /data/f && "
                                               "grep ' /data ' /proc/mounts"],
                 add_mounts=[mount])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "ok"
    fields = lines[1].split()
    assert fields[1:3] == ["/data", "tmpfs"] and "nosuid" in fields[3].split(",")
    assert not (bundle.rootfs / "data" / "f").exists()


def test_bind_mount(runtime, bundle, tmp_path):
    host = tmp_path / "shared"
    host.mkdir()
    (host / "hello.txt").write_text("from the host\n")
    mounts = [
        {"destination": "/mnt/ro", "type": "bind", "source": str(host),
         "options": ["rbind", "ro"]},
        {"destination": "/mnt/rw", "type": "bind", "source": str(host), "options": ["rbind"]},
    ]
    res = run_fg(runtime, bundle, ["sh", "-c", "cat /mnt/ro/hello.txt; "
                                               "touch /mnt/ro/nope && echo ro-writable; "
                                               "echo back > /mnt/rw/written"],
                 add_mounts=mounts)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "from the host\n"
    assert not (host / "nope").exists()
    assert (host / "written").read_text() == "back\n"


def test_env_from_config(runtime, bundle):
    res = run_fg(runtime, bundle, ["env"], add_env=["WMT_VAR=some value"])
    assert "WMT_VAR=some value" in res.stdout.splitlines()
    assert any(l.startswith("PATH=") for l in res.stdout.splitlines())


def test_cwd_from_config(runtime, bundle):
    assert run_fg(runtime, bundle, ["pwd"], cwd="/tmp").stdout == "/tmp\n"


def test_user_and_additional_gids(runtime, bundle):
    res = run_fg(runtime, bundle, ["sh", "-c", "id -u; id -g; id -G"],
                 user=(1000, 1001, [2000, 3000]))
    assert res.returncode == 0, res.stderr
    uid, gid, groups = res.stdout.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert set(groups.split()) == {"1001", "2000", "3000"}


def current_limit(resource):
    import resource as r
    return r.getrlimit(getattr(r, resource))


def test_rlimits(runtime, bundle):
    # Even root cannot raise a hard limit beyond its own here, so stay below the current ones.
    soft_n, hard_n = current_limit("RLIMIT_NOFILE")
    soft, hard = min(512, soft_n), min(768, hard_n)
    res = run_fg(runtime, bundle, ["sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -c"],
                 rlimits=[("RLIMIT_NOFILE", soft, hard), ("RLIMIT_CORE", 0, 0)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [str(soft), str(hard), "0"]


# --- concurrency -----------------------------------------------------------------------------

@pytest.mark.slow
def test_parallel_containers(runtime, bundle, tmp_path):
    """Two containers at a time, over and over: one through `run`, one through
    create/start/delete. The leak checker then proves nothing was left behind."""
    count = int(os.environ.get("WMRUN_STRESS_COUNT", "50"))
    bundle.set(args=["sh", "-c", "echo $$ alive"])
    failures = []
    stop = threading.Event()

    def foreground(i):
        res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id(f"-r{i}")],
                          check=False)
        if (res.returncode, res.stdout) != (0, "1 alive\n"):
            failures.append(f"run #{i}: rc={res.returncode} out={res.stdout!r} "
                            f"err={res.stderr!r}")

    def lifecycle(i):
        cid = runtime.new_id(f"-c{i}")
        out = tmp_path / f"c{i}.out"
        try:
            runtime.run(["create", "--bundle", bundle.path, cid], stdout=out)
            runtime.run(["start", cid])
            runtime.wait_status(cid, "stopped")
            runtime.run(["delete", cid])
            if out.read_text() != "1 alive\n":
                failures.append(f"create #{i}: output {out.read_text()!r}")
        except (RunFailed, AssertionError) as e:
            failures.append(f"create #{i}: {e}")

    for i in range(count):
        if stop.is_set():
            break
        threads = [threading.Thread(target=foreground, args=(i,)),
                   threading.Thread(target=lifecycle, args=(i,))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        if any(t.is_alive() for t in threads):
            stop.set()
            failures.append(f"iteration {i} hung")
        if failures:
            break
    assert not failures, "\n".join(failures)
    assert runtime.list_ids() == []
