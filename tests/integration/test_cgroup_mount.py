"""A `type: cgroup` mount shows the container its own cgroup and nothing beside it: a container
with a writable cgroup mount cannot freeze a sibling, and the limits clients read from inside
(memory.limit_in_bytes or memory.max, pids.max) are the container's (docs/security.md)."""

import json
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only("checks wmrun's cgroup mount")

CGROUP = Path("/sys/fs/cgroup")


def layout():
    if (CGROUP / "cgroup.controllers").exists():
        return "unified"
    if (CGROUP / "unified" / "cgroup.controllers").exists():
        return "hybrid"
    return "legacy"


def cgroup_mount(bundle, options):
    for m in bundle.config["mounts"]:
        if m["type"] == "cgroup":
            m["options"] = options
            return
    bundle.config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                                    "source": "cgroup", "options": options})


def set_cgroup_namespace(bundle, wanted):
    nss = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "cgroup"]
    if wanted:
        nss.append({"type": "cgroup"})
    bundle.config["linux"]["namespaces"] = nss


def host_freeze_files(cid):
    """The sibling's freeze controls on the host, in every hierarchy that has one."""
    out = []
    for name in ("cgroup.freeze", "freezer.state"):
        out += [p for p in CGROUP.rglob(name) if cid in str(p)]
    return out


def frozen(path):
    text = path.read_text().strip()
    return text in ("1", "FROZEN", "FREEZING")


@pytest.mark.parametrize("cgroupns", [False, True], ids=["no-cgroupns", "cgroupns"])
def test_a_writable_cgroup_mount_cannot_freeze_a_sibling(runtime, bundle, tmp_path, cgroupns):
    sibling = runtime.new_id("-sib")
    bundle.set(args=["sleep", "60"])
    runtime.run(["run", "-d", "--bundle", bundle.path, sibling])
    controls = host_freeze_files(sibling)
    assert controls, "the sibling has no freeze control on this host"
    # Everything in the container's cgroup mount that names the sibling gets a freeze.
    script = (f"for f in $(find /sys/fs/cgroup -path '*{sibling}*'); do "
              f"case $f in *cgroup.freeze) echo 1 > $f;; *freezer.state) echo FROZEN > $f;; "
              f"esac; echo seen $f; done; echo done")
    cgroup_mount(bundle, ["nosuid", "noexec", "nodev", "rw"])
    set_cgroup_namespace(bundle, cgroupns)
    bundle.set(args=["sh", "-c", script])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert res.stdout.strip() == "done", res.stdout
    assert not any(frozen(p) for p in controls)
    assert runtime.state(sibling)["status"] == "running"
    runtime.run(["delete", "--force", sibling])


@pytest.mark.parametrize("cgroupns", [False, True], ids=["no-cgroupns", "cgroupns"])
def test_limits_are_read_from_inside(runtime, bundle, cgroupns):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 * 1024 * 1024},
                                           "pids": {"limit": 77}}
    set_cgroup_namespace(bundle, cgroupns)
    if layout() == "unified":
        files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    else:
        files = "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    bundle.set(args=["sh", "-c", f"cat {files}; cat /proc/self/cgroup"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    lines = res.stdout.split("\n")
    assert lines[:2] == [str(64 * 1024 * 1024), "77"], res.stdout
    if cgroupns:
        # The namespace is rooted at the container's own cgroup in every hierarchy.
        assert all(line.endswith(":/") for line in lines[2:] if line), res.stdout


def test_the_cgroup_mount_is_read_only_by_default(runtime, bundle):
    cgroup_mount(bundle, ["nosuid", "noexec", "nodev"])
    bundle.set(args=["sh", "-c", "mkdir /sys/fs/cgroup/x 2>&1; "
                                 "for d in /sys/fs/cgroup/*/; do mkdir $d/x 2>&1; done; true"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert "Read-only file system" in res.stdout
    assert "File exists" not in res.stdout and res.stdout.count("Read-only") >= 1


def test_hybrid_host_shows_each_v1_controller_and_unified(runtime, bundle):
    if layout() != "hybrid":
        pytest.skip(f"the host's cgroups are {layout()}, not hybrid")
    host = sorted(p.name for p in CGROUP.iterdir() if p.is_dir() and not p.is_symlink())
    bundle.set(args=["sh", "-c", "for d in /sys/fs/cgroup/*; do [ -d $d ] && "
                                 "[ ! -L $d ] && echo ${d##*/}; done"])
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()])
    assert sorted(res.stdout.split()) == host
