"""Idmapped mounts (config.md "Mounts": idmap, ridmap, a mount's uidMappings/gidMappings),
each checked from inside a real container.

A mapping {containerID c, hostID h} reads as runc and the kernel read it: an id c on the
filesystem shows as h through the mount (and h written through the mount lands as c).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from test_linux_config import host_mount, id_map, userns_bundle  # noqa: F401 (a fixture)

OVERFLOW_ID = int(Path("/proc/sys/kernel/overflowuid").read_text())


def idmapped(destination, source, options, maps=None):
    m = {"destination": destination, "type": "bind", "source": str(source), "options": options}
    if maps is not None:
        m["uidMappings"] = maps
        m["gidMappings"] = maps
    return m


def run_out(runtime, bundle, script, mounts):
    bundle.set(args=["sh", "-c", script], add_mounts=mounts)
    return runtime.run(["run", "--bundle", bundle.path, runtime.new_id()]).stdout


def run_fails(runtime, bundle, mounts):
    """Runs a container that must not be created; returns create's stderr."""
    bundle.set(args=["true"], add_mounts=mounts)
    cid = runtime.new_id()
    res = runtime.run(["run", "--bundle", bundle.path, cid], check=False)
    assert res.returncode != 0, res.stdout
    assert cid not in runtime.list_ids()
    return res.stderr


def kernel_version():
    return tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])


def owners(text):
    """`stat -c '%n %u:%g'` lines as {name: "uid:gid"}."""
    return dict(line.split() for line in text.splitlines() if line.strip())


def make_tree(root, uid, gid, names=("file",)):
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_text(name)
        os.chown(root / name, uid, gid)
    os.chown(root, uid, gid)
    return root


# --- the mount's own mappings ------------------------------------------------------------------

def test_files_of_uid_1000_show_as_root_and_roots_files_land_as_1000(runtime, bundle, tmp_path):
    src = make_tree(tmp_path / "src", 1000, 1000)
    maps = id_map(1000, 0, 1)
    out = run_out(runtime, bundle,
                  "stat -c '%n %u:%g' /mnt/idm /mnt/idm/file /mnt/plain/file; "
                  "echo hi > /mnt/idm/made-inside; stat -c '%n %u:%g' /mnt/idm/made-inside",
                  [idmapped("/mnt/idm", src, ["bind", "idmap"], maps),
                   idmapped("/mnt/plain", src, ["bind"])])
    assert owners(out) == {"/mnt/idm": "0:0", "/mnt/idm/file": "0:0",
                           "/mnt/plain/file": "1000:1000", "/mnt/idm/made-inside": "0:0"}, out
    st = os.stat(src / "made-inside")
    assert (st.st_uid, st.st_gid) == (1000, 1000)


def test_mapping_reads_filesystem_ids_as_container_ids_as_runc_does(runtime, bundle, tmp_path):
    # runc's "simple idmap mount [no userns]": a root-owned file seen through 0 -> 100000.
    src = make_tree(tmp_path / "src", 0, 0)
    out = run_out(runtime, bundle, "stat -c '%n %u:%g' /mnt/idm/file",
                  [idmapped("/mnt/idm", src, ["bind", "idmap"], id_map(0, 100000, 65536))])
    assert owners(out) == {"/mnt/idm/file": "100000:100000"}, out


def test_mappings_without_the_option_still_idmap(runtime, bundle, tmp_path):
    # config.md asks for idmap/ridmap next to the mappings; runc honours them without it too.
    src = make_tree(tmp_path / "src", 1000, 1000)
    out = run_out(runtime, bundle, "stat -c '%n %u:%g' /mnt/idm/file",
                  [idmapped("/mnt/idm", src, ["bind"], id_map(1000, 0, 1))])
    assert owners(out) == {"/mnt/idm/file": "0:0"}, out


def test_other_options_apply_to_the_idmapped_mount(runtime, bundle, tmp_path):
    src = make_tree(tmp_path / "src", 1000, 1000)
    out = run_out(runtime, bundle,
                  "stat -c '%n %u:%g' /mnt/idm/file; touch /mnt/idm/x 2>/dev/null || echo ro; "
                  "grep ' /mnt/idm ' /proc/self/mountinfo",
                  [idmapped("/mnt/idm", src, ["bind", "idmap", "ro", "nosuid", "rprivate"],
                            id_map(1000, 0, 1))])
    lines = out.splitlines()
    assert lines[0] == "/mnt/idm/file 0:0" and lines[1] == "ro", out
    opts = lines[2].split()[5].split(",")
    assert "ro" in opts and "nosuid" in opts and "idmapped" in opts, out
    assert not (src / "x").exists()


def test_idmapped_tmpfs(runtime, bundle):
    # A new filesystem is idmapped too: its root, owned by 0, shows as 1000 through 0 -> 1000.
    mount = {"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
             "options": ["idmap", "mode=755"], "uidMappings": id_map(0, 1000, 1),
             "gidMappings": id_map(0, 1000, 1)}
    out = run_out(runtime, bundle, "stat -c '%n %u:%g' /mnt/t", [mount])
    assert owners(out) == {"/mnt/t": "1000:1000"}, out


# --- the container's mapping ------------------------------------------------------------------

def test_idmap_without_mappings_takes_the_containers_user_namespace(runtime, userns_bundle):
    bundle = userns_bundle
    src = make_tree(bundle.path.parent / "src", 0, 0, names=("root-file",))
    (src / "user-file").write_text("x")
    os.chown(src / "user-file", 1000, 1000)
    out = run_out(runtime, bundle,
                  "stat -c '%n %u:%g' /mnt/idm/root-file /mnt/idm/user-file /mnt/plain/root-file;"
                  " touch /mnt/idm/made-inside",
                  [idmapped("/mnt/idm", src, ["bind", "idmap"]),
                   idmapped("/mnt/plain", src, ["bind"])])
    assert owners(out) == {"/mnt/idm/root-file": "0:0", "/mnt/idm/user-file": "1000:1000",
                           "/mnt/plain/root-file": f"{OVERFLOW_ID}:{OVERFLOW_ID}"}, out
    st = os.stat(src / "made-inside")
    assert (st.st_uid, st.st_gid) == (0, 0)


# --- ridmap and submounts -----------------------------------------------------------------------

def test_ridmap_maps_submounts_and_idmap_does_not(runtime, bundle, tmp_path):
    src = make_tree(tmp_path / "src", 1000, 1000)
    sub = src / "sub"
    sub.mkdir()
    maps = id_map(1000, 0, 1)
    with host_mount("-t", "tmpfs", "tmpfs", target=sub):
        make_tree(sub, 1000, 1000)
        mounts = [idmapped("/mnt/r", src, ["rbind", "ridmap"], maps),
                  idmapped("/mnt/i", src, ["rbind", "idmap"], maps)]
        bundle.set(args=["sh", "-c", "stat -c '%n %u:%g' /mnt/r/file /mnt/r/sub/file "
                                     "/mnt/i/file /mnt/i/sub/file"], add_mounts=mounts)
        res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)
    if res.returncode != 0:
        # tmpfs can be idmapped from Linux 6.3; before that the kernel refuses ridmap here.
        assert kernel_version() < (6, 3), res.stderr
        assert "mounts[" in res.stderr and "idmap" in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1, res.stderr
        return
    assert owners(res.stdout) == {"/mnt/r/file": "0:0", "/mnt/r/sub/file": "0:0",
                                  "/mnt/i/file": "0:0", "/mnt/i/sub/file": "1000:1000"}, \
        res.stdout


# --- no fd reaches the container --------------------------------------------------------------

@pytest.mark.wmrun_only("checks the fds of wmrun's own init")
def test_created_init_holds_no_mount(runtime, bundle, tmp_path):
    src = make_tree(tmp_path / "src", 1000, 1000)
    maps = id_map(1000, 0, 1)
    mounts = [idmapped("/mnt/a", src, ["bind", "idmap"], maps),
              idmapped("/mnt/b", src, ["rbind", "ridmap"], id_map(1000, 5, 1)),
              idmapped("/mnt/c", src, ["bind", "idmap"], maps)]
    bundle.set(args=["true"], add_mounts=mounts)
    cid = runtime.new_id()
    runtime.run(["create", "--bundle", bundle.path, cid])
    init = runtime.state(cid)["pid"]
    # Waiting for start, the init holds stdio, exec.fifo and the procfs it reopens the fifo
    # through, which shows process directories only (subset=pid): every mount fd is closed once
    # attached.
    held = sorted(int(fd) for fd in os.listdir(f"/proc/{init}/fd"))
    targets = {fd: os.readlink(f"/proc/{init}/fd/{fd}") for fd in held if fd > 2}
    others = [fd for fd, t in targets.items() if not t.endswith("exec.fifo")]
    assert len(others) == 1, targets
    proc = f"/proc/{init}/fd/{others[0]}"
    assert subprocess.run(["stat", "-f", "-L", "-c", "%T", proc], capture_output=True,
                          text=True, check=True).stdout.strip() == "proc"
    assert all(e.isdigit() or e in ("self", "thread-self") for e in os.listdir(proc))
    runtime.run(["start", cid])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])


@pytest.mark.wmrun_only("checks the fds of wmrun's own init")
def test_container_process_holds_only_stdio(runtime, bundle, tmp_path):
    src = make_tree(tmp_path / "src", 1000, 1000)
    mounts = [idmapped("/mnt/a", src, ["bind", "idmap"], id_map(1000, 0, 1)),
              idmapped("/mnt/b", src, ["rbind", "ridmap"], id_map(1000, 5, 1))]
    out = run_out(runtime, bundle, "ls /proc/1/fd; stat -c %u /mnt/a/file /mnt/b/file; true",
                  mounts)
    assert out.split() == ["0", "1", "2", "0", "5"], out


# --- refused before anything is made ------------------------------------------------------------

@pytest.mark.wmrun_only("checks wmrun's field names in errors")
@pytest.mark.parametrize("maps,field,why", [
    ([{"containerID": 0, "hostID": 1000, "size": 0}], "uidMappings[0].size", "must not be zero"),
    ([{"containerID": 0, "hostID": 1000, "size": 10},
      {"containerID": 5, "hostID": 2000, "size": 10}], "uidMappings[1].containerID", "overlaps"),
    ([{"containerID": 0, "hostID": 1000, "size": 10},
      {"containerID": 100, "hostID": 1009, "size": 1}], "uidMappings[1].hostID", "overlaps"),
    ([{"containerID": 4294967295, "hostID": 0, "size": 2}], "uidMappings[0].size", "32-bit"),
])
def test_bad_mapping_is_refused_naming_the_field(runtime, bundle, tmp_path, maps, field, why):
    src = make_tree(tmp_path / "src", 1000, 1000)
    mounts = [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
              idmapped("/mnt/never-made", src, ["bind", "idmap"], maps)]
    err = run_fails(runtime, bundle, mounts)
    assert f"mounts[{len(bundle.config['mounts']) - 1}].{field}: " in err and why in err, err
    assert err.count("\n") == 1, err
    assert not (bundle.rootfs / "mnt" / "never-made").exists()


@pytest.mark.wmrun_only("checks wmrun's field names in errors")
def test_idmapped_proc_is_refused_before_anything_is_made(runtime, bundle):
    # Made by create, it would be the host's procfs.
    err = run_fails(runtime, bundle, [{"destination": "/mnt/proc", "type": "proc",
                                       "source": "proc", "options": ["idmap"],
                                       "uidMappings": id_map(0, 1000, 1),
                                       "gidMappings": id_map(0, 1000, 1)}])
    index = len(bundle.config["mounts"]) - 1
    assert f"mounts[{index}].options: a proc mount cannot be idmapped" in err, err
    assert err.count("\n") == 1, err
    assert not (bundle.rootfs / "mnt" / "proc").exists()


@pytest.mark.wmrun_only("checks wmrun's wording")
def test_filesystem_that_cannot_be_idmapped_is_a_clear_error(runtime, bundle):
    # procfs does not support idmapped mounts: the kernel's EINVAL becomes one line naming the
    # mount, and the container is not left behind.
    err = run_fails(runtime, bundle,
                    [idmapped("/mnt/sys", "/proc/sys", ["bind", "idmap"], id_map(0, 1000, 1))])
    index = len(bundle.config["mounts"]) - 1
    assert err.count("\n") == 1, err
    assert f"mounts[{index}]: idmap: mount_setattr MOUNT_ATTR_IDMAP: /proc/sys: " in err, err
    assert "cannot idmap" in err, err


@pytest.mark.wmrun_only("reads wmrun's features document")
def test_features_report_idmap(runtime):
    features = json.loads(runtime.run(["features"]).stdout)
    assert features["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    assert {"idmap", "ridmap"} <= set(features["mountOptions"])
