"""runtime-spec 1.3 additions applied to real containers: linux.memoryPolicy (set_mempolicy
for the container's processes) and linux.netDevices (host interfaces moved into the
container's network namespace and renamed)."""

import json
import secrets
import shutil
import subprocess
import time

import pytest


def test_memory_policy_binds_the_process(runtime, bundle):
    bundle.set(args=["sh", "-c", "head -n 1 /proc/self/numa_maps"])
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0",
                                              "flags": ["MPOL_F_STATIC_NODES"]}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id("mpol")])
    assert "bind=static:0" in res.stdout, res.stdout


def test_memory_policy_on_a_missing_node_fails_clearly(runtime, bundle):
    bundle.set(args=["true"])
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "1000"}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id("mpol")], check=False)
    assert res.returncode != 0
    assert "set_mempolicy" in res.stderr and res.stderr.count("\n") == 1, res.stderr


@pytest.fixture
def veth_device():
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    name = "wmt" + secrets.token_hex(4)
    # One end of a veth pair: a device that may change namespaces (a bridge may not).
    add = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                         capture_output=True, text=True)
    if add.returncode != 0:
        pytest.skip(f"cannot make a veth pair: {add.stderr.strip()}")
    yield name
    subprocess.run(["ip", "link", "del", name + "p"], capture_output=True)


def host_has_link(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_net_device_moves_in_renamed(runtime, bundle, veth_device):
    bundle.set(args=["sh", "-c", "ip -o link show eth9 && ls /sys/class/net"])
    bundle.config["linux"]["netDevices"] = {veth_device: {"name": "eth9"}}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id("netdev")])
    assert ": eth9@" in res.stdout and "\neth9\n" in res.stdout, res.stdout
    # A virtual device goes with the container's network namespace, and a veth pair with it;
    # the kernel tears a namespace down in the background, so give it a moment.
    assert not host_has_link(veth_device)
    deadline = time.monotonic() + 10
    while host_has_link(veth_device + "p") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not host_has_link(veth_device + "p")


def test_net_devices_need_a_network_namespace(runtime, bundle, veth_device):
    bundle.set(args=["true"], drop_namespaces=("network",))
    bundle.config["linux"]["netDevices"] = {veth_device: {}}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id("netdev")], check=False)
    assert res.returncode != 0 and "network namespace" in res.stderr
    assert host_has_link(veth_device)


def test_missing_net_device_is_an_error(runtime, bundle):
    bundle.set(args=["true"])
    bundle.config["linux"]["netDevices"] = {"wmt-nosuchdev": {}}
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id("netdev")], check=False)
    assert res.returncode != 0 and "wmt-nosuchdev" in res.stderr


@pytest.mark.wmrun_only("runc 1.1 predates runtime-spec 1.3")
def test_features_lists_them(runtime):
    linux = json.loads(runtime.run(["features"]).stdout)["linux"]
    assert linux["netDevices"] == {"enabled": True}
    assert "MPOL_BIND" in linux["memoryPolicy"]["modes"]
    assert "MPOL_F_STATIC_NODES" in linux["memoryPolicy"]["flags"]
