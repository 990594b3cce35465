"""wmrun snapshot forget's retention policy, and the snapshot commands a backup user reaches
for: ls, restore --include, create --exclude, the automatic parent of a directory, the host
recorded and the id a received snapshot keeps."""

import json
import os
import shutil
import socket
import subprocess

import pytest

import harness
from test_snapshot_cli import create, describe_tree

pytestmark = pytest.mark.wmrun_only(reason="snapshot commands are wmrun's own")

wmrun = harness.run_binary


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "snap-repo"
    wmrun("snapshot", "init", "--repo", r)
    yield r
    shutil.rmtree(r, ignore_errors=True)


def listed(repo):
    return json.loads(wmrun("snapshot", "list", "--repo", repo, "--json").stdout)


def test_forget_keep_last_never_touches_another_sources_snapshots(repo, tmp_path):
    x, y = tmp_path / "x", tmp_path / "y"
    x.mkdir()
    y.mkdir()
    (x / "f").write_text("x1")
    (y / "f").write_text("y")
    x1 = create(repo, x)["id"]
    only_y = create(repo, y)["id"]
    (x / "f").write_text("x2")
    x2 = create(repo, x)["id"]
    dry = wmrun("snapshot", "forget", "--repo", repo, "--keep-last", "1", "--dry-run").stdout
    assert f"source {x}" in dry and f"source {y}" in dry and "last snapshot" in dry
    assert "would remove 1 snapshots" in dry
    assert {s["id"] for s in listed(repo)} == {x1, x2, only_y}  # a dry run removes nothing
    groups = json.loads(wmrun("snapshot", "forget", "--repo", repo, "--keep-last", "1",
                              "--json").stdout)
    removed = [s["id"] for g in groups for s in g["remove"]]
    assert removed == [x1]
    assert all(g["host"] == socket.gethostname() for g in groups)
    assert {s["id"] for s in listed(repo)} == {x2, only_y}
    # Grouped as one, y's only snapshot would go: only when asked.
    wmrun("snapshot", "forget", "--repo", repo, "--keep-last", "1", "--group-by", "")
    assert [s["id"] for s in listed(repo)] == [x2]


def test_forget_rules_and_reasons(repo, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    ids = []
    for i in range(3):
        (src / "f").write_text(str(i))
        ids.append(create(repo, src, "--tag", "gold" if i == 0 else "plain")["id"])
    groups = json.loads(wmrun("snapshot", "forget", "--repo", repo, "--keep-daily", "1",
                              "--keep-tag", "gold", "--dry-run", "--json").stdout)
    keep = {s["id"]: s["reasons"] for s in groups[0]["keep"]}
    # All on one day: the newest is the daily one, the gold one is kept by its tag.
    assert keep == {ids[2]: ["daily snapshot"], ids[0]: ["has tags [gold]"]}
    assert [s["id"] for s in groups[0]["remove"]] == [ids[1]]


def test_forget_refuses_an_empty_policy_and_bad_flags(repo, tmp_path):
    p = wmrun("snapshot", "forget", "--repo", repo, check=False)
    assert p.returncode == 1 and "no --keep-* option" in p.stderr
    p = wmrun("snapshot", "forget", "--repo", repo, "--unsafe-allow-remove-all", check=False)
    assert p.returncode == 1 and "needs --host or --source" in p.stderr
    p = wmrun("snapshot", "forget", "--repo", repo, "--keep-last", "1", "--group-by", "paths",
              check=False)
    assert p.returncode == 1 and "unknown field \"paths\"" in p.stderr
    p = wmrun("snapshot", "forget", "--repo", repo, "--keep-daily", "-2", check=False)
    assert p.returncode != 0


def test_directory_finds_its_parent_and_reads_nothing_unchanged(repo, tmp_path):
    src = tmp_path / "d"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(500_000))
    first = create(repo, src)
    # Named another way: the same directory, the same source.
    second = create(repo, tmp_path / "d" / ".." / "d")
    assert second["parent"] == first["id"]
    assert second["bytes_read"] == 0 and second["files_unchanged"] == 1
    snaps = listed(repo)
    assert {s["source"] for s in snaps} == {str(src)}
    assert {s["hostname"] for s in snaps} == {socket.gethostname()}


def test_ls_include_and_exclude(repo, tmp_path):
    src = tmp_path / "t"
    (src / "keep" / "deep").mkdir(parents=True)
    (src / "cache").mkdir()
    (src / "keep" / "deep" / "a").write_text("a")
    (src / "keep" / "x.log").write_text("log")
    (src / "cache" / "c").write_text("c")
    (src / "top").write_text("top")
    os.link(src / "top", src / "keep" / "top-link")
    snap = create(repo, src, "--exclude", "*.log", "--exclude", "/cache")
    ls = json.loads(wmrun("snapshot", "ls", "--repo", repo, snap["id"], "--json").stdout)
    paths = [n["path"] for n in ls]
    assert "keep/x.log" not in paths and "cache" not in paths and "cache/c" not in paths
    assert "keep/deep/a" in paths and "top" in paths
    a = next(n for n in ls if n["path"] == "keep/deep/a")
    assert a["type"] == "file" and a["size"] == 1 and a["mode"] == 0o644
    sub = wmrun("snapshot", "ls", "--repo", repo, snap["id"][:8], "/keep/deep").stdout
    assert sub.splitlines()[0].startswith("drwx") and sub.rstrip().endswith("keep/deep/a")
    p = wmrun("snapshot", "ls", "--repo", repo, snap["id"], "nope", check=False)
    assert p.returncode == 1 and "no such path" in p.stderr

    out = tmp_path / "partial"
    wmrun("snapshot", "restore", "--repo", repo, snap["id"], out, "--include", "keep")
    got = sorted(os.path.relpath(os.path.join(d, f), out)
                 for d, ds, fs in os.walk(out) for f in ds + fs)
    assert got == ["keep", "keep/deep", "keep/deep/a", "keep/top-link"]
    # The second name of an inode whose first name was left out holds the data itself.
    assert (out / "keep" / "top-link").read_text() == "top"
    p = wmrun("snapshot", "restore", "--repo", repo, snap["id"], tmp_path / "p2", "--include",
              "missing", check=False)
    assert p.returncode == 1 and "no such path in the snapshot" in p.stderr


def test_receive_keeps_the_senders_id_and_records_its_host(tmp_path):
    a, b = tmp_path / "snap-a", tmp_path / "snap-b"
    for r in (a, b):
        wmrun("snapshot", "init", "--repo", r)
    src = tmp_path / "s"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(100_000))
    snap = create(a, src)
    binary = str(harness.runtime_binary())
    stream = subprocess.run([binary, "snapshot", "send", "--repo", str(a), snap["id"]],
                            check=True, capture_output=True).stdout
    for attempt in range(2):
        r = subprocess.run([binary, "snapshot", "receive", "--repo", str(b), "--json"],
                           input=stream, check=True, capture_output=True)
        got = json.loads(r.stdout)
        assert got["id"] == snap["id"]
        assert got["already_present"] == (attempt == 1)
    [s] = listed(b)
    assert s["id"] == snap["id"] and s["origin_host"] == socket.gethostname()
    assert s["hostname"] == socket.gethostname()
    table = wmrun("snapshot", "list", "--repo", b).stdout
    assert "FROM" in table.splitlines()[0] and socket.gethostname() in table
    out = tmp_path / "o"
    wmrun("snapshot", "restore", "--repo", b, snap["id"], out)
    assert describe_tree(out) == describe_tree(src)
