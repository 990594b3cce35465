"""Joining an existing user namespace by path while creating the other namespaces: the new
ones must belong to the joined user namespace (as runc's nsexec does it), or the container's
root could not mount, set its hostname or configure its network inside them."""
import fcntl
import os


from test_linux_config import add_namespace, linux, userns_bundle  # noqa: F401 (fixture)

NS_GET_USERNS = 0xB701  # <linux/nsfs.h>: _IO(0xb7, 0x1)


def owner_inode(ns_path):
    fd = os.open(ns_path, os.O_RDONLY)
    try:
        owner = fcntl.ioctl(fd, NS_GET_USERNS)
        try:
            return os.fstat(owner).st_ino
        finally:
            os.close(owner)
    finally:
        os.close(fd)


def test_namespaces_made_beside_a_joined_user_namespace_belong_to_it(runtime, userns_bundle):
    bundle = userns_bundle
    bundle.set(args=["sleep", "60"], readonly=False)
    holder = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, holder])
    try:
        holder_pid = runtime.state(holder)["pid"]
        userns = f"/proc/{holder_pid}/ns/user"
        add_namespace(bundle, "user", userns)
        for t in ("mount", "uts", "ipc", "network", "pid", "cgroup"):
            add_namespace(bundle, t)
        # The joined namespace brings its own mappings; giving them again is an error.
        linux(bundle).pop("uidMappings", None)
        linux(bundle).pop("gidMappings", None)
        bundle.set(args=["sleep", "60"], hostname="joined", readonly=False)
        cid = runtime.new_id()
        runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
        try:
            pid = runtime.state(cid)["pid"]
            assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(userns)
            joined = os.stat(userns).st_ino
            for ns in ("mnt", "uts", "ipc", "net", "pid", "cgroup"):
                assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
                assert owner_inode(f"/proc/{pid}/ns/{ns}") == joined, ns
            # Its root works inside them: the hostname was set, and it is pid 1 there.
            out = runtime.run(["exec", cid, "sh", "-c", "hostname; echo $$; cat /proc/1/comm"])
            host, _, comm = out.stdout.split()
            assert host == "joined" and comm == "sleep", out.stdout
            status = open(f"/proc/{pid}/status").read()
            nspid = [l.split()[1:] for l in status.splitlines() if l.startswith("NSpid:")][0]
            assert nspid[-1] == "1", status
        finally:
            runtime.run(["delete", "--force", cid])
        # In the foreground, `run` waits for the forked pid 1 and returns its status.
        bundle.set(args=["sh", "-c", "exit 3"])
        res = runtime.run(["run", "--bundle", bundle.path, runtime.new_id()], check=False)
        assert res.returncode == 3, res.stderr
    finally:
        runtime.run(["delete", "--force", holder])
