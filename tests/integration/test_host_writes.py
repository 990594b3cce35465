"""What a config or a container could make the runtime write on the host: sysctls outside the
container's namespaces, procfs writes redirected by what the container mounted, and security
labels that would be dropped (docs/security.md).

Each test reads the host's values before and after and restores them whatever happens.
"""

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only("checks wmrun's own refusals and procfs handling")


def host_sysctl(key):
    return Path("/proc/sys/" + key.replace(".", "/")).read_text().strip()


# Every host sysctl a test here may change (if the runtime under test lets it through): saved
# before and put back after each test, whatever happens.
WATCHED = ["vm.swappiness", "vm.overcommit_ratio", "kernel.core_pattern", "fs.file-max",
           "net.ipv4.ip_forward", "kernel.shmmax"]


@pytest.fixture
def host_sysctls():
    saved = {k: host_sysctl(k) for k in WATCHED}
    yield saved
    for k, v in saved.items():
        if host_sysctl(k) != v:
            Path("/proc/sys/" + k.replace(".", "/")).write_text(v)


def wait_for_path(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def run_with_sysctl(runtime, bundle, sysctl, script="true", **edits):
    bundle.config["linux"]["sysctl"] = sysctl
    bundle.set(args=["sh", "-c", script], **edits)
    return runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)


# --- linux.sysctl: only what belongs to the container's own namespaces ------------------------

# Values close to the host's own, so that a runtime that lets one through harms nothing in the
# moment before the fixture puts it back.
@pytest.mark.parametrize("key,change", [
    ("vm.swappiness", lambda v: str(int(v) % 90 + 3)),
    ("vm/overcommit_ratio", lambda v: str(int(v) + 1)),
    ("kernel.core_pattern", lambda v: v + ".wmrun-test"),
    ("fs.file-max", lambda v: str(int(v) - 1)),
])
def test_a_host_wide_sysctl_is_refused(runtime, bundle, host_sysctls, key, change):
    value = change(host_sysctl(key.replace("/", ".")))
    res = run_with_sysctl(runtime, bundle, {key: value})
    assert res.returncode != 0
    why = "is not in a namespace of the container's own: it would change the host"
    assert f"linux.sysctl: {key}: {why}" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert {k: host_sysctl(k) for k in WATCHED} == host_sysctls


def test_a_net_sysctl_without_a_network_namespace_is_refused(runtime, bundle, host_sysctls):
    before = host_sysctl("net.ipv4.ip_forward")
    flipped = "0" if before == "1" else "1"
    res = run_with_sysctl(runtime, bundle, {"net.ipv4.ip_forward": flipped},
                          drop_namespaces=("network",))
    assert res.returncode != 0
    assert "net.ipv4.ip_forward: is not allowed in the host's network namespace" in res.stderr
    assert host_sysctl("net.ipv4.ip_forward") == before


def test_joining_the_hosts_network_namespace_by_path_counts_as_the_hosts(runtime, bundle,
                                                                         host_sysctls):
    before = host_sysctl("net.ipv4.ip_forward")
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/1/ns/net"
    flipped = "0" if before == "1" else "1"
    res = run_with_sysctl(runtime, bundle, {"net.ipv4.ip_forward": flipped})
    assert res.returncode != 0 and "host's network namespace" in res.stderr, res.stderr
    assert host_sysctl("net.ipv4.ip_forward") == before


def test_an_ipc_sysctl_needs_an_ipc_namespace(runtime, bundle, host_sysctls):
    res = run_with_sysctl(runtime, bundle, {"kernel.shmmax": "123456"},
                          drop_namespaces=("ipc",))
    assert res.returncode != 0
    assert "kernel.shmmax: is not allowed in the host's IPC namespace" in res.stderr
    assert host_sysctl("kernel.shmmax") == host_sysctls["kernel.shmmax"]


def test_hostname_sysctl_conflicts_with_the_hostname_field(runtime, bundle):
    res = run_with_sysctl(runtime, bundle, {"kernel.hostname": "x"})
    assert res.returncode != 0 and "conflicts with the config's hostname field" in res.stderr


def test_a_sysctl_name_cannot_climb_out_of_proc_sys(runtime, bundle):
    res = run_with_sysctl(runtime, bundle, {"net/../../../etc/x": "1"})
    assert res.returncode != 0 and "is not a sysctl name" in res.stderr, res.stderr


def test_namespaced_sysctls_are_set_inside_and_not_on_the_host(runtime, bundle, host_sysctls):
    forward = "0" if host_sysctls["net.ipv4.ip_forward"] == "1" else "1"
    res = run_with_sysctl(
        runtime, bundle,
        {"kernel.shmmax": "123456", "net.ipv4.ip_forward": forward,
         "kernel.domainname": "inside.example"},
        script="cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward "
               "/proc/sys/kernel/domainname")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["123456", forward, "inside.example"]
    assert host_sysctl("kernel.shmmax") == host_sysctls["kernel.shmmax"]
    assert host_sysctl("net.ipv4.ip_forward") == host_sysctls["net.ipv4.ip_forward"]


# --- procfs writes cannot be redirected by what the container mounts ------------------------

def test_exec_oom_score_adj_cannot_be_redirected_to_a_host_sysctl(runtime, bundle, host_sysctls,
                                                                   tmp_path):
    """A container with CAP_SYS_ADMIN (and no seccomp filter) puts a tmpfs over its /proc whose
    self/oom_score_adj is a symlink to vm/swappiness of a real proc it mounted elsewhere. An exec
    with oomScoreAdj that writes through the container's /proc lands on the host's
    vm.swappiness."""
    before = host_sysctl("vm.swappiness")
    value = str(int(before) % 90 + 3)
    caps = bundle.config["process"]["capabilities"]
    for s in ("bounding", "effective", "permitted"):
        caps[s] = sorted(set(caps[s]) | {"CAP_SYS_ADMIN"})
    del bundle.config["linux"]["seccomp"]
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    script = ("mkdir -p /p2 && mount -t proc proc /p2 && mount -t tmpfs t /proc && "
              "mkdir /proc/self && ln -s /p2/sys/vm/swappiness /proc/self/oom_score_adj && "
              "touch /ready && sleep 30")
    bundle.set(args=["sh", "-c", script], readonly=False)
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    wait_for_path(bundle.rootfs / "ready")
    process = dict(bundle.config["process"], args=["cat", "/p2/self/oom_score_adj"],
                   oomScoreAdj=int(value))
    (tmp_path / "process.json").write_text(json.dumps(process))
    res = runtime.run(["exec", "--process", tmp_path / "process.json", cid], check=False)
    assert host_sysctl("vm.swappiness") == before
    assert res.returncode == 0, res.stderr
    # The value went where it belongs: the exec'd process's own oom_score_adj.
    assert res.stdout == value + "\n"
    runtime.run(["delete", "--force", cid])


def test_init_oom_score_adj_is_set_from_the_host(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 421
    bundle.set(args=["cat", "/proc/self/oom_score_adj"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert res.stdout == "421\n"


# --- security labels: applied or refused, never dropped -------------------------------------

def active_lsms():
    try:
        return Path("/sys/kernel/security/lsm").read_text().strip().split(",")
    except OSError:
        return []


@pytest.mark.parametrize("field,value,lsm", [
    ("process.apparmorProfile", "wmrun-test-profile", "apparmor"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0", "selinux"),
    ("linux.mountLabel", "system_u:object_r:container_file_t:s0", "selinux"),
])
def test_a_label_for_an_lsm_the_kernel_lacks_is_refused(runtime, bundle, field, value, lsm):
    if lsm in active_lsms():
        pytest.skip(f"{lsm} is active on this kernel: the label would be applied")
    section, key = field.split(".")
    bundle.config[section][key] = value
    bundle.set(args=["true"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)
    assert res.returncode != 0
    name = "AppArmor" if lsm == "apparmor" else "SELinux"
    assert f"{field}: {value}: {name} is not enabled on this host" in res.stderr, res.stderr
    features = json.loads(runtime.run(["features"]).stdout)
    assert features["linux"][lsm]["enabled"] is False


def test_exec_label_flags_are_refused_without_the_lsm_and_cgroup_is_refused(runtime, bundle):
    if "apparmor" in active_lsms():
        pytest.skip("AppArmor is active on this kernel: --apparmor would be applied")
    bundle.set(args=["sleep", "30"])
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid])
    res = runtime.run(["exec", "--apparmor", "unconfined-please", cid, "true"], check=False)
    assert res.returncode != 0 and "AppArmor is not enabled on this host" in res.stderr
    res = runtime.run(["exec", "--cgroup", "sub", cid, "true"], check=False)
    assert res.returncode != 0 and "--cgroup" in res.stderr and "not supported" in res.stderr
    runtime.run(["delete", "--force", cid])


# --- the notify socket directory is the container's: nothing there is followed --------------

def test_notify_socket_mode_is_set_without_following_the_containers_links(runtime, bundle,
                                                                        canary, tmp_path):
    """The notify directory is bound into the container, which may replace notify.sock with a
    symlink to a host file at any moment; `start` used to chmod 0777 by path after its bind.
    An exec'd loop swaps the link in as fast as it can while `start` runs; the host file keeps
    its mode, and the socket still takes messages from any user (0777 from the bind itself)."""
    import socket
    secret = canary / "secret"
    os.chmod(secret, 0o600)
    shutil.copy2(harness.support_binary("notify-ready"), bundle.rootfs / "bin" / "notify-ready")
    host = tmp_path / "host-notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(host))
    env = {"NOTIFY_SOCKET": str(host)}
    swap = (f"while :; do rm -f /run/notify/notify.sock; "
            f"ln -s {secret} /run/notify/notify.sock 2>/dev/null; done")
    bundle.set(args=["/bin/notify-ready", "0"])
    started = 0
    for _ in range(8):
        cid = runtime.new_id()
        runtime.run(["create", "--bundle", bundle.path, cid], env=env)
        runtime.run(["exec", "-d", cid, "sh", "-c", swap])
        res = runtime.run(["start", cid], env=env, check=False)
        started += res.returncode == 0
        runtime.run(["delete", "--force", cid])
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    listener.close()
    # Without the swapping loop the socket is there for any user.
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid], env=env)
    state_dir = runtime.root / cid / "notify"
    runtime.run(["start", cid], env=env, check=False)
    sock = state_dir / "notify.sock"
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o777
    runtime.run(["delete", "--force", cid])
