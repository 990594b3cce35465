"""wmrun create/run --image: containers from images in the store, on an overlay of the shared
layers with each container's own volume layer. The images are made with umoci (layers added
verbatim with `umoci raw add-layer`, config with `umoci config`) and skopeo."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only(reason="--image is wmrun's own")

TIMEOUT = 120


def tool(*args):
    harness.run_tool(*args, timeout=TIMEOUT)


def tar_tree(src, dest):
    """An uncompressed layer tar of a directory's contents, owned by root."""
    def root_owned(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as t:
        for entry in sorted(Path(src).iterdir()):
            t.add(entry, arcname=entry.name, filter=root_owned)
    return dest


def tar_files(dest, files):
    """A layer tar of {relative path: text}; a text of None is a whiteout for that path."""
    dirs = sorted({os.path.dirname(rel) for rel in files} - {""})
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as t:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1700000000
            t.addfile(info)
        for rel, text in files.items():
            parent, name = os.path.split(rel)
            if text is None:
                rel, data = os.path.join(parent, ".wh." + name), b""
            else:
                data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    return dest


def add_layer(layout, tag, tar):
    tool("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", tar)


def configure(layout, base, tag, *options):
    tool("umoci", "config", "--image", f"{layout}:{base}", "--tag", tag, *options)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """One layout, several tags: `base` (busybox + accounts), and configured variants."""
    work = tmp_path_factory.mktemp("image")
    rootfs = harness.build_rootfs_template(work / "rootfs")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nappgrp:x:2345:\nextra:x:3456:app\n")
    (rootfs / "data").mkdir()
    os.chmod(rootfs / "data", 0o777)  # the volume made for /data keeps this mode
    lay = work / "layout"
    tool("umoci", "init", "--layout", lay)
    tool("umoci", "new", "--image", f"{lay}:base")
    add_layer(lay, "base", tar_tree(rootfs, work / "base.tar"))
    add_layer(lay, "base", tar_files(work / "top.tar", {"etc/motd": "from the top layer\n"}))
    configure(lay, "base", "echo", "--config.cmd", "echo", "--config.cmd", "default", "--config.cmd", "cmd")
    configure(lay, "base", "ep", "--config.entrypoint", "echo", "--config.entrypoint", "ep",
              "--config.cmd", "c1", "--config.cmd", "c2")
    configure(lay, "base", "env", "--config.env", "FOO=bar baz", "--config.workingdir",
              "/work/dir", "--config.user", "app", "--config.cmd", "sh",
              "--config.label", "org.example.role=test", "--config.volume", "/data")
    configure(lay, "base", "numeric", "--config.user", "1:2", "--config.cmd", "id")
    return lay


def import_image(layout, store, tag, name=None):
    harness.run_binary("image", "import", "--store", store, "--name", name or tag,
                       f"{layout}:{tag}")


def tree_digest(root):
    """Everything about a tree that a write through the overlay could change."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, root)} {st.st_mode} {st.st_size} {st.st_mtime_ns} "
                     f"{st.st_uid} {st.st_gid}\n".encode())
            if os.path.isfile(p) and not os.path.islink(p):
                h.update(Path(p).read_bytes())
    return h.hexdigest()


def layers_digest(store):
    return {d.name: tree_digest(d) for d in (store / "layers").iterdir()}


def is_mounted(path):
    return any(harness.mount_point(l) == str(path) for l in harness.mount_lines())


def run_image(runtime, store, image, cid, *args, check=True):
    cmd = ["run", "--image", image, "--store", store, cid]
    if args:
        cmd += ["--", *args]
    return runtime.run(cmd, check=check, timeout=TIMEOUT)


def test_run_echo_with_args_after_dashes(runtime, layout, store):
    import_image(layout, store, "echo")
    cid = runtime.new_id()
    res = run_image(runtime, store, "echo", cid, "echo", "-n", "hello", "world")
    assert res.stdout == "hello world"
    # The foreground run removed the container and its mount, and kept the volume layer.
    cdir = store / "containers" / cid
    assert runtime.list_ids() == []
    assert not is_mounted(cdir / "merged") and not (cdir / "merged").exists()
    assert (cdir / "upper").is_dir() and (cdir / "layers.json").is_file()
    # Without args the image's Cmd runs.
    cid2 = runtime.new_id()
    assert run_image(runtime, store, "echo", cid2).stdout == "default cmd\n"


def test_entrypoint_and_cmd(runtime, layout, store):
    import_image(layout, store, "ep")
    assert run_image(runtime, store, "ep", runtime.new_id()).stdout == "ep c1 c2\n"
    # Args after -- replace Cmd and keep the Entrypoint.
    assert run_image(runtime, store, "ep", runtime.new_id(), "x", "y").stdout == "ep x y\n"


def test_env_workdir_user_labels_and_volumes(runtime, layout, store):
    import_image(layout, store, "env")
    cid = runtime.new_id()
    script = "id; pwd; env; echo vol > /data/f; cat /etc/motd"
    out = run_image(runtime, store, "env", cid, "sh", "-c", script).stdout
    lines = out.splitlines()
    assert lines[0].startswith("uid=1234(app) gid=2345(appgrp)"), out
    assert "3456(extra)" in lines[0]
    assert lines[1] == "/work/dir"
    env = dict(l.split("=", 1) for l in lines[2:-1] if "=" in l)
    assert env["FOO"] == "bar baz"
    assert env["HOME"] == "/home/app"
    assert env["PATH"].startswith("/usr/local/sbin:")
    assert "TERM" not in env  # no terminal asked for
    assert lines[-1] == "from the top layer"
    # The volume is a bind mount of the container's volumes/ dir, not part of the overlay.
    cdir = store / "containers" / cid
    assert (cdir / "volumes" / "data" / "f").read_text() == "vol\n"
    assert not (cdir / "upper" / "data" / "f").exists()


def test_labels_become_annotations_and_state_names_the_store(runtime, layout, store):
    import_image(layout, store, "env")
    cid = runtime.new_id()
    runtime.run(["create", "--image", "env", "--store", store, cid, "--", "true"])
    state = runtime.state(cid)
    assert state["annotations"]["org.example.role"] == "test"
    assert state["bundle"] == str(store / "containers" / cid)
    assert state["rootfs"] == str(store / "containers" / cid / "merged")
    assert is_mounted(store / "containers" / cid / "merged")
    config = json.loads((store / "containers" / cid / "config.json").read_text())
    assert config["process"]["terminal"] is False
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    runtime.run(["delete", cid])
    assert not is_mounted(store / "containers" / cid / "merged")


def test_numeric_user(runtime, layout, store):
    import_image(layout, store, "numeric")
    out = run_image(runtime, store, "numeric", runtime.new_id()).stdout
    assert out.startswith("uid=1(") or out.startswith("uid=1 "), out
    assert "gid=2" in out


def test_writes_land_in_upper_and_survive_delete(runtime, layout, store):
    import_image(layout, store, "base")
    before = layers_digest(store)
    cid = runtime.new_id()
    runtime.run(["create", "--image", "base", "--store", store, cid, "--",
                 "sh", "-c", "echo kept > /etc/new; rm /etc/motd; echo changed >> /etc/passwd"])
    runtime.run(["start", cid])
    runtime.wait_status(cid, "stopped")
    cdir = store / "containers" / cid
    assert (cdir / "upper" / "etc" / "new").read_text() == "kept\n"
    motd = os.lstat(cdir / "upper" / "etc" / "motd")  # a whiteout: char device 0/0
    assert (motd.st_mode & 0o170000) == 0o020000 and motd.st_rdev == 0
    runtime.run(["delete", cid])
    assert not is_mounted(cdir / "merged") and not (cdir / "merged").exists()
    assert (cdir / "upper" / "etc" / "new").is_file()
    assert layers_digest(store) == before  # the shared layers were never written

    # The same id resumes with its volume layer.
    out = run_image(runtime, store, "base", cid, "sh", "-c",
                    "cat /etc/new; test -e /etc/motd || echo gone; tail -1 /etc/passwd").stdout
    assert out == "kept\ngone\nchanged\n"
    assert layers_digest(store) == before

    # delete --volumes removes it all, also when the container itself is gone already.
    runtime.run(["delete", "--volumes", "--store", store, cid])
    assert not cdir.exists()
    res = runtime.run(["delete", "--volumes", "--store", store, cid], check=False)
    assert res.returncode == 1 and "does not exist" in res.stderr


def test_delete_volumes_of_a_live_container(runtime, layout, store):
    import_image(layout, store, "base")
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--image", "base", "--store", store, cid, "--", "sleep", "100"])
    runtime.wait_status(cid, "running")
    res = runtime.run(["delete", "--volumes", cid], check=False)
    assert res.returncode == 1 and "not stopped" in res.stderr
    assert (store / "containers" / cid / "upper").is_dir()
    # rm is delete; the store comes from the container's state.
    runtime.run(["rm", "--force", "--volumes", cid])
    assert not (store / "containers" / cid).exists()
    assert runtime.list_ids() == []


def test_gc_keeps_layers_of_containers(runtime, layout, store):
    import_image(layout, store, "echo")
    layers = sorted(p.name for p in (store / "layers").iterdir())
    assert len(layers) == 2
    cid = runtime.new_id()
    runtime.run(["create", "--image", "echo", "--store", store, cid])
    harness.run_binary("image", "rm", "--store", store, "echo")
    out = harness.run_binary("image", "gc", "--store", store).stdout
    assert "0 layers" in out
    assert sorted(p.name for p in (store / "layers").iterdir()) == layers
    runtime.run(["start", cid])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])
    # The volume layer still refers to them; only removing it frees them.
    harness.run_binary("image", "gc", "--store", store)
    assert sorted(p.name for p in (store / "layers").iterdir()) == layers
    runtime.run(["delete", "--volumes", "--store", store, cid])
    assert "2 layers" in harness.run_binary("image", "gc", "--store", store).stdout
    assert list((store / "layers").iterdir()) == []


def test_id_in_use_and_flag_errors(runtime, layout, store):
    import_image(layout, store, "base")
    cid = runtime.new_id()
    runtime.run(["create", "--image", "base", "--store", store, cid, "--", "true"])
    res = runtime.run(["create", "--image", "base", "--store", store, cid, "--", "true"],
                      check=False)
    assert res.returncode == 1 and "already exists" in res.stderr
    res = runtime.run(["create", "--image", "nosuch", "--store", store, runtime.new_id()],
                      check=False)
    assert res.returncode == 1 and "nosuch" in res.stderr
    res = runtime.run(["create", "--image", "base", "--bundle", "/tmp", runtime.new_id()],
                      check=False)
    assert res.returncode == 1 and "exclude" in res.stderr
    res = runtime.run(["create", runtime.new_id(), "--", "true"], check=False)
    assert res.returncode == 1 and "--image" in res.stderr
    runtime.run(["delete", cid])


def test_zstd_archive_from_skopeo(runtime, layout, store, tmp_path):
    archive = tmp_path / "zstd.tar"
    tool("skopeo", "copy", "--dest-compress-format", "zstd", f"oci:{layout}:echo",
         f"oci-archive:{archive}")
    harness.run_binary("image", "import", "--store", store, "--name", "z", archive)
    res = run_image(runtime, store, "z", runtime.new_id(), "cat", "/etc/motd")
    assert res.stdout == "from the top layer\n"


def test_forty_layers(runtime, layout, store, tmp_path):
    """More layers than one lowerdir value of 255 bytes holds with /proc/self/fd/N paths."""
    lay = tmp_path / "deep"
    shutil.copytree(layout, lay)
    for i in range(38):
        files = {f"layers/{i:02d}": f"{i}\n", "layers/top": f"{i}\n"}
        if i == 20:
            files["etc/motd"] = None  # a whiteout halfway up hides the file below
        add_layer(lay, "base", tar_files(tmp_path / f"l{i}.tar", files))
    configure(lay, "base", "deep", "--config.cmd", "sh")
    harness.run_binary("image", "import", "--store", store, "--name", "deep", f"{lay}:deep")
    assert json.loads(harness.run_binary("image", "ls", "--store", store, "--format",
                                         "json").stdout)[0]["layers"] == 40
    out = run_image(runtime, store, "deep", runtime.new_id(), "sh", "-c",
                    "cat /layers/00 /layers/37 /layers/top; ls /layers | wc -l; "
                    "test -e /etc/motd || echo whited-out; test -x /bin/busybox && echo base").stdout
    assert out.split() == ["0", "37", "37", "39", "whited-out", "base"]


@pytest.mark.slow
def test_hundred_containers_share_the_layers(runtime, layout, store, tmp_path):
    """100 containers cost no file data: their upper dirs stay empty and containers/ holds only
    each one's config.json and layers.json. Measured on tmpfs, where empty directories take no
    blocks (on ext4 each of a container's five directories takes 4 KiB)."""
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "wmrun-test", store], check=True)
    try:
        import_image(layout, store, "echo")
        ids = [runtime.new_id(f"-{i}") for i in range(100)]
        for cid in ids:
            runtime.run(["create", "--image", "echo", "--store", store, cid])

        def du(path):
            return int(subprocess.run(["du", "-sx", "--block-size=1", path], capture_output=True,
                                      text=True, check=True).stdout.split()[0])
        used, layers_du = du(store / "containers"), du(store / "layers")
        page = os.sysconf("SC_PAGE_SIZE")
        files = sum(-(-(store / "containers" / cid / name).stat().st_size // page) * page
                    for cid in ids for name in ("config.json", "layers.json"))
        print(f"100 containers: {used} bytes in containers/ ({files} in config.json and "
              f"layers.json) beside {layers_du} bytes of layers")
        assert used == files  # nothing but the two small files per container
        assert used <= 100 * 12 * 1024  # two files of at most 8 and 4 KiB each
        for cid in ids:
            assert list((store / "containers" / cid / "upper").iterdir()) == []
        for cid in ids:
            runtime.run(["delete", "--volumes", cid])
        assert list((store / "containers").iterdir()) == []
    finally:
        harness.force_delete_all(runtime)
        subprocess.run(["umount", "-l", store], capture_output=True)
