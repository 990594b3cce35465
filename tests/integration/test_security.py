"""The escape barrier: the default seccomp profile, and the known escapes of other runtimes
reproduced as real attempts (docs/security.md lists each defence and its test).

Every escape test plants a canary on the host and asserts it is unchanged afterwards: the
attempt either fails with a clear error or its effect stays inside the container.
"""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness
from harness import wait_for_file_text

pytestmark = pytest.mark.wmrun_only("uses wmrun's default profile and its own defences")

# A static probe that makes one raw syscall and prints "<return> <errno>": busybox has no
# applet for ptrace, keyctl, bpf or clone3.
PROBE_SOURCE = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; ++i) a[i - 2] = strtol(argv[i], 0, 0);
    errno = 0;
    long r = syscall(strtol(argv[1], 0, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    return 0;
}
"""

# x86_64 syscall numbers (asm/unistd_64.h).
NR = {"ptrace": 101, "keyctl": 250, "bpf": 321, "clone3": 435, "perf_event_open": 298,
      "kexec_load": 246, "init_module": 175, "setns": 308, "open_by_handle_at": 304}
PTRACE_TRACEME = 0
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3

_probe = []


@pytest.fixture
def probe(tmp_path_factory):
    """Path of the compiled static probe, built once per run."""
    if not _probe:
        if shutil.which("gcc") is None:
            pytest.skip("gcc is not installed: cannot build the syscall probe")
        d = tmp_path_factory.mktemp("probe")
        (d / "probe.c").write_text(PROBE_SOURCE)
        subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "probe"), str(d / "probe.c")],
                       check=True, capture_output=True, timeout=120)
        _probe.append(d / "probe")
    return _probe[0]


def install_probe(bundle, probe):
    shutil.copy2(probe, bundle.rootfs / "bin" / "probe")


def run_fg(runtime, bundle, args, **edits):
    bundle.set(args=list(args), **edits)
    return runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)


def probe_errno(runtime, bundle, name, *args):
    res = run_fg(runtime, bundle, ["probe", str(NR[name]), *map(str, args)])
    assert res.returncode == 0, res.stderr
    ret, err = res.stdout.split()
    return int(ret), int(err)


def add_caps(bundle, *caps):
    for s in ("bounding", "effective", "permitted"):
        have = bundle.config["process"]["capabilities"][s]
        bundle.config["process"]["capabilities"][s] = have + [c for c in caps if c not in have]
    bundle.write()


def without_seccomp(bundle):
    del bundle.config["linux"]["seccomp"]
    bundle.write()


# --- the default seccomp profile -------------------------------------------------------------

def test_spec_writes_the_default_seccomp_profile(bundle):
    sc = bundle.config["linux"]["seccomp"]
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO" and sc["defaultErrnoRet"] == errno.EPERM
    assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {n for r in sc["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
               for n in r["names"]}
    for name in ("mount", "umount2", "ptrace", "kexec_load", "bpf", "keyctl", "add_key",
                 "init_module", "open_by_handle_at", "perf_event_open", "userfaultfd", "unshare",
                 "setns", "pivot_root", "swapon", "reboot", "acct", "quotactl", "syslog"):
        assert name not in allowed, name


def test_normal_commands_work_under_the_default_profile(runtime, bundle):
    res = run_fg(runtime, bundle, ["sh", "-c",
                                   "echo hi; id -u; ls /bin/busybox; cat /etc/group; "
                                   "(sleep 0.1; echo child) & wait; mkdir /tmp/d && "
                                   "touch /tmp/d/f && ls /tmp/d"], readonly=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["hi", "0", "/bin/busybox", "root:x:0:", "child", "f"]


def test_user_namespace_unshare_is_denied(runtime, bundle):
    # Without the filter an unprivileged user namespace is allowed on this kernel; the baseline
    # run proves the test would see the difference.
    res = run_fg(runtime, bundle, ["unshare", "-U", "true"])
    assert res.returncode != 0
    assert "Operation not permitted" in res.stdout + res.stderr
    without_seccomp(bundle)
    base = run_fg(runtime, bundle, ["unshare", "-U", "true"])
    if base.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are off on this host: {base.stderr}")


def test_mount_is_denied_even_with_cap_sys_admin(runtime, bundle):
    add_caps(bundle, "CAP_SYS_ADMIN")
    res = run_fg(runtime, bundle, ["sh", "-c", "mount -t tmpfs t /mnt; echo rc=$?"])
    # busybox words EPERM as "permission denied (are you root?)".
    assert "permission denied" in res.stderr and "rc=1" in res.stdout, res
    without_seccomp(bundle)
    base = run_fg(runtime, bundle, ["sh", "-c", "mount -t tmpfs t /mnt && echo mounted"])
    assert "mounted" in base.stdout, base.stderr


def test_ptrace_keyctl_bpf_clone3_return_the_configured_errno(runtime, bundle, probe):
    install_probe(bundle, probe)
    cases = [("ptrace", (PTRACE_TRACEME,), errno.EPERM),
             ("keyctl", (KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING), errno.EPERM),
             ("bpf", (9999, 0, 0), errno.EPERM),  # an unknown command: EINVAL unfiltered
             ("perf_event_open", (0, 0, -1, -1, 0), errno.EPERM),
             ("kexec_load", (0, 0, 0, 0), errno.EPERM),
             ("clone3", (0, 0), errno.ENOSYS)]
    for name, args, want in cases:
        assert probe_errno(runtime, bundle, name, *args) == (-1, want), name
    # Unfiltered, the same calls succeed or fail for another reason: the errno above is the
    # filter's.
    without_seccomp(bundle)
    assert probe_errno(runtime, bundle, "ptrace", PTRACE_TRACEME) == (0, 0)
    assert probe_errno(runtime, bundle, "keyctl", KEYCTL_GET_KEYRING_ID,
                       KEY_SPEC_SESSION_KEYRING)[1] != errno.EPERM
    assert probe_errno(runtime, bundle, "bpf", 9999, 0, 0)[1] == errno.EINVAL
    assert probe_errno(runtime, bundle, "clone3", 0, 0)[1] == errno.EINVAL


def test_custom_errno_ret_is_returned(runtime, bundle, probe):
    install_probe(bundle, probe)
    bundle.config["linux"]["seccomp"]["syscalls"].append(
        {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42})
    bundle.write()
    assert probe_errno(runtime, bundle, "keyctl", KEYCTL_GET_KEYRING_ID,
                       KEY_SPEC_SESSION_KEYRING) == (-1, 42)
    # The default errno of the profile stays for the rest.
    assert probe_errno(runtime, bundle, "bpf", 9999, 0, 0) == (-1, errno.EPERM)


def test_exec_gets_the_same_filter(runtime, bundle):
    cid = runtime.new_id()
    bundle.set(args=["sleep", "30"])
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    res = runtime.run(["exec", cid, "unshare", "-U", "true"], check=False)
    assert res.returncode != 0
    assert "Operation not permitted" in res.stdout + res.stderr
    assert runtime.run(["exec", cid, "echo", "ok"]).stdout == "ok\n"


# --- helpers for the escape tests ------------------------------------------------------------

def tree_state(path):
    """Names, sizes, modes and content hashes under path, and whether anything there is a
    mount point: what an escape would change."""
    path = Path(path)
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            out[str(p.relative_to(path))] = (st.st_mode, st.st_size, digest)
    mounted = [harness.mount_point(l) for l in harness.mount_lines()
               if harness.mount_point(l).startswith(str(path))]
    return out, mounted


def plant_symlink(rootfs, rel, target):
    p = Path(rootfs) / rel
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


def drop_mount(bundle, destination):
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] != destination]
    bundle.write()


def climb(depth=24):
    return "/".join([".."] * depth)


# --- CVE-2024-21626: leaked fds and a working directory outside the rootfs -------------------

def test_no_fd_but_stdio_and_preserved_reaches_run_and_exec(runtime, bundle, tmp_path):
    cid = runtime.new_id()
    bundle.set(args=["sleep", "30"])
    base = " ".join([str(runtime.binary), "--root", str(runtime.root)])
    # A detached container keeps the runtime's stdio: files, not pipes we would wait on.
    script = (f"exec 3>{tmp_path}/preserved 4>{tmp_path}/leaked 5<{tmp_path} "
              f">{tmp_path}/run.out 2>&1; "
              f"exec {base} run -d --preserve-fds 1 --bundle {bundle.path} {cid}")
    res = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    fds = runtime.run(["exec", cid, "ls", "/proc/1/fd"]).stdout.split()
    assert sorted(map(int, fds)) == [0, 1, 2, 3], fds
    script = (f"exec 3>{tmp_path}/preserved 4>{tmp_path}/leaked 5<{tmp_path}; "
              f"exec {base} exec --preserve-fds 1 {cid} ls /proc/self/fd")
    res = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    # stdio, the preserved 3, and the fd ls opens itself to list the directory.
    fds = sorted(map(int, res.stdout.split()))
    assert fds[:4] == [0, 1, 2, 3] and len(fds) == 5, fds


LOOK_AROUND = f"cd {climb()} && ls; test -e /work && echo ROOT-IS-HOST; true"


def assert_inside(res, where):
    # The host's root has /work, the busybox rootfs has not; outside the container root the
    # climb would reach the host's /.
    if res.returncode != 0:
        return
    assert "work" not in res.stdout.split(), (where, res.stdout)
    assert "ROOT-IS-HOST" not in res.stdout, where


def test_cwd_that_climbs_out_stays_in_the_rootfs(runtime, bundle):
    assert Path("/work").is_dir()
    res = run_fg(runtime, bundle, ["sh", "-c", "pwd; " + LOOK_AROUND], cwd="/../../../")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "/" and "bin" in res.stdout.split()
    assert_inside(res, "cwd /../../../")


def test_cwd_through_proc_self_fd_stays_in_the_rootfs(runtime, bundle):
    plant_symlink(bundle.rootfs, "fdlink", "/proc/self/fd/7")
    for cwd in ["/fdlink"] + [f"/proc/self/fd/{n}" for n in range(3, 12)]:
        assert_inside(run_fg(runtime, bundle, ["sh", "-c", LOOK_AROUND], cwd=cwd), cwd)


def test_exec_cwd_through_proc_self_fd_stays_in_the_rootfs(runtime, bundle):
    cid = runtime.new_id()
    bundle.set(args=["sleep", "30"])
    plant_symlink(bundle.rootfs, "fdlink", "/proc/self/fd/7")
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    for cwd in ["/fdlink", "/../../.."] + [f"/proc/self/fd/{n}" for n in range(3, 12)]:
        res = runtime.run(["exec", "--cwd", cwd, cid, "sh", "-c", LOOK_AROUND], check=False)
        assert_inside(res, cwd)


# --- CVE-2021-30465: a symlink at a mount destination ----------------------------------------

def test_bind_mount_through_symlinks_lands_inside_the_rootfs(runtime, bundle, canary, tmp_path):
    src = tmp_path / "payload-dir"
    src.mkdir()
    (src / "payload").write_text("p\n")
    before = tree_state(canary)
    plant_symlink(bundle.rootfs, "abs", str(canary))
    plant_symlink(bundle.rootfs, "rel", climb() + str(canary))
    plant_symlink(bundle.rootfs, "parent", str(canary))
    binds = [{"destination": d, "type": "bind", "source": str(src), "options": ["rbind", "ro"]}
             for d in ("/abs", "/rel", "/parent/sub")]
    res = run_fg(runtime, bundle, ["sh", "-c", f"ls {canary} {canary}/sub"], add_mounts=binds,
                 readonly=False)
    assert tree_state(canary) == before
    assert not (canary / "payload").exists() and not (canary / "sub").exists()
    if res.returncode == 0:
        # The mounts landed on the symlinks' targets resolved inside the rootfs.
        assert res.stdout.split().count("payload") == 2, res.stdout


# --- CVE-2025-31133 / CVE-2025-52565: masked paths and /dev/console as symlinks --------------

def test_masked_path_symlink_and_dev_null_symlink(runtime, bundle, canary):
    before = tree_state(canary)
    drop_mount(bundle, "/dev")  # the image's own /dev, where its symlinks are
    plant_symlink(bundle.rootfs, "dev/null", "/proc/sys/kernel/core_pattern")
    plant_symlink(bundle.rootfs, "etc/masked", str(canary / "secret"))
    bundle.config["linux"]["maskedPaths"].append("/etc/masked")
    bundle.write()
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    res = run_fg(runtime, bundle, ["sh", "-c",
                                   "stat -c %t,%T /proc/keys; "
                                   "echo pwned > /proc/keys; cat /proc/keys | wc -c"])
    assert tree_state(canary) == before
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern
    assert res.returncode == 0, res.stderr
    # /proc/keys is masked with the host's /dev/null (1,3), not whatever the image's
    # /dev/null pointed to.
    assert res.stdout.split() == ["1,3", "0"], res.stdout


def test_dev_console_symlink_with_a_terminal(runtime, bundle, canary, tmp_path):
    import socket
    import threading
    before = tree_state(canary)
    drop_mount(bundle, "/dev")
    plant_symlink(bundle.rootfs, "dev/console", "/proc/sys/kernel/core_pattern")
    plant_symlink(bundle.rootfs, "dev/console2", str(canary / "secret"))
    plant_symlink(bundle.rootfs, "dev/ptmx", "pts/ptmx")
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    sock_path = tmp_path / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 64, 1)
            if fds:
                got["fd"] = fds[0]
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    bundle.set(args=["sh", "-c", "echo pwned > /proc/sys/kernel/core_pattern; "
                                 "echo pwned > /dev/console; echo done"], terminal=True)
    cid = runtime.new_id()
    res = runtime.run(["run", "--console-socket", sock_path, "--bundle", bundle.path, cid],
                      check=False)
    t.join(5)
    srv.close()
    if "fd" in got:
        os.close(got["fd"])
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern
    assert tree_state(canary) == before
    # Refused with an error that names the console, or run with the write confined.
    assert res.returncode == 0 or "console" in res.stderr, res.stderr


# --- CVE-2025-52881: procfs writes redirected ------------------------------------------------

# Sysctls are written through a private procfs instance (runtime/src/process/procfs.hpp): what the
# bundle mounts or plants at /proc/sys cannot redirect them, and the value lands in the real
# sysctl of the container's namespace. A second proc mount shows it.
PROC2 = {"destination": "/proc2", "type": "proc", "source": "proc"}


def test_sysctl_through_a_bind_mount_lands_on_the_real_sysctl(runtime, bundle, canary):
    target = canary / "secret"
    before = tree_state(canary)
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.write()
    bind = {"destination": "/proc/sys/kernel/domainname", "type": "bind",
            "source": str(target), "options": ["bind"]}
    res = run_fg(runtime, bundle, ["cat", "/proc2/sys/kernel/domainname"],
                 add_mounts=[bind, PROC2])
    assert res.returncode == 0 and res.stdout == "pwned\n", res.stderr
    assert tree_state(canary) == before


def test_sysctl_through_a_symlink_without_procfs_lands_on_the_real_sysctl(runtime, bundle,
                                                                         canary):
    before = tree_state(canary)
    drop_mount(bundle, "/proc")
    plant_symlink(bundle.rootfs, "proc/sys/kernel/domainname", str(canary / "secret"))
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.write()
    res = run_fg(runtime, bundle, ["cat", "/proc2/sys/kernel/domainname"], add_mounts=[PROC2])
    assert res.returncode == 0 and res.stdout == "pwned\n", res.stderr
    assert tree_state(canary) == before


def test_readonly_path_symlink_does_not_touch_the_host(runtime, bundle, canary):
    before = tree_state(canary)
    plant_symlink(bundle.rootfs, "etc/ro", str(canary))
    bundle.config["linux"]["readonlyPaths"].append("/etc/ro")
    bundle.write()
    run_fg(runtime, bundle, ["true"])
    assert tree_state(canary) == before
    (canary / "still-writable").write_text("x")


# --- CVE-2026-41579 and malicious bundles: /dev, /proc, /sys and device paths as symlinks ----

@pytest.mark.parametrize("how", ["absolute", "relative"])
@pytest.mark.parametrize("dev_mount", [True, False])
def test_dev_symlink_in_the_image_stays_inside(runtime, bundle, canary, how, dev_mount):
    before = tree_state(canary)
    target = str(canary) if how == "absolute" else climb() + str(canary)
    plant_symlink(bundle.rootfs, "dev", target)
    if not dev_mount:
        drop_mount(bundle, "/dev")
        for d in ("/dev/pts", "/dev/shm", "/dev/mqueue"):
            drop_mount(bundle, d)
    res = run_fg(runtime, bundle, ["sh", "-c", "echo hi > /dev/null && echo ok"])
    assert tree_state(canary) == before, res.stderr
    assert not (canary / "null").exists()
    assert res.returncode == 0 or "dev" in res.stderr, res.stderr


@pytest.mark.parametrize("where", ["proc", "sys"])
def test_proc_or_sys_symlink_is_refused(runtime, bundle, canary, where):
    before = tree_state(canary)
    plant_symlink(bundle.rootfs, where, str(canary))
    res = run_fg(runtime, bundle, ["true"])
    assert res.returncode != 0 and "symlink" in res.stderr, res.stderr
    assert tree_state(canary) == before


def test_device_path_through_a_symlink_stays_inside(runtime, bundle, canary):
    before = tree_state(canary)
    drop_mount(bundle, "/dev")
    plant_symlink(bundle.rootfs, "dev/sub", str(canary))
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
        {"path": "/dev/sub/secret", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    bundle.write()
    res = run_fg(runtime, bundle, ["sh", "-c", f"ls {canary}"])
    assert tree_state(canary) == before, res.stderr
    if res.returncode == 0:
        assert sorted(res.stdout.split()) == ["mynull", "secret"], res.stdout


# --- CVE-2019-5736: the runtime binary seen from inside the container ------------------------

def private_binary(runtime, tmp_path):
    """A copy of the binary under test for the test to run, so that a defence that fails
    corrupts the copy and not the build."""
    copy = tmp_path / "bin" / "wmrun"
    copy.parent.mkdir()
    shutil.copy2(runtime.binary, copy)
    runtime.binary = copy
    return copy


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_create_init_does_not_run_the_host_binary(runtime, bundle, tmp_path):
    binary = private_binary(runtime, tmp_path)
    cid = runtime.new_id()
    bundle.set(args=["true"])
    runtime.run(["create", "--bundle", bundle.path, cid])
    pid = runtime.state(cid)["pid"]
    # The init waits for start inside the container, still running the runtime's image.
    exe = f"/proc/{pid}/exe"
    # As root: the binary through a detached read-only overlay (the link names it relative to
    # that mount, which is on no mount tree), a file of its own device that no one can write.
    assert os.readlink(exe) == "/wmrun", os.readlink(exe)
    assert os.stat(exe).st_dev != os.stat(binary).st_dev
    assert os.statvfs(exe).f_flag & os.ST_RDONLY
    with pytest.raises(OSError) as denied:
        fd = os.open(exe, os.O_WRONLY)
        try:
            os.write(fd, b"PWNED")
        finally:
            os.close(fd)
    assert denied.value.errno in (errno.EROFS, errno.ETXTBSY), denied.value
    runtime.run(["delete", "--force", cid])


def test_without_overlayfs_the_init_runs_from_a_sealed_copy(runtime, bundle, tmp_path):
    """When the overlay cannot be made (here: the state root lies inside the binary's own
    directory, so the two layers would overlap), a sealed memfd copy serves."""
    binary = private_binary(runtime, tmp_path)
    runtime.root = binary.parent / "state"
    cid = runtime.new_id()
    bundle.set(args=["true"])
    runtime.run(["create", "--bundle", bundle.path, cid])
    try:
        exe = f"/proc/{runtime.state(cid)['pid']}/exe"
        assert os.readlink(exe).startswith("/memfd:wmrun"), os.readlink(exe)
        assert os.stat(exe).st_ino != os.stat(binary).st_ino
        with pytest.raises(OSError):
            os.open(exe, os.O_WRONLY)
    finally:
        runtime.run(["delete", "--force", cid])


def copy_shared_libraries(binary, rootfs):
    """The dynamic loader and libraries the binary needs, at their host paths in the rootfs
    (none for the static build)."""
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    if "not a dynamic executable" in res.stdout + res.stderr:
        return
    res.check_returncode()
    out = res.stdout
    for line in out.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            dest = Path(rootfs) / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)


# The classic exploit, in the container's shell: find the runtime that re-executed itself in
# the container, hold its /proc/<pid>/exe open, let it exit, then write through the fd.
ATTACK = r"""
p=
for i in $(seq 100); do
  for d in /proc/[0-9]*; do
    [ "$(head -c 14 $d/cmdline 2>/dev/null)" = /proc/self/exe ] && p=${d#/proc/}
  done
  [ -n "$p" ] && break
  sleep 0.05
done
[ -n "$p" ] || { echo NOT-FOUND; exit 0; }
exec 3</proc/$p/exe || { echo NO-OPEN; exit 0; }
echo OPENED
cat /tmp/f > /dev/null
for i in $(seq 60); do
  if echo PWNED 1<>/proc/self/fd/3 2>/dev/null; then echo WROTE; exit 0; fi
  sleep 0.05
done
echo DENIED
"""


def test_exec_cannot_overwrite_the_runtime_through_proc_self_exe(runtime, bundle, tmp_path):
    binary = private_binary(runtime, tmp_path)
    digest = sha256(binary)
    copy_shared_libraries(binary, bundle.rootfs)
    # The program `exec` is asked to run makes the kernel run the runtime itself inside the
    # container; `--root` swallows the script's name and `--log` on a fifo keeps it waiting.
    evil = bundle.rootfs / "bin" / "evil"
    evil.write_text("#!/proc/self/exe --root\n")
    evil.chmod(0o755)
    os.mkfifo(bundle.rootfs / "tmp" / "f")
    cid = runtime.new_id()
    bundle.set(args=["sleep", "60"], readonly=False)
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    victim = runtime.spawn(["exec", cid, "/bin/evil", "--log", "/tmp/f", "state", "x"])
    try:
        # While it waits, its exe link on the host is not the binary's file.
        deadline = time.monotonic() + 10
        pid = None
        while pid is None and time.monotonic() < deadline:
            for d in Path("/proc").iterdir():
                try:
                    if d.name.isdigit() and (d / "cmdline").read_bytes().startswith(
                            b"/proc/self/exe\0--root\0/bin/evil"):
                        pid = int(d.name)
                except OSError:
                    pass
            time.sleep(0.02)
        assert pid is not None, victim.stderr_path.read_text()
        exe, host = os.stat(f"/proc/{pid}/exe"), os.stat(binary)
        assert (exe.st_dev, exe.st_ino) != (host.st_dev, host.st_ino)
        attack = runtime.run(["exec", cid, "sh", "-c", ATTACK], check=False, timeout=30)
    finally:
        victim.wait(timeout=20)
    assert "OPENED" in attack.stdout, attack.stdout + attack.stderr
    assert "WROTE" not in attack.stdout
    assert sha256(binary) == digest


# --- the seccomp notify listener ------------------------------------------------------------

# <linux/seccomp.h>: _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, seccomp_notif_resp).
SECCOMP_NOTIF_SIZE = 80      # id u64, pid u32, flags u32, seccomp_data (nr, arch, ip, args[6])
SECCOMP_NOTIF_RESP_SIZE = 24  # id u64, val s64, error s32, flags u32
SECCOMP_IOCTL_NOTIF_RECV = (3 << 30) | (SECCOMP_NOTIF_SIZE << 16) | (ord("!") << 8) | 0
SECCOMP_IOCTL_NOTIF_SEND = (3 << 30) | (SECCOMP_NOTIF_RESP_SIZE << 16) | (ord("!") << 8) | 1
NR_MKDIR, NR_MKDIRAT = 83, 258


class ListenerAgent:
    """A seccomp agent: takes one connection on a unix socket, receives the listener fd with
    the container process state, then answers notifications with ioctls on that fd."""

    def __init__(self, path):
        import socket
        import threading
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.settimeout(20)
        self.fd = None
        self.state = None
        self.fds_received = 0
        self.error = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        import socket
        try:
            conn, _ = self.server.accept()
            with conn:
                conn.settimeout(20)
                data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
                chunks = [data]
                while True:  # one message per connection: the runtime closes it when done
                    more = conn.recv(65536)
                    if not more:
                        break
                    chunks.append(more)
            self.fds_received = len(fds)
            self.fd = fds[0] if fds else None
            for extra in fds[1:]:
                os.close(extra)
            self.state = json.loads(b"".join(chunks))
        except Exception as e:  # reported by wait()
            self.error = e

    def wait(self, timeout=20):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the runtime never connected to listenerPath"
        assert self.error is None, repr(self.error)
        return self.state

    def receive(self, timeout=10):
        """The next notification as (id, pid, syscall nr), waiting up to timeout."""
        import fcntl
        import select
        import struct
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        assert p.poll(timeout * 1000), "no notification arrived"
        buf = bytearray(SECCOMP_NOTIF_SIZE)
        fcntl.ioctl(self.fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
        nid, pid, _flags, nr = struct.unpack_from("=QIIi", buf)
        return nid, pid, nr

    def answer_error(self, nid, err):
        import fcntl
        import struct
        resp = bytearray(struct.pack("=Qqil", nid, 0, -err, 0)[:SECCOMP_NOTIF_RESP_SIZE])
        fcntl.ioctl(self.fd, SECCOMP_IOCTL_NOTIF_SEND, resp)

    def close(self):
        self.server.close()
        if self.fd is not None:
            os.close(self.fd)


def notify_profile(listener, metadata):
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": str(listener), "listenerMetadata": metadata,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


def process_state_letter(pid):
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_seccomp_notify_listener_gets_the_fd_and_answers(runtime, bundle, tmp_path,
                                                         no_new_privileges):
    agent = ListenerAgent(tmp_path / "agent.sock")
    try:
        bundle.config["linux"]["seccomp"] = notify_profile(agent.path, "tenant=a;policy=deny")
        bundle.config["process"]["noNewPrivileges"] = no_new_privileges
        bundle.config["annotations"] = {"org.example.team": "blue"}
        bundle.set(args=["sh", "-c", "echo started > /tmp/started; mkdir /tmp/notified; "
                                     "echo rc=$? > /tmp/result"], readonly=False)
        cid = runtime.new_id()
        run = runtime.spawn(["run", "--bundle", bundle.path, cid])
        state = agent.wait()
        assert agent.fds_received == 1 and agent.fd is not None
        assert state["fds"] == ["seccompFd"]
        assert state["metadata"] == "tenant=a;policy=deny"
        assert state["ociVersion"] == bundle.config["ociVersion"]
        assert state["state"]["id"] == cid
        assert state["state"]["status"] == "creating"
        assert state["state"]["bundle"] == str(bundle.path)
        assert state["state"]["annotations"] == {"org.example.team": "blue"}
        assert state["pid"] == state["state"]["pid"] > 0

        nid, pid, nr = agent.receive()
        assert nr in (NR_MKDIR, NR_MKDIRAT)
        # The caller is the container's (the shell's mkdir child, or the shell itself).
        init = runtime.state(cid)["pid"]
        ppid = next(int(line.split()[1]) for line in
                    Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("PPid:"))
        assert init in (pid, ppid)
        assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{init}/ns/mnt")
        # The call waits for the agent: the shell has not gone on to write its result.
        time.sleep(0.3)
        assert (bundle.rootfs / "tmp" / "started").exists()
        assert not (bundle.rootfs / "tmp" / "result").exists()
        assert process_state_letter(pid) == "S"
        agent.answer_error(nid, errno.ETXTBSY)
        assert run.wait(timeout=20) == 0, run.stderr_path.read_text()
        assert (bundle.rootfs / "tmp" / "result").read_text() == "rc=1\n"
        assert os.strerror(errno.ETXTBSY) in run.stderr_path.read_text()
        assert not (bundle.rootfs / "tmp" / "notified").exists()
    finally:
        agent.close()


def test_seccomp_notify_without_an_agent_fails_create(runtime, bundle, tmp_path):
    # config-linux.md: if sending to listenerPath fails, the runtime must generate an error.
    bundle.config["linux"]["seccomp"] = notify_profile(tmp_path / "nobody.sock", "")
    bundle.set(args=["true"])
    cid = runtime.new_id()
    res = runtime.run(["run", "--bundle", bundle.path, cid], check=False)
    assert res.returncode != 0
    assert "nobody.sock" in res.stderr and "listenerPath" in res.stderr, res.stderr
    assert cid not in runtime.list_ids()


def test_seccomp_notify_listener_of_an_exec_process(runtime, bundle, tmp_path):
    # Each process that loads the filter has its own listener: `exec` sends its own to the
    # agent (a second connection), with the container's state, as runc does.
    path = tmp_path / "agent.sock"
    first = ListenerAgent(path)
    try:
        bundle.config["linux"]["seccomp"] = notify_profile(first.path, "exec-test")
        bundle.set(args=["sleep", "60"], readonly=False)
        cid = runtime.new_id()
        runtime.run(["run", "-d", "--bundle", bundle.path, cid])
        assert first.wait()["pid"] == runtime.state(cid)["pid"]
    finally:
        first.close()
    path.unlink()
    second = ListenerAgent(path)
    try:
        exe = runtime.spawn(["exec", cid, "mkdir", "/tmp/from-exec"])
        state = second.wait()
        assert state["metadata"] == "exec-test" and state["state"]["id"] == cid
        assert state["state"]["status"] == "running"
        assert state["pid"] != state["state"]["pid"]  # the exec'd process, not the init
        nid, pid, nr = second.receive()
        assert nr in (NR_MKDIR, NR_MKDIRAT) and pid == state["pid"]
        second.answer_error(nid, errno.ETXTBSY)
        assert exe.wait(timeout=20) != 0
        assert os.strerror(errno.ETXTBSY) in exe.stderr_path.read_text()
        assert not (bundle.rootfs / "tmp" / "from-exec").exists()
    finally:
        second.close()
    runtime.run(["delete", "--force", cid])
