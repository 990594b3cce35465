"""containerd 1.6's CRI plugin, what the kubelet talks to, running pods with the runtime in
runc's place: a runtime handler `wmrun` (runtime_type io.containerd.runc.v2, BinaryName the
runtime under test) beside a handler `runc` (BinaryName runc) to compare with; every flow runs
under both, as a RuntimeClass would select them.

There is no crictl in Debian: the client is the test's own. cri/api.proto is the part of the
CRI API (k8s.io/cri-api, runtime.v1) that the test calls, with upstream's names and field
numbers; protoc compiles it into a temp dir and the methods are called through grpc's generic
unary calls, so no grpc plugin is needed.

One containerd per module (clients.ContainerdDaemon): its root in the module's temp dir, its
state, socket and the shims' and runtime's state on the tmpfs /run of a private mount
namespace, the CRI plugin's CNI config dir empty and of its own. Pods use the node's network
(NamespaceOption network = NODE), which needs no CNI, and go under a cgroup parent of the
module's own. The sandbox ("pause") image and the containers' image are the busybox rootfs,
`ctr image import`ed into the k8s.io namespace from an archive made here: no registry.
"""

import importlib.util
import shutil
import subprocess
import sys
import time
import uuid
from collections import namedtuple
from pathlib import Path

import pytest
import yaml

import clients
import harness

try:
    import grpc
except ImportError:
    grpc = None
try:
    import google.protobuf as protobuf  # what protoc's Python output imports
except ImportError:
    protobuf = None

PROTOC = shutil.which("protoc")
pytestmark = [
    pytest.mark.skipif(
        clients.CTR is None or clients.CONTAINERD is None
        or shutil.which("containerd-shim-runc-v2") is None,
        reason="containerd is not installed (needs containerd, ctr and "
               "containerd-shim-runc-v2)"),
    pytest.mark.skipif(grpc is None, reason="python3-grpcio is not installed"),
    pytest.mark.skipif(protobuf is None, reason="python3-protobuf is not installed"),
    pytest.mark.skipif(PROTOC is None,
                       reason="protoc is not installed (protobuf-compiler), which compiles "
                              "the CRI API for the test's client"),
]

API_PROTO = Path(__file__).resolve().parent / "cri" / "api.proto"
NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
STATE = "/run/wmt-cri-containerd"  # on the namespace's tmpfs
IMAGE = "docker.io/library/wmt-cri-busybox:latest"
# The runtime handler users add to containerd's config, and the RuntimeClass naming it.
CONTRIB_HANDLER = "containerd/wmrun.toml"
CONTRIB_RUNTIME_CLASS = "kubernetes/runtimeclass.yaml"
WMRUN_HANDLER, = clients.contrib_runtime_names(
    CONTRIB_HANDLER, ("plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes"))
# The kubelet passes a RuntimeClass's handler as RunPodSandbox's runtime_handler.
RUNTIME_CLASS = yaml.safe_load((clients.CONTRIB / CONTRIB_RUNTIME_CLASS).read_text())
HANDLERS = (RUNTIME_CLASS["handler"], "runc")
CALL_TIMEOUT = 60
IGNORES_TERM = "trap '' TERM; echo ready; while :; do sleep 1; done"
ENDS_ON_TERM = "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"
MISSING = "/wmt/no/such"
# What the kubelet sends as masked and read-only paths unless a pod asks for an unmasked /proc.
KUBELET_MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap"]
KUBELET_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"]
# A pod as the test holds it: its sandbox id, the config it was run with (CreateContainer
# passes it again, as the kubelet does) and the runtime handler that runs it.
Pod = namedtuple("Pod", "id config handler")

_api = []


def cri_api(work):
    """The module protoc generates from cri/api.proto (loaded once a process: protobuf keeps
    one descriptor per file name)."""
    if not _api:
        subprocess.run([PROTOC, f"--proto_path={API_PROTO.parent}", f"--python_out={work}",
                        API_PROTO], check=True, capture_output=True, timeout=60)
        spec = importlib.util.spec_from_file_location("api_pb2", Path(work) / "api_pb2.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["api_pb2"] = module
        spec.loader.exec_module(module)
        _api.append(module)
    return _api[0]


def has_cap_sys_resource():
    effective = next(line for line in Path("/proc/self/status").read_text().splitlines()
                     if line.startswith("CapEff:"))
    return bool(int(effective.split()[1], 16) & (1 << 24))  # CAP_SYS_RESOURCE


def cri_config(work, runtime):
    """The CRI plugin's section of containerd's config: the two runtime handlers (the
    runtime's the contrib file, runc's the same as users have it), the sandbox image, a CNI
    config dir of its own (empty: pods use the node's network). Where containerd
    lacks CAP_SYS_RESOURCE (a machine that is itself a container), no runtime can set the
    sandbox's oom_score_adj of -998 (runc fails RunPodSandbox as wmrun does):
    restrict_oom_score_adj, meant for a containerd without that privilege, keeps every score
    at containerd's own or above."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    handlers = clients.contrib_config(CONTRIB_HANDLER, runtime) + f"""\
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc")}"
"""
    return f"""\
[{cri}]
  sandbox_image = "{IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = {"false" if has_cap_sys_resource() else "true"}
[{cri}.cni]
  bin_dir = "{work}/cni/bin"
  conf_dir = "{work}/cni/net.d"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
{handlers}"""


class Cri(clients.ContainerdDaemon):
    """A private containerd with its CRI plugin, and a CRI client of the test's own."""

    def __init__(self, runtime, work, rootfs):
        self.runtime = Path(runtime)
        work = Path(work)
        for d in ("api", "cni/bin", "cni/net.d", "logs"):
            (work / d).mkdir(parents=True)
        self.api = cri_api(work / "api")
        super().__init__(work, STATE, "cri", plugins=cri_config(work, runtime))
        # The socket is on the namespace's /run; the test reaches it through the holder's root.
        self.channel = grpc.insecure_channel(
            f"unix:///proc/{self.ns.holder.pid}/root{self.socket}")
        # The sandbox runs the image's Cmd until it is killed, as the pause image does.
        archive = clients.docker_archive(rootfs, work / "image.tar", IMAGE,
                                         cmd=("sleep", "infinity"))
        self.ctr(NAMESPACE, ["images", "import", archive])
        self.wait_image_seen()
        self.ns.mark_mounts()

    def call(self, service, method, request, timeout=CALL_TIMEOUT):
        """`service`.`method` (RuntimeService or ImageService) with a request message; the
        response type is the request's name with Response for Request."""
        response = getattr(self.api, type(request).__name__.replace("Request", "Response"))
        rpc = self.channel.unary_unary(f"/runtime.v1.{service}/{method}",
                                       request_serializer=type(request).SerializeToString,
                                       response_deserializer=response.FromString)
        return rpc(request, timeout=timeout)

    def runtime_call(self, method, **fields):
        return self.call("RuntimeService", method,
                         getattr(self.api, method + "Request")(**fields))

    def wait_image_seen(self, timeout=10):
        """The CRI plugin learns of an imported image from containerd's events."""
        deadline = time.monotonic() + timeout
        request = self.api.ImageStatusRequest(image=self.api.ImageSpec(image=IMAGE))
        while not self.call("ImageService", "ImageStatus", request).HasField("image"):
            assert time.monotonic() < deadline, "the CRI plugin never saw the imported image"
            time.sleep(0.1)

    def sandbox_config(self, name, pid):
        api = self.api
        (self.work / "logs" / name).mkdir()
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=str(uuid.uuid4()),
                                            namespace="wmt-cri", attempt=0),
            log_directory=str(self.work / "logs" / name),
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=self.parent.path,
                security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=api.NODE, pid=pid,
                                                          ipc=api.POD))))

    def run_pod(self, handler, pid=None):
        """RunPodSandbox with `handler`; its containers have pid namespaces of their own, or
        with `pid` POD share the sandbox's (shareProcessNamespace)."""
        pid = self.api.CONTAINER if pid is None else pid
        config = self.sandbox_config(harness.new_container_id("-cri"), pid)
        res = self.runtime_call("RunPodSandbox", config=config, runtime_handler=handler)
        return Pod(res.pod_sandbox_id, config, handler)

    def create(self, pod, script, resources=None, name="main", security=None, mounts=()):
        """CreateContainer running `sh -c script` in `pod`, its output in <name>.log of the
        pod's log directory; `security` holds fields of its LinuxContainerSecurityContext.
        Returns its id."""
        api = self.api
        config = api.ContainerConfig(
            metadata=api.ContainerMetadata(name=name, attempt=0),
            image=api.ImageSpec(image=IMAGE), command=["sh", "-c", script],
            log_path=f"{name}.log", mounts=mounts,
            linux=api.LinuxContainerConfig(
                resources=resources,
                security_context=api.LinuxContainerSecurityContext(
                    namespace_options=pod.config.linux.security_context.namespace_options,
                    **(security or {}))))
        return self.runtime_call("CreateContainer", pod_sandbox_id=pod.id, config=config,
                                 sandbox_config=pod.config).container_id

    def start(self, pod, script, resources=None, name="main", **options):
        """A started container whose script has written its first line, "ready"."""
        cid = self.create(pod, script, resources, name, **options)
        self.runtime_call("StartContainer", container_id=cid)
        harness.wait_for_file_text(Path(pod.config.log_directory) / f"{name}.log", "ready")
        return cid

    def wait_exited(self, cid, timeout=10):
        deadline = time.monotonic() + timeout
        while (status := self.status(cid)).state != self.api.CONTAINER_EXITED:
            assert time.monotonic() < deadline, f"container {cid} did not exit: {status}"
            time.sleep(0.05)
        return status

    def status(self, cid):
        return self.runtime_call("ContainerStatus", container_id=cid).status

    def exec_sync(self, cid, *cmd, timeout=10):
        return self.runtime_call("ExecSync", container_id=cid, cmd=list(cmd), timeout=timeout)

    def cgroup(self, cid):
        """The container's cgroup as the CRI plugin names it: <cgroup_parent>/<id>."""
        return f"{self.parent.path}/{cid}"

    def listed_by(self, binary):
        """The containers `binary list` shows in the state root the shim gives it."""
        res = self.ns.run([binary, "--root", f"/run/containerd/runc/{NAMESPACE}", "list",
                           "-q"], timeout=30)
        return res.stdout.split()

    def remove_pod(self, sandbox_id):
        """StopPodSandbox then RemovePodSandbox, as the kubelet ends a pod."""
        self.runtime_call("StopPodSandbox", pod_sandbox_id=sandbox_id)
        self.runtime_call("RemovePodSandbox", pod_sandbox_id=sandbox_id)

    def assert_nothing_left(self):
        """No pod or container, runtime state, mount, cgroup, shim or container process."""
        assert list(self.runtime_call("ListPodSandbox").items) == []
        assert list(self.runtime_call("ListContainers").containers) == []
        assert self.runtime_state(NAMESPACE) == [], \
            "the runtime's state root still has containers"
        assert self.ns.new_mounts() == [], "mounts left after the pod was removed"
        on_host = [m for m in harness.mount_lines() if str(self.work) in m]
        assert on_host == [], f"mounts of the test's dirs on the host: {on_host}"
        assert self.parent.children() == [], "cgroups left after the pod was removed"
        left = self.ns.wait_no_processes(daemons=("containerd",), timeout=5)
        assert left == [], f"processes left after the pod was removed: {left}"

    def remove_everything(self):
        for pod in self.runtime_call("ListPodSandbox").items:
            try:
                self.remove_pod(pod.id)
            except grpc.RpcError:
                pass

    def close(self):
        try:
            self.remove_everything()
        finally:
            self.channel.close()
        return super().close()


def test_the_runtime_class_names_the_contrib_handler():
    assert (RUNTIME_CLASS["apiVersion"], RUNTIME_CLASS["kind"]) == \
        ("node.k8s.io/v1", "RuntimeClass")
    assert RUNTIME_CLASS["handler"] == WMRUN_HANDLER == RUNTIME_CLASS["metadata"]["name"]


@pytest.fixture(scope="module")
def cri(tmp_path_factory):
    yield from clients.module_client(tmp_path_factory, Cri, "cri")


@pytest.fixture(params=HANDLERS)
def pod(request, cri):
    """A pod run by one runtime handler; a failed test's pod goes."""
    yield cri.run_pod(request.param)
    cri.remove_everything()


def resources(api, memory, quota, shares):
    return api.LinuxContainerResources(memory_limit_in_bytes=memory, cpu_quota=quota,
                                       cpu_period=100000, cpu_shares=shares)


def limits_inside(cri, cid):
    """(memory limit, (cpu quota, period, weight)) as the container reads them."""
    memory = cri.exec_sync(cid, "sh", "-c", clients.inside_limits_command())
    cpu = cri.exec_sync(cid, "sh", "-c", clients.inside_cpu_command())
    assert memory.exit_code == 0 and cpu.exit_code == 0, (memory, cpu)
    return int(memory.stdout.split()[0]), clients.parse_inside_cpu(cpu.stdout.decode())


def stopped(cri, cid, timeout):
    """StopContainer with `timeout` (seconds from SIGTERM to SIGKILL); the exit status of the
    container, which must have exited by then."""
    cri.runtime_call("StopContainer", container_id=cid, timeout=timeout)
    status = cri.status(cid)
    assert status.state == cri.api.CONTAINER_EXITED, status
    return status.exit_code


def remove(cri, pod, *cids):
    """RemoveContainer of each stopped container, then the pod; nothing may be left."""
    for cid in cids:
        cri.runtime_call("RemoveContainer", container_id=cid)
    cri.remove_pod(pod.id)
    cri.assert_nothing_left()


def test_version(cri):
    version = cri.runtime_call("Version", version="v1")
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")


def test_sandbox_runs_under_its_handler(cri, pod):
    status = cri.runtime_call("PodSandboxStatus", pod_sandbox_id=pod.id).status
    assert (status.state, status.runtime_handler) == (cri.api.SANDBOX_READY, pod.handler)
    # The handler's binary made it: each runtime lists only the containers it keeps state
    # for in the shim's state root (the same root for both handlers).
    binaries = {WMRUN_HANDLER: cri.runtime, "runc": shutil.which("runc")}
    assert pod.id in cri.listed_by(binaries[pod.handler])
    if not harness.binary_is_runc(cri.runtime):
        other = binaries["runc" if pod.handler == WMRUN_HANDLER else WMRUN_HANDLER]
        assert pod.id not in cri.listed_by(other)
    remove(cri, pod)


def test_resources_inside_then_update(cri, pod):
    api = cri.api
    cid = cri.start(pod, ENDS_ON_TERM, resources(api, 64 << 20, 50000, 512))
    assert cri.status(cid).state == api.CONTAINER_RUNNING
    assert limits_inside(cri, cid) == (64 << 20, (50000, 100000, clients.cpu_weight(512)))
    assert clients.host_limits(cri.cgroup(cid))["memory"] == 64 << 20

    cri.runtime_call("UpdateContainerResources", container_id=cid,
                     linux=resources(api, 96 << 20, 150000, 1024))
    assert limits_inside(cri, cid) == (96 << 20, (150000, 100000, clients.cpu_weight(1024)))
    assert clients.host_limits(cri.cgroup(cid))["cpu"] == (150000, 100000)

    # The trap's status: SIGTERM reached the container's init and it ended on its own.
    assert stopped(cri, cid, 10) == 3
    remove(cri, pod, cid)


def test_exec_sync(cri, pod):
    cid = cri.start(pod, ENDS_ON_TERM)
    res = cri.exec_sync(cid, "sh", "-c", "echo exec-ok; echo err >&2; cat /proc/1/cmdline")
    assert (res.exit_code, res.stderr) == (0, b"err\n"), res
    assert res.stdout.startswith(b"exec-ok\nsh\0-c\0trap"), res
    assert cri.exec_sync(cid, "sh", "-c", "exit 5").exit_code == 5
    # A command that cannot start is an error of the call, with the runtime's words in it
    # (containerd 1.6 has no exit status for it); a kubelet probe counts it as a failure.
    with pytest.raises(grpc.RpcError) as missing:
        cri.exec_sync(cid, MISSING)
    assert f"stat {MISSING}: no such file or directory" in missing.value.details(), \
        missing.value
    assert stopped(cri, cid, 10) == 3
    remove(cri, pod, cid)


def test_stop_escalates_to_sigkill(cri, pod):
    cid = cri.start(pod, IGNORES_TERM)
    assert stopped(cri, cid, 1) == 137
    remove(cri, pod, cid)


def test_shared_process_namespace(cri, pod):
    # A pod with shareProcessNamespace: each container joins the sandbox's pid namespace by
    # path, and sees the sandbox's process as pid 1 and the other containers' processes.
    cri.remove_pod(pod.id)
    pod = cri.run_pod(pod.handler, pid=cri.api.POD)
    first = cri.start(pod, "echo ready; exec sleep 1001", name="first")
    second = cri.start(pod, "echo ready; exec sleep 1002", name="second")
    res = cri.exec_sync(second, "sh", "-c", "cat /proc/1/cmdline; echo; ps -o args")
    lines = res.stdout.decode().splitlines()
    assert lines[0] == "sleep\0infinity\0", res
    assert "sleep 1001" in lines and "sleep 1002" in lines, res
    # Not a pid 1 there, a process without a handler ends on SIGTERM.
    assert stopped(cri, first, 10) == 128 + 15 and stopped(cri, second, 10) == 128 + 15
    remove(cri, pod, first, second)


def test_stop_pod_ends_its_running_containers(cri, pod):
    cid = cri.start(pod, IGNORES_TERM)
    cri.runtime_call("StopPodSandbox", pod_sandbox_id=pod.id)
    status = cri.status(cid)
    assert (status.state, status.exit_code) == (cri.api.CONTAINER_EXITED, 137), status
    remove(cri, pod, cid)


def test_out_of_memory_is_reported_as_oomkilled(cri, pod):
    # The shim learns of the OOM kill from the container's memory cgroup, where the runtime
    # must have put the container's processes. Without the limit the script would end by
    # itself, at a string of 32 MiB.
    cid = cri.start(pod, "echo ready; x=x; i=0; while [ $i -lt 25 ]; do x=$x$x; i=$((i+1)); "
                    "done", cri.api.LinuxContainerResources(memory_limit_in_bytes=16 << 20))
    status = cri.wait_exited(cid)
    assert (status.exit_code, status.reason) == (137, "OOMKilled"), status
    remove(cri, pod, cid)


def test_restricted_security_context_and_volumes(cri, pod):
    # What the kubelet sends for a pod of the "restricted" Pod Security Standard, with its
    # default masked and read-only paths (pkg/securitycontext), a read-only root and volumes.
    api = cri.api
    volume = cri.work / f"volume-{pod.handler}"
    volume.mkdir()
    (volume / "data").write_text("from the host\n")
    cid = cri.start(pod, ENDS_ON_TERM, security=dict(
        run_as_user=api.Int64Value(value=1000), run_as_group=api.Int64Value(value=1001),
        capabilities=api.Capability(drop_capabilities=["ALL"]), no_new_privs=True,
        seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault),
        masked_paths=KUBELET_MASKED_PATHS, readonly_paths=KUBELET_READONLY_PATHS,
        readonly_rootfs=True), mounts=[
        api.Mount(container_path="/ro", host_path=str(volume), readonly=True),
        api.Mount(container_path="/rw", host_path=str(volume))])
    res = cri.exec_sync(cid, "sh", "-c", 'echo "$(id -u):$(id -g)"; cat /ro/data; '
                        "touch /x 2>/dev/null || echo rootfs-read-only; "
                        "touch /ro/x 2>/dev/null || echo volume-read-only; "
                        "wc -c < /proc/keys; grep -E '^(CapEff|NoNewPrivs|Seccomp):' "
                        "/proc/self/status")
    assert res.stdout.decode().split() == [
        "1000:1001", "from", "the", "host", "rootfs-read-only", "volume-read-only", "0",
        "CapEff:", "0000000000000000", "NoNewPrivs:", "1", "Seccomp:", "2"], res
    mountinfo = cri.exec_sync(cid, "cat", "/proc/self/mountinfo").stdout.decode()
    options = {fields[4]: fields[5].split(",")[0]
               for fields in map(str.split, mountinfo.splitlines())}
    assert [options.get(point) for point in ("/", "/ro", "/rw", "/proc/sys")] == \
        ["ro", "ro", "rw", "ro"], mountinfo
    assert "/proc/keys" in options, "/proc/keys is not masked"
    assert stopped(cri, cid, 10) == 3
    remove(cri, pod, cid)
