"""wmrun image import/ls/rm/gc against images built with umoci and skopeo."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.wmrun_only(reason="image commands are wmrun's own")

TIMEOUT = 60

wmrun = harness.run_binary


def tool(*args):
    harness.run_tool(*args, timeout=TIMEOUT)


@pytest.fixture
def layout(tmp_path):
    """An OCI layout `t` with two layers: /etc/hello and /f2."""
    lay = tmp_path / "layout"
    tool("umoci", "init", "--layout", lay)
    tool("umoci", "new", "--image", f"{lay}:t")
    # One layer per unpack/repack round: /etc/hello, then /f2. (umoci insert writes tars
    # without their end-of-archive blocks.)
    for rel, text in (("etc/hello", "hello\n"), ("f2", "two\n")):
        bundle = tmp_path / "bundle"
        tool("umoci", "unpack", "--image", f"{lay}:t", bundle)
        (bundle / "rootfs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / "rootfs" / rel).write_text(text)
        tool("umoci", "repack", "--image", f"{lay}:t", bundle)
        shutil.rmtree(bundle)
    return lay


def manifest_of(lay, ref="t"):
    index = json.loads((lay / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return m["digest"]
    raise AssertionError(f"no {ref} in {lay}")


def layer_digests(lay):
    manifest = json.loads((lay / "blobs" / "sha256" /
                           manifest_of(lay).split(":")[1]).read_text())
    return [layer["digest"] for layer in manifest["layers"]]


def layer_dirs(store):
    d = store / "layers"
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []


def images(store):
    return json.loads(wmrun("image", "ls", "--store", store, "--format", "json").stdout)


def test_import_layout_and_archive(layout, store, tmp_path):
    digest = manifest_of(layout)
    out = wmrun("image", "import", "--store", store, f"{layout}:t").stdout
    assert out.split() == ["t", digest]
    # Not a terminal: no progress line, nothing on stderr.
    archive = tmp_path / "img.tar"
    tool("skopeo", "copy", f"oci:{layout}:t", f"oci-archive:{archive}")
    p = wmrun("image", "import", "--store", store, "--name", "fromtar", archive)
    assert p.stderr == ""
    name, tar_digest = p.stdout.split()
    assert name == "fromtar" and tar_digest.startswith("sha256:")

    listed = {i["name"]: i for i in images(store)}
    assert set(listed) == {"t", "fromtar"}
    assert listed["t"]["digest"] == digest and listed["t"]["layers"] == 2
    assert listed["fromtar"]["layers"] == 2
    table = wmrun("image", "ls", "--store", store).stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "DIGEST"]
    assert sorted(line.split()[0] for line in table[1:]) == ["fromtar", "t"]

    # The unpacked layers hold the files of the image.
    contents = {p.relative_to(d).as_posix(): p.read_text()
                for d in layer_dirs(store) for p in d.rglob("*") if p.is_file()}
    assert contents == {"etc/hello": "hello\n", "f2": "two\n"}


def test_reimport_does_not_unpack_again(layout, store):
    wmrun("image", "import", "--store", store, f"{layout}:t")
    dirs = layer_dirs(store)
    assert len(dirs) == 2
    before = {d: (d.stat().st_ino, d.stat().st_mtime_ns) for d in dirs}
    wmrun("image", "import", "--store", store, "--name", "again", f"{layout}:t")
    assert {d: (d.stat().st_ino, d.stat().st_mtime_ns) for d in layer_dirs(store)} == before
    assert sorted(i["name"] for i in images(store)) == ["again", "t"]


def test_tampered_blob_fails_and_records_nothing(layout, store):
    blob = layer_digests(layout)[-1]
    path = layout / "blobs" / "sha256" / blob.split(":")[1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    p = wmrun("image", "import", "--store", store, f"{layout}:t", check=False)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("wmrun: image import: ")
    assert blob.split(":")[1] in lines[0]
    assert p.stdout == ""
    assert images(store) == []


def test_rm_and_gc_remove_layers(layout, store):
    wmrun("image", "import", "--store", store, f"{layout}:t")
    assert len(layer_dirs(store)) == 2
    blobs = store / "blobs" / "sha256"
    assert all((blobs / d.split(":")[1]).is_file() for d in layer_digests(layout))
    wmrun("image", "rm", "--store", store, "t")
    assert images(store) == []
    out = wmrun("image", "gc", "--store", store).stdout
    assert "2 layers" in out
    assert layer_dirs(store) == []
    assert not any((blobs / d.split(":")[1]).exists() for d in layer_digests(layout))


def test_errors_name_the_subcommand(store):
    p = wmrun("image", "rm", "--store", store, "nosuch", check=False)
    assert p.returncode == 1
    assert p.stderr.startswith("wmrun: image rm: ") and "nosuch" in p.stderr
    assert len(p.stderr.splitlines()) == 1


def test_help():
    p = wmrun("image", "--help")
    assert all(w in p.stdout for w in ("import", "ls", "rm", "gc"))
    p = wmrun("image", "import", "--help")
    assert "--store" in p.stdout and "--name" in p.stdout
    p = wmrun("image", check=False)
    assert p.returncode != 0 and p.stderr.startswith("wmrun: image: ")
    p = wmrun("image", "import", "--store", "/nonexistent", check=False)
    assert p.stderr == "wmrun: image import: source is required\n"


def test_progress_on_a_terminal(layout, store):
    # A pty on stderr: the progress line appears there, rewritten with \r.
    import pty
    leader, follower = pty.openpty()
    try:
        p = subprocess.run([str(harness.runtime_binary()), "image", "import", "--store",
                            str(store), f"{layout}:t"], stdout=subprocess.PIPE,
                           stderr=follower, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                b = os.read(leader, 4096)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        err = b"".join(chunks).decode()
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert p.returncode == 0
    assert "layers 2/2" in err and "\r" in err
    assert p.stdout.decode().split()[0] == "t"
