"""Hostile images against `wmrun image import` and `wmrun run --image`.

An image config's Volumes entry becomes a bind mount from the container's
`containers/<id>/volumes/<escaped path>` onto that path of the rootfs. `/..` escaped to `..`,
so the container's own directory (config.json, layers.json, upper, work, the rootfs mount
itself) was mounted over the rootfs; `//` and `/./` put the volumes directory there. Such paths
are refused, naming them, at import and again when a container is made from an image already
in the store, before anything is mounted. The import's limits are flags; each is honoured.
"""

import io
import json
import os
import shutil
import tarfile

import pytest

import harness
from test_image_cli import manifest_of
from test_image_run import configure, import_image, is_mounted, layout  # noqa: F401 (fixture)

pytestmark = pytest.mark.wmrun_only(reason="images are wmrun's own")

# Each covers the rootfs or climbs above it once joined, cleaned or escaped somewhere.
HOSTILE_VOLUMES = ["/..", "/../x", "//", "/./"]


def hostile_tag(layout, volume):
    """A tag of the layout whose config declares `volume` (umoci writes it verbatim)."""
    tag = "vol" + str(HOSTILE_VOLUMES.index(volume))
    configure(layout, "base", tag, "--config.volume", volume, "--config.volume", "/data")
    return tag


def plant_in_store(layout, store, tag, name):
    """Puts image `tag` into the store as an older wmrun, which did not check Volumes, imported
    it: its layers through an import of `base` (the same layers), then its manifest and config
    blobs copied verbatim and its record written (docs/image-store.md, "Layout on disk")."""
    import_image(layout, store, "base", name="planted-base")
    digest = manifest_of(layout, tag)
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / digest.split(":")[1]).read_text())
    for d in (digest, manifest["config"]["digest"]):
        dst = store / "blobs" / "sha256" / d.split(":")[1]
        shutil.copyfile(blobs / d.split(":")[1], dst)
        os.chmod(dst, 0o444)
    record = {"name": name, "manifest": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                         "digest": digest,
                                         "size": (blobs / digest.split(":")[1]).stat().st_size}}
    (store / "images" / name).write_text(json.dumps(record))


@pytest.mark.parametrize("volume", HOSTILE_VOLUMES)
def test_run_refuses_a_volume_over_the_rootfs(runtime, layout, store, volume):  # noqa: F811
    """The attack: a container of an image with such a volume lists its `/`. Before the fix
    `//` and `/./` covered the rootfs with the volumes dir and `/..` with the container's own
    dir (config.json, layers.json, upper, work): busybox was gone, "exec: /bin/busybox: No
    such file or directory"; `/../x` was mounted at /x."""
    tag = hostile_tag(layout, volume)
    plant_in_store(layout, store, tag, "evil")
    cid = runtime.new_id()
    res = runtime.run(["run", "--image", "evil", "--store", store, cid, "--",
                       "/bin/busybox", "ls", "-a", "/"], check=False, timeout=60)
    assert res.returncode != 0 and f'"{volume}"' in res.stderr, (
        f"Volumes {volume!r} was not refused: exit {res.returncode}, / held "
        f"{res.stdout.split()}, stderr {res.stderr!r}")
    assert "volume" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    # Refused before anything was made: no mount, no container dir, no state.
    cdir = store / "containers" / cid
    assert not cdir.exists()
    assert not is_mounted(cdir / "merged")
    assert runtime.list_ids() == []
    assert not (runtime.root / cid).exists()


@pytest.mark.parametrize("volume", HOSTILE_VOLUMES)
def test_import_refuses_a_volume_over_the_rootfs(layout, store, volume):  # noqa: F811
    tag = hostile_tag(layout, volume)
    res = harness.run_binary("image", "import", "--store", store, "--name", "evil",
                             f"{layout}:{tag}", check=False)
    assert res.returncode == 1, res.stdout
    assert f'config.Volumes: "{volume}"' in res.stderr, res.stderr
    # Refused while validating: the store holds nothing of the image.
    for sub in ("images", "layers", "blobs/sha256", "tmp"):
        assert os.listdir(store / sub) == [], sub


class Zeros(io.RawIOBase):
    """`size` zero bytes to read, never held in memory."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def test_gzip_bomb_is_refused_and_the_ratio_flag_lets_it_in(layout, store, tmp_path):  # noqa: F811
    """A layer of 128 MiB of zeros, which umoci compresses to about 130 KiB: past the default
    ratio (100 times its blob once past 64 MiB). Nothing of it stays; with the ratio switched
    off it imports."""
    bomb = tmp_path / "bomb.tar"
    with tarfile.open(bomb, "w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("zeros")
        info.size = 128 << 20
        t.addfile(info, Zeros(info.size))
    configure(layout, "base", "bomb")
    harness.run_tool("umoci", "raw", "add-layer", "--image", f"{layout}:bomb", bomb)
    res = harness.run_binary("image", "import", "--store", store, f"{layout}:bomb", check=False)
    assert res.returncode == 1, res.stdout
    assert "import image bomb" in res.stderr and "the limit is --max-layer-ratio 100" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for sub in ("images", "layers", "blobs/sha256", "tmp"):
        assert os.listdir(store / sub) == [], sub
    harness.run_binary("image", "import", "--store", store, "--max-layer-ratio", "0",
                       f"{layout}:bomb")
    assert any((d / "zeros").is_file() and (d / "zeros").stat().st_size == 128 << 20
               for d in (store / "layers").iterdir())


def test_import_limits_are_flags(layout, store):  # noqa: F811
    """Each limit flag is honoured: busybox's layer (about 2 MiB unpacked, 400 members) is past
    a 1 MiB --max-layer-size and --max-layer-entries 10, its manifest past a 100-byte
    --max-manifest-size; with the limits raised the image imports."""
    src = f"{layout}:base"
    cases = [(["--max-layer-size", "1M"], "the limit is --max-layer-size 1048576"),
             (["--max-manifest-size", "100"], "--max-manifest-size"),
             (["--max-layer-entries", "10"], "the limit is --max-layer-entries 10")]
    for flags, message in cases:
        res = harness.run_binary("image", "import", "--store", store, *flags, src, check=False)
        assert res.returncode == 1 and message in res.stderr, (flags, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        for sub in ("images", "layers", "blobs/sha256", "tmp"):
            assert os.listdir(store / sub) == [], (flags, sub)
    res = harness.run_binary("image", "import", "--store", store, "--max-layer-size", "x",
                             src, check=False)
    assert res.returncode != 0 and "--max-layer-size" in res.stderr
    # Raised or switched off, the same image imports.
    harness.run_binary("image", "import", "--store", store, "--max-layer-size", "1G",
                       "--max-manifest-size", "1M", "--max-layer-entries", "100000", src)
    assert [i["name"] for i in json.loads(harness.run_binary(
        "image", "ls", "--store", store, "--format", "json").stdout)] == ["base"]
