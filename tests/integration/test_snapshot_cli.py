"""wmrun snapshot init/create/list/diff/restore/verify/forget/prune on directories."""

import json
import os
import shutil
import stat
import subprocess

import pytest

import harness

pytestmark = pytest.mark.wmrun_only(reason="snapshot commands are wmrun's own")

TIMEOUT = 60

wmrun = harness.run_binary


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    wmrun("snapshot", "init", "--repo", r, "--compression", "5")
    yield r
    shutil.rmtree(r, ignore_errors=True)


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    (t / "sub" / "deeper").mkdir(parents=True)
    (t / "a.txt").write_text("alpha\n" * 1000)
    (t / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (t / "sub" / "deeper" / "c").write_text("c\n")
    (t / "exec.sh").write_text("#!/bin/sh\n")
    os.chmod(t / "exec.sh", 0o750)
    os.chmod(t / "sub" / "deeper", 0o711)
    os.symlink("a.txt", t / "link")
    yield t
    shutil.rmtree(t, ignore_errors=True)


def create(repo, tree, *extra):
    return json.loads(wmrun("snapshot", "create", "--repo", repo, tree, "--json", *extra).stdout)


def modes(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def test_create_parent_diff_restore_verify(repo, tree, tmp_path):
    first = create(repo, tree)
    assert first["files_new"] == 4 and first["files_unchanged"] == 0
    assert first["bytes_read"] > 300_000 and first["bytes_added"] > 0
    assert set(first) >= {"id", "files_new", "files_changed", "files_unchanged", "bytes_read",
                          "bytes_added", "duration_seconds"}

    second = create(repo, tree, "--parent", first["id"])
    assert second["files_unchanged"] == 4
    assert second["files_new"] == 0 and second["files_changed"] == 0
    assert second["bytes_read"] == 0 and second["bytes_added"] == 0

    (tree / "sub" / "deeper" / "c").write_text("changed\n")
    third = create(repo, tree, "--parent", second["id"])
    assert third["files_changed"] == 1 and third["files_unchanged"] == 3

    listed = json.loads(wmrun("snapshot", "list", "--repo", repo, "--json").stdout)
    assert [s["id"] for s in listed] == [first["id"], second["id"], third["id"]]
    text = wmrun("snapshot", "list", "--repo", repo).stdout.splitlines()
    assert len(text) == 4 and text[0].split()[0] == "ID"

    diff = wmrun("snapshot", "diff", "--repo", repo, second["id"], third["id"]).stdout
    assert diff.splitlines() == ["M sub/deeper/c"]
    assert wmrun("snapshot", "diff", "--repo", repo, first["id"], second["id"]).stdout == ""

    target = tmp_path / "restored"
    target.mkdir()
    wmrun("snapshot", "restore", "--repo", repo, third["id"][:12], target)
    d = subprocess.run(["diff", "-r", "--no-dereference", str(tree), str(target)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert d.returncode == 0, d.stdout + d.stderr
    assert modes(target) == modes(tree)

    out = wmrun("snapshot", "verify", "--repo", repo).stdout
    assert "no errors" in out


def test_verify_names_a_damaged_pack(repo, tree):
    snap = create(repo, tree)
    packs = sorted((repo / "packs").rglob("*.pack"))
    assert packs
    victim = packs[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0xff
    victim.write_bytes(bytes(data))
    p = wmrun("snapshot", "verify", "--repo", repo, check=False)
    assert p.returncode == 1
    assert str(victim) in p.stdout
    assert f"damaged file: {snap['id']}" in p.stdout
    assert p.stderr.startswith("wmrun: snapshot verify: ")
    assert len(p.stderr.splitlines()) == 1


def test_forget_and_prune(repo, tree):
    first = create(repo, tree)
    (tree / "a.txt").write_text("other content entirely\n" * 5000)
    (tree / "sub" / "b.bin").unlink()
    second = create(repo, tree)
    wmrun("snapshot", "forget", "--repo", repo, "--keep-last", "1")
    listed = json.loads(wmrun("snapshot", "list", "--repo", repo, "--json").stdout)
    assert [s["id"] for s in listed] == [second["id"]]
    out = wmrun("snapshot", "prune", "--repo", repo).stdout
    assert "bytes freed" in out and not out.startswith("0 packs deleted, 0 rewritten")
    wmrun("snapshot", "verify", "--repo", repo)
    p = wmrun("snapshot", "restore", "--repo", repo, first["id"], repo.parent / "gone",
              check=False)
    assert p.returncode == 1 and p.stderr.startswith("wmrun: snapshot restore: ")


def test_usage_errors(tmp_path):
    p = wmrun("snapshot", "init", "--repo", tmp_path / "r", "--compression", "99", check=False)
    assert p.returncode != 0
    p = wmrun("snapshot", "list", "--repo", tmp_path / "missing", check=False)
    assert p.returncode == 1 and p.stderr.startswith("wmrun: snapshot list: ")
    assert "--keep-last" in wmrun("snapshot", "forget", "--help").stdout
