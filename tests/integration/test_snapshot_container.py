"""wmrun snapshot create <container>: the volume layer (overlay upper dir and volumes) of a
container made from an image, snapshotted while it writes; the container is frozen only while
changed files are read, so the snapshot is consistent, and it keeps running afterwards."""

import json
import re
import shutil
import time

import pytest

import harness
from test_image_run import add_layer, configure, import_image, run_image, tar_tree, tool

pytestmark = pytest.mark.wmrun_only(reason="snapshot commands are wmrun's own")

TIMEOUT = 120

# Each round appends line i to the log in the upper dir, then replaces /data/latest (a volume)
# with i by rename, and rewrites one of 20 files. In any instant the log ends at some N and
# latest holds N or N-1; a snapshot whose files were read at different moments breaks that.
WRITER = r"""
mkdir -p /app/static /app/rot
for k in $(seq 1 20); do echo "static $k" > /app/static/$k; done
i=0
while true; do
  i=$((i+1))
  echo "line $i" >> /app/log
  echo $i > /data/latest.tmp && mv /data/latest.tmp /data/latest
  head -c 4096 /dev/urandom > /app/rot/$((i % 20))
done
"""


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    work = tmp_path_factory.mktemp("image")
    rootfs = harness.build_rootfs_template(work / "rootfs")
    (rootfs / "data").mkdir()
    lay = work / "layout"
    tool("umoci", "init", "--layout", lay)
    tool("umoci", "new", "--image", f"{lay}:base")
    add_layer(lay, "base", tar_tree(rootfs, work / "base.tar"))
    configure(lay, "base", "writer", "--config.volume", "/data", "--config.cmd", "sh",
              "--config.cmd", "-c", "--config.cmd", WRITER)
    return lay


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    harness.run_binary("snapshot", "init", "--repo", r)
    yield r
    shutil.rmtree(r, ignore_errors=True)


def snapshot(runtime, repo, cid, *extra):
    res = runtime.run(["snapshot", "create", "--repo", repo, cid, "--json", *extra],
                      timeout=TIMEOUT)
    return json.loads(res.stdout), res.stderr


def log_lines(path):
    return path.read_text().splitlines()


def check_consistent(root):
    """The invariant of WRITER on a restored snapshot; returns the last log number."""
    lines = log_lines(root / "upper" / "app" / "log")
    assert lines, "the log is empty"
    assert lines == [f"line {n}" for n in range(1, len(lines) + 1)], "torn or missing lines"
    latest = int((root / "volumes" / "data" / "latest").read_text())
    n = len(lines)
    assert latest in (n - 1, n), f"log ends at {n} but latest is {latest}"
    for k in range(1, 21):
        assert (root / "upper" / "app" / "static" / str(k)).read_text() == f"static {k}\n"
    return n


def test_snapshot_of_a_running_container(runtime, layout, store, repo, tmp_path):
    import_image(layout, store, "writer")
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--image", "writer", "--store", store, cid], timeout=TIMEOUT)
    runtime.wait_status(cid, "running")
    cdir = store / "containers" / cid
    harness.wait_for_file_text(cdir / "upper" / "app" / "log", "line 200", timeout=30)

    first, err = snapshot(runtime, repo, cid, "--tag", "first")
    assert first["container"] == cid
    assert first["source"] == str(cdir)
    assert first["parent"] == ""
    assert first["files_new"] >= 22  # log, latest, the static and rotating files
    # The pause is reported, on stderr too, and is short next to the whole run.
    assert 0 < first["pause_ms"] < 5000
    assert first["pause_ms"] < first["duration_seconds"] * 1000
    m = re.search(r"paused for ([0-9.]+) ms", err)
    assert m, err
    assert runtime.state(cid)["status"] == "running"

    # The container goes on writing after the thaw.
    grown = len(log_lines(cdir / "upper" / "app" / "log"))
    harness.wait_for_file_text(cdir / "upper" / "app" / "log", f"line {grown + 50}", timeout=30)

    # The second snapshot takes the first as its parent: the static files are not read again.
    second, _ = snapshot(runtime, repo, cid)
    assert second["parent"] == first["id"]
    assert second["files_unchanged"] >= 20
    assert second["bytes_read"] < first["bytes_read"] + 200_000
    assert second["files_changed"] >= 2  # the log and latest
    assert runtime.state(cid)["status"] == "running"

    n = {}
    for snap in (first, second):
        out = tmp_path / f"restore-{snap['id'][:8]}"
        runtime.run(["snapshot", "restore", "--repo", repo, snap["id"], out], timeout=TIMEOUT)
        n[snap["id"]] = check_consistent(out)
        # Only the volume layer: not overlay's work dir, the mount point or the bundle's config.
        assert sorted(p.name for p in out.iterdir()) == ["upper", "volumes"]
    assert n[second["id"]] > n[first["id"]]

    listed = json.loads(harness.run_binary("snapshot", "list", "--repo", repo, "--json").stdout)
    assert [s["tags"] for s in listed] == [["first"], []]

    runtime.run(["kill", "--all", cid, "KILL"])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])


def test_paused_container_stays_paused_and_stopped_is_read_as_is(runtime, layout, store, repo,
                                                                  tmp_path):
    import_image(layout, store, "writer")
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--image", "writer", "--store", store, cid], timeout=TIMEOUT)
    runtime.wait_status(cid, "running")
    harness.wait_for_file_text(store / "containers" / cid / "upper" / "app" / "log", "line 20",
                               timeout=30)
    runtime.run(["pause", cid])
    snap, err = snapshot(runtime, repo, cid)
    assert snap["pause_ms"] == 0 and "paused for" not in err  # it was paused already
    assert runtime.state(cid)["status"] == "paused"
    runtime.run(["resume", cid])
    runtime.run(["kill", "--all", cid, "KILL"])
    runtime.wait_status(cid, "stopped")

    # A stopped container's layer is read without a freeze; unchanged files come from before.
    later, err = snapshot(runtime, repo, cid)
    assert later["pause_ms"] == 0 and "paused for" not in err
    assert later["parent"] == snap["id"]
    assert later["files_unchanged"] >= 20
    out = tmp_path / "restored"
    runtime.run(["snapshot", "restore", "--repo", repo, later["id"], out], timeout=TIMEOUT)
    check_consistent(out)
    runtime.run(["delete", cid])


def test_bundle_container_snapshots_its_rootfs(runtime, bundle, repo, tmp_path):
    (bundle.rootfs / "marker").write_text("from the bundle\n")
    bundle.set(args=["sh", "-c", "echo written > /written; sleep 100"], readonly=False)
    cid = runtime.new_id()
    runtime.run(["run", "-d", "--bundle", bundle.path, cid], timeout=TIMEOUT)
    runtime.wait_status(cid, "running")
    harness.wait_for_file_text(bundle.rootfs / "written", "written")
    snap, _ = snapshot(runtime, repo, cid)
    assert snap["source"] == str(bundle.rootfs)
    assert snap["pause_ms"] > 0
    out = tmp_path / "restored"
    runtime.run(["snapshot", "restore", "--repo", repo, snap["id"], out], timeout=TIMEOUT)
    assert (out / "marker").read_text() == "from the bundle\n"
    assert (out / "written").read_text() == "written\n"
    busybox = (bundle.rootfs / "bin" / "busybox").read_bytes()
    assert (out / "bin" / "busybox").read_bytes() == busybox
    assert runtime.state(cid)["status"] == "running"
    runtime.run(["kill", "--all", cid, "KILL"])
    runtime.wait_status(cid, "stopped")
    runtime.run(["delete", cid])


def test_restore_back_under_a_stopped_container(runtime, layout, store, repo):
    import_image(layout, store, "writer")
    cid = runtime.new_id()
    cdir = store / "containers" / cid
    runtime.run(["run", "-d", "--image", "writer", "--store", store, cid, "--", "sh", "-c",
                 "echo snap > /marker; echo vol > /data/v; exec sleep 1000"], timeout=TIMEOUT)
    runtime.wait_status(cid, "running")
    harness.wait_for_file_text(cdir / "volumes" / "data" / "v", "vol")
    snap, _ = snapshot(runtime, repo, cid)

    def restore(*extra, check=True):
        return runtime.run(["snapshot", "restore", "--repo", repo, snap["id"], cid, *extra],
                           check=check, timeout=TIMEOUT)

    # A running container's layer is not replaced under it.
    res = restore(check=False)
    assert res.returncode != 0 and "running" in res.stderr
    assert (cdir / "upper" / "marker").read_text() == "snap\n"

    def damage():
        (cdir / "upper" / "marker").write_text("changed\n")
        (cdir / "upper" / "extra").write_text("not in the snapshot\n")
        (cdir / "volumes" / "data" / "v").unlink()

    def check_run():
        res = run_image(runtime, store, "writer", cid, "sh", "-c",
                        "cat /marker /data/v; ls /extra 2>/dev/null; echo end")
        assert res.stdout == "snap\nvol\nend\n"
        assert sorted(p.name for p in cdir.iterdir() if p.name.startswith(".")) == []

    # Stopped, its state kept: restored in place, the overlay unmounted for delete to finish.
    runtime.run(["kill", "--all", cid, "KILL"])
    runtime.wait_status(cid, "stopped")
    damage()
    restore()
    assert (cdir / "upper" / "marker").read_text() == "snap\n"
    assert not (cdir / "upper" / "extra").exists()
    runtime.run(["delete", cid])
    check_run()

    # Deleted, its volume layer kept in the store named by --store.
    assert runtime.list_ids() == []
    damage()
    restore("--store", store)
    check_run()
