"""Linux-specific config features, each checked from inside a real container."""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import harness

USERNS_HOST_ID = 100000
USERNS_SIZE = 65536
YEAR = 86400 * 365


def id_map(container, host, size):
    return [{"containerID": container, "hostID": host, "size": size}]


def run_out(runtime, bundle, script, extra_args=(), **edits):
    """Runs `sh -c script` in the foreground and returns its stdout; a failure shows stderr."""
    bundle.set(args=["sh", "-c", script], **edits)
    res = runtime.run(["run", *extra_args, "--bundle", bundle.path, runtime.new_id()])
    return res.stdout


def linux(bundle):
    return bundle.config.setdefault("linux", {})


def add_namespace(bundle, ns_type, path=None):
    entry = {"type": ns_type}
    if path is not None:
        entry["path"] = path
    nss = [n for n in linux(bundle).get("namespaces", []) if n["type"] != ns_type]
    linux(bundle)["namespaces"] = nss + [entry]


def use_user_namespace(bundle):
    add_namespace(bundle, "user")
    linux(bundle)["uidMappings"] = id_map(0, USERNS_HOST_ID, USERNS_SIZE)
    linux(bundle)["gidMappings"] = id_map(0, USERNS_HOST_ID, USERNS_SIZE)


def chown_tree(root, uid, gid):
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def mountinfo_entry(text, mount_point):
    """The last mountinfo line for mount_point as (options, optional_fields, fstype,
    super_options); the last one is the mount on top."""
    found = None
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        fields = pre.split()
        if len(fields) >= 6 and fields[4] == mount_point:
            post_fields = post.split()
            found = (fields[5].split(","), fields[6:], post_fields[0], post_fields[2].split(","))
    assert found is not None, f"{mount_point} not in mountinfo:\n{text}"
    return found


@pytest.fixture
def userns_bundle(bundle):
    """The bundle moved out of pytest's root-only tmp dirs: inside a user namespace the
    container's root is host uid 100000, which must be able to reach the rootfs."""
    base = Path(tempfile.mkdtemp(prefix="wmrun-userns-", dir="/tmp"))
    try:
        os.chmod(base, 0o711)
        shutil.copytree(bundle.path, base / "bundle", symlinks=True)
        moved = harness.Bundle(base / "bundle", bundle.config)
        use_user_namespace(moved)
        chown_tree(moved.rootfs, USERNS_HOST_ID, USERNS_HOST_ID)
        yield moved
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def host_mount(*args, target):
    subprocess.run(["mount", *args, str(target)], check=True, timeout=10)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, timeout=10)


# --- user namespace ------------------------------------------------------------------------

def test_user_namespace_maps_root_to_a_host_range(runtime, userns_bundle):
    bundle = userns_bundle
    out = run_out(runtime, bundle,
                  "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /made-inside",
                  readonly=False)
    lines = [l.split() for l in out.splitlines()]
    expected = ["0", str(USERNS_HOST_ID), str(USERNS_SIZE)]
    assert lines == [expected, expected, ["0"]], out
    st = os.stat(bundle.rootfs / "made-inside")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST_ID, USERNS_HOST_ID)


# --- joining namespaces by path -------------------------------------------------------------

def test_second_container_joins_the_first_ones_uts_namespace(runtime, bundle):
    bundle.set(args=["sleep", "60"], hostname="first-host")
    first = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, first])
    pid = runtime.state(first)["pid"]
    ns_path = f"/proc/{pid}/ns/uts"
    # Setting a hostname while joining a uts namespace is an error (runc refuses it too).
    bundle.config.pop("hostname", None)
    add_namespace(bundle, "uts", ns_path)
    out = run_out(runtime, bundle, "readlink /proc/self/ns/uts; hostname")
    assert out.splitlines() == [os.readlink(ns_path), "first-host"]
    assert os.readlink(ns_path) != os.readlink("/proc/self/ns/uts")
    runtime.run(["delete", "--force", first])


# --- mounts ---------------------------------------------------------------------------------

def test_bind_mounts_rbind_and_read_only(runtime, bundle, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top").write_text("top\n")
    with host_mount("-t", "tmpfs", "tmpfs", target=src / "sub"):
        (src / "sub" / "inner").write_text("inner\n")
        mounts = [
            {"destination": "/mnt/r", "type": "bind", "source": str(src),
             "options": ["rbind", "rw"]},
            {"destination": "/mnt/b", "type": "bind", "source": str(src),
             "options": ["bind", "rw"]},
            {"destination": "/mnt/ro", "type": "bind", "source": str(src),
             "options": ["rbind", "ro"]},
        ]
        out = run_out(runtime, bundle,
                      "cat /mnt/r/top /mnt/r/sub/inner; ls /mnt/b/sub | wc -l; "
                      "touch /mnt/r/sub/new && echo rw-ok; "
                      "touch /mnt/ro/x 2>&1; echo rc=$?",
                      add_mounts=mounts)
        lines = out.splitlines()
        # rbind brings the submount along; a plain bind shows the empty directory under it.
        assert lines[:5] == ["top", "inner", "0", "rw-ok"] + lines[4:5], out
        assert "Read-only file system" in lines[4], out
        assert lines[5] == "rc=1", out
        assert (src / "sub" / "new").exists()
        assert not (src / "x").exists()


def test_special_filesystems(runtime, bundle):
    mounts = [{"destination": "/mnt/cg2", "type": "cgroup2", "source": "cgroup2",
               "options": ["nosuid", "nodev", "noexec"]}]
    out = run_out(runtime, bundle,
                  "cat /proc/self/mountinfo; echo ===; "
                  "stat -c '%F %t:%T' /dev/pts/ptmx; readlink /dev/ptmx; "
                  "test -e /mnt/cg2/cgroup.procs && echo cg2-ok",
                  add_mounts=mounts)
    info, _, rest = out.partition("===\n")
    assert mountinfo_entry(info, "/proc")[2] == "proc"
    sys_opts, _, sys_type, _ = mountinfo_entry(info, "/sys")
    assert sys_type == "sysfs" and "ro" in sys_opts
    pts_opts, _, pts_type, pts_super = mountinfo_entry(info, "/dev/pts")
    assert pts_type == "devpts" and "ptmxmode=666" in pts_super, pts_super
    assert mountinfo_entry(info, "/dev/mqueue")[2] == "mqueue"
    cg_opts, _, cg_type, _ = mountinfo_entry(info, "/sys/fs/cgroup")
    # A tmpfs of v1 hierarchies on a hybrid or v1 host, cgroup2 on a v2 one; read-only either
    # way (test_cgroup_mount.py checks what they show).
    assert cg_type in ("cgroup2", "tmpfs")
    assert "ro" in cg_opts
    assert mountinfo_entry(info, "/mnt/cg2")[2] == "cgroup2"
    # ptmx of the private devpts instance is 5:2.
    assert rest.splitlines() == ["character special file 5:2", "pts/ptmx", "cg2-ok"], rest


def test_bind_mount_propagation_flags(runtime, bundle, tmp_path):
    src = tmp_path / "shared-src"
    src.mkdir()
    with host_mount("-t", "tmpfs", "tmpfs", target=src):
        subprocess.run(["mount", "--make-shared", str(src)], check=True, timeout=10)
        mounts = [{"destination": f"/mnt/{flag}", "type": "bind", "source": str(src),
                   "options": ["rbind", flag]} for flag in ("rshared", "rslave", "rprivate")]
        info = run_out(runtime, bundle, "cat /proc/self/mountinfo", add_mounts=mounts)
        tags = {flag: " ".join(mountinfo_entry(info, f"/mnt/{flag}")[1])
                for flag in ("rshared", "rslave", "rprivate")}
    assert tags["rshared"].startswith("shared:"), tags
    assert tags["rslave"].startswith("master:") and "shared:" not in tags["rslave"], tags
    assert tags["rprivate"] == "", tags


def test_rootfs_propagation(runtime, bundle):
    # The rootfs must sit in a shared peer group for "shared" to keep "/" in one.
    with host_mount("--bind", str(bundle.rootfs), target=bundle.rootfs):
        subprocess.run(["mount", "--make-shared", str(bundle.rootfs)], check=True, timeout=10)
        tags = {}
        for prop in ("shared", "private"):
            linux(bundle)["rootfsPropagation"] = prop
            info = run_out(runtime, bundle, "cat /proc/self/mountinfo")
            tags[prop] = " ".join(mountinfo_entry(info, "/")[1])
    assert tags["shared"].startswith("shared:"), tags
    assert tags["private"] == "", tags


# --- root -----------------------------------------------------------------------------------

def test_no_pivot_sees_its_root(runtime, bundle):
    (bundle.rootfs / "marker").write_text("in the rootfs\n")
    out = run_out(runtime, bundle,
                  "cat /marker; readlink /proc/self/root; test -e /work && echo host-visible; "
                  "cat /proc/self/mountinfo | wc -l",
                  extra_args=["--no-pivot"])
    lines = out.splitlines()
    assert lines[:2] == ["in the rootfs", "/"], out
    assert "host-visible" not in lines
    # Only the rootfs and the config's mounts remain, not the host's mount table.
    assert int(lines[-1]) < 30, out


# --- devices --------------------------------------------------------------------------------

def test_default_device_nodes_and_symlinks(runtime, bundle):
    out = run_out(runtime, bundle,
                  "cd /dev && stat -c '%n %F %t:%T' null zero full random urandom tty; "
                  "for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink $l); done")
    lines = out.splitlines()
    assert lines[:6] == [
        "null character special file 1:3", "zero character special file 1:5",
        "full character special file 1:7", "random character special file 1:8",
        "urandom character special file 1:9", "tty character special file 5:0",
    ], out
    assert lines[6:] == ["fd=/proc/self/fd", "stdin=/proc/self/fd/0",
                         "stdout=/proc/self/fd/1", "stderr=/proc/self/fd/2",
                         "ptmx=pts/ptmx"], out


def test_custom_device_node(runtime, bundle):
    linux(bundle)["devices"] = [{"path": "/dev/wmt-full", "type": "c", "major": 1, "minor": 7,
                                 "fileMode": 0o640, "uid": 1234, "gid": 5678}]
    out = run_out(runtime, bundle, "stat -c '%F %t:%T %a %u %g' /dev/wmt-full")
    assert out == "character special file 1:7 640 1234 5678\n"


# --- uts, process attributes ----------------------------------------------------------------

def test_domainname(runtime, bundle):
    bundle.config["domainname"] = "wmt.example"
    assert run_out(runtime, bundle, "cat /proc/sys/kernel/domainname") == "wmt.example\n"


def test_oom_score_adj(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 423
    assert run_out(runtime, bundle, "cat /proc/self/oom_score_adj") == "423\n"


def test_umask(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 0, "gid": 0, "umask": 0o027}
    out = run_out(runtime, bundle,
                  "touch /dev/shm/f; mkdir /dev/shm/d; stat -c %a /dev/shm/f /dev/shm/d")
    assert out.splitlines() == ["640", "750"]


def test_personality_linux32(runtime, bundle):
    linux(bundle)["personality"] = {"domain": "LINUX32"}
    assert run_out(runtime, bundle, "uname -m") == "i686\n"


def test_scheduler_and_io_priority(runtime, bundle):
    proc = bundle.config["process"]
    proc["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    proc["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    # Not applicable to the init (config.md): its affinity stays the host's.
    proc["execCPUAffinity"] = {"initial": "0", "final": "0"}
    out = run_out(runtime, bundle,
                  "cat /proc/self/stat; ionice -p $$; grep Cpus_allowed_list /proc/$$/status")
    stat, ionice, cpus = out.splitlines()
    fields = stat.rsplit(")", 1)[1].split()
    # Fields after the comm start at field 3: nice is field 19, policy field 41 (SCHED_BATCH 3).
    assert fields[19 - 3] == "5" and fields[41 - 3] == "3", stat
    assert ionice == "best-effort: prio 6"
    assert cpus.split()[1] == allowed_cpus(os.getpid()), cpus


def allowed_cpus(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split()[1]
    raise AssertionError(f"no Cpus_allowed_list for {pid}")


@pytest.mark.skipif(os.cpu_count() < 2, reason="needs two CPUs to tell initial from final")
def test_exec_cpu_affinity_initial_for_the_runtime_final_for_the_process(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "60"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    process = tmp_path / "process.json"
    script = "grep Cpus_allowed_list /proc/$$/status; sleep 3"
    proc = dict(bundle.config["process"], args=["sh", "-c", script],
                execCPUAffinity={"initial": "0", "final": "1"})
    process.write_text(json.dumps(proc))
    try:
        execer = runtime.spawn(["exec", "--process", process, cid])
        # The waiting `wmrun exec` runs on the initial CPUs, the process on the final ones.
        out = harness.wait_for_file_text(execer.stdout_path, "Cpus_allowed_list")
        assert out.split()[1] == "1", out
        assert allowed_cpus(execer.pid) == "0"
        assert execer.wait(timeout=20) == 0
    finally:
        runtime.run(["delete", "--force", cid])


def test_time_namespace_offsets(runtime, bundle):
    add_namespace(bundle, "time")
    linux(bundle)["timeOffsets"] = {"monotonic": {"secs": YEAR, "nanosecs": 0},
                                    "boottime": {"secs": YEAR, "nanosecs": 0}}
    out = run_out(runtime, bundle, "cat /proc/self/timens_offsets /proc/uptime")
    host_uptime = float(open("/proc/uptime").read().split()[0])
    lines = out.splitlines()
    assert sorted(l.split()[0] + " " + l.split()[1] for l in lines[:2]) == [
        f"boottime {YEAR}", f"monotonic {YEAR}"], out
    inside = float(lines[2].split()[0])
    assert abs(inside - host_uptime - YEAR) < 10, (inside, host_uptime)


# --- locking ----------------------------------------------------------------------------------

@pytest.mark.wmrun_only("holds wmrun's per-container lock file")
def test_commands_on_a_locked_container_wait_while_others_proceed(runtime, bundle, tmp_path):
    bundle.set(args=["sleep", "60"])
    busy, other = runtime.new_id(), runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, busy])
    runtime.run(["run", "--detach", "--bundle", bundle.path, other])
    lock_file = runtime.root / busy / "lock"
    assert lock_file.exists()
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        pause = runtime.spawn(["pause", busy])
        time.sleep(0.5)
        assert pause.poll() is None, "pause must wait for the container's lock"
        t0 = time.monotonic()
        assert runtime.state(other)["status"] == "running"
        runtime.run(["pause", other])
        runtime.run(["resume", other])
        assert time.monotonic() - t0 < 3 * harness.TIME_SCALE
        assert pause.poll() is None
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert pause.wait(timeout=10) == 0, pause.stderr_path.read_text()
    finally:
        os.close(fd)
        if pause.poll() is None:
            pause.kill()
            pause.wait(timeout=10)
    assert runtime.state(busy)["status"] == "paused"
    runtime.run(["resume", busy])
    for cid in (busy, other):
        runtime.run(["delete", "--force", cid])
