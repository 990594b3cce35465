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


# --- exact trees, send and receive --------------------------------------------------------------

def rich_tree(root):
    """Everything an overlay upper dir can hold that a test can make quickly."""
    root.mkdir()
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "data.bin").write_bytes(os.urandom(2_500_000))
    (root / "dir" / "text").write_text("line\n" * 20000)
    (root / "dir" / "sub" / "empty").write_bytes(b"")
    with open(root / "sparse", "wb") as f:
        f.write(b"head")
        f.seek(3 << 20)
        f.write(b"tail")
        f.truncate(6 << 20)
    os.link(root / "data.bin", root / "dir" / "hard")
    os.symlink("../data.bin", root / "dir" / "link")
    os.mkfifo(root / "fifo", 0o640)
    os.mknod(root / "dir" / "whiteout", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    os.setxattr(root / "dir", "trusted.overlay.opaque", b"y")
    os.setxattr(root / "dir" / "text", "user.comment", b"bytes\x00\xff")
    os.chown(root / "dir" / "text", 1234, 5678)
    os.chmod(root / "dir" / "text", 0o4751)
    os.chmod(root / "dir" / "sub", 0o1777)
    os.utime(root / "dir" / "text", ns=(0, 1_234_567_890_123_456_789))
    os.utime(root / "dir" / "sub", ns=(0, 1_111_111_111_000_000_001))


def describe_tree(root):
    """Path -> everything restore must reproduce: type, mode, owner, ns mtime, size, content,
    holes, link target, device, xattrs, and which names share an inode."""
    root = str(root)
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [""] + sorted(dirnames + filenames):
            p = os.path.join(dirpath, name) if name else dirpath
            if not name and dirpath != root:
                continue
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            d = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                 "mtime_ns": st.st_mtime_ns, "rdev": st.st_rdev,
                 "xattrs": {x: os.getxattr(p, x, follow_symlinks=False)
                            for x in sorted(os.listxattr(p, follow_symlinks=False))}}
            if stat.S_ISREG(st.st_mode):
                d["size"] = st.st_size
                with open(p, "rb") as f:
                    d["content"] = f.read()
                    holes, pos = [], 0
                    while pos < st.st_size:
                        try:
                            data = os.lseek(f.fileno(), pos, os.SEEK_DATA)
                        except OSError:
                            break
                        hole = os.lseek(f.fileno(), data, os.SEEK_HOLE)
                        holes.append((data, hole))
                        pos = hole
                    d["data_ranges"] = holes
            if stat.S_ISLNK(st.st_mode):
                d["target"] = os.readlink(p)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                d["inode_group"] = inodes.setdefault(st.st_ino, rel)
            out[rel] = d
    return out


def send_receive(src_repo, dst_repo, snap, *since):
    """`wmrun snapshot send ... | wmrun snapshot receive ...` through a real pipe."""
    binary = str(harness.runtime_binary())
    sender = subprocess.Popen([binary, "snapshot", "send", "--repo", str(src_repo), snap,
                               *since, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    receiver = subprocess.run([binary, "snapshot", "receive", "--repo", str(dst_repo),
                               "--json"], stdin=sender.stdout, capture_output=True, text=True,
                              timeout=TIMEOUT)
    sender.stdout.close()
    sent_err = sender.stderr.read().decode()
    assert sender.wait(timeout=TIMEOUT) == 0, sent_err
    assert receiver.returncode == 0, receiver.stderr
    return json.loads(sent_err), json.loads(receiver.stdout)


@pytest.fixture
def repos(tmp_path):
    made = []
    for name in ("a", "b"):
        r = tmp_path / name
        wmrun("snapshot", "init", "--repo", r)
        made.append(r)
    yield made
    for r in made:
        shutil.rmtree(r, ignore_errors=True)


def test_send_receive_through_a_pipe_is_exact(repos, tmp_path):
    a, b = repos
    src = tmp_path / "src"
    rich_tree(src)
    first = create(a, src)
    sent, got = send_receive(a, b, first["id"])
    assert sent["id"] == first["id"] and sent["chunks_sent"] > 5
    assert got["origin_snapshot"] == first["id"]
    assert got["chunks_new"] == got["chunks_received"] == sent["chunks_sent"]
    assert got["bytes_read"] == sent["bytes_written"]
    out = tmp_path / "out"
    restored = json.loads(wmrun("snapshot", "restore", "--repo", b, got["id"], out,
                                "--json").stdout)
    assert restored["damaged_files"] == [] and restored["files"] == 4
    assert describe_tree(out) == describe_tree(src)
    verified = json.loads(wmrun("snapshot", "verify", "--repo", b, "--json").stdout)
    assert verified["ok"] and verified["chunks"] == got["chunks_new"]

    # Only the change travels in a delta, and b rebuilds the whole new tree from it.
    with open(src / "data.bin", "r+b") as f:
        f.seek(2_000_000)
        f.write(os.urandom(1000))
    (src / "dir" / "new").write_text("new\n")
    second = create(a, src, "--parent", first["id"])
    sent2, got2 = send_receive(a, b, second["id"], "--since", first["id"])
    assert sent2["base"] == first["id"] and sent2["chunks_in_base"] > 0
    assert sent2["bytes_written"] * 3 < sent["bytes_written"]
    out2 = tmp_path / "out2"
    wmrun("snapshot", "restore", "--repo", b, got2["id"], out2)
    assert describe_tree(out2) == describe_tree(src)
    wmrun("snapshot", "verify", "--repo", b)

    # Receiving again changes nothing.
    _, again = send_receive(a, b, second["id"], "--since", first["id"])
    assert again["id"] == got2["id"] and again["chunks_new"] == 0 and again["bytes_added"] == 0
    listed = json.loads(wmrun("snapshot", "list", "--repo", b, "--json").stdout)
    assert [s["id"] for s in listed] == [got["id"], got2["id"]]


def test_receive_refuses_a_bad_stream_in_one_line(repos, tmp_path):
    a, b = repos
    src = tmp_path / "src"
    rich_tree(src)
    snap = create(a, src)
    stream = subprocess.run([str(harness.runtime_binary()), "snapshot", "send", "--repo",
                             str(a), snap["id"]], capture_output=True, timeout=TIMEOUT,
                            check=True).stdout
    flipped = bytearray(stream)
    flipped[len(stream) // 2] ^= 0x10
    cases = {"truncated": stream[:len(stream) * 2 // 3], "corrupted": bytes(flipped),
             "bad magic": b"tar archive?" + stream[12:]}
    for expected, data in cases.items():
        p = subprocess.run([str(harness.runtime_binary()), "snapshot", "receive", "--repo",
                            str(b)], input=data, capture_output=True, timeout=TIMEOUT)
        err = p.stderr.decode()
        assert p.returncode == 1, expected
        assert err.startswith("wmrun: snapshot receive: read stream: byte "), err
        assert expected in err and len(err.splitlines()) == 1, err
    assert json.loads(wmrun("snapshot", "list", "--repo", b, "--json").stdout) == []
    assert "no errors" in wmrun("snapshot", "verify", "--repo", b).stdout
    assert not list((b / "tmp").iterdir())
    assert not [p for p in (b / "packs").rglob("*") if p.is_file()]


def test_send_to_a_terminal_is_refused(repo, tree):
    snap = create(repo, tree)
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.run([str(harness.runtime_binary()), "snapshot", "send", "--repo",
                            str(repo), snap["id"]], stdout=slave, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 1 and b"terminal" in p.stderr


def test_damaged_pack_restore_names_the_file_and_restores_the_rest(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a-victim.bin").write_bytes(os.urandom(400_000))
    (src / "z-healthy.txt").write_text("healthy\n" * 1000)
    (src / "z-link").symlink_to("z-healthy.txt")
    snap = create(repo, src)
    packs = [p for p in (repo / "packs").rglob("*.pack")]
    assert len(packs) == 1
    data = bytearray(packs[0].read_bytes())
    data[100] ^= 0x01  # inside the first blob: a-victim.bin's, the first file walked
    os.chmod(packs[0], 0o644)
    packs[0].write_bytes(bytes(data))
    v = wmrun("snapshot", "verify", "--repo", repo, check=False)
    assert v.returncode == 1
    assert f"damaged file: {snap['id']} a-victim.bin" in v.stdout
    assert "z-healthy" not in v.stdout
    out = tmp_path / "out"
    r = wmrun("snapshot", "restore", "--repo", repo, snap["id"], out, check=False)
    assert r.returncode == 1
    assert r.stdout.splitlines() == ["damaged file: a-victim.bin"]
    assert r.stderr.startswith("wmrun: snapshot restore: ") and len(r.stderr.splitlines()) == 1
    assert "1 damaged files, the rest restored" in r.stderr
    assert (out / "z-healthy.txt").read_bytes() == (src / "z-healthy.txt").read_bytes()
    assert os.readlink(out / "z-link") == "z-healthy.txt"
    assert (out / "a-victim.bin").stat().st_size == 400_000
    assert (out / "a-victim.bin").read_bytes() != (src / "a-victim.bin").read_bytes()


def test_json_summaries(repo, tree, tmp_path):
    snap = create(repo, tree)
    assert {"id", "files_new", "files_changed", "files_unchanged", "bytes_read", "bytes_added",
            "duration_seconds"} <= set(snap)
    v = json.loads(wmrun("snapshot", "verify", "--repo", repo, "--json").stdout)
    assert v["ok"] is True and v["chunks"] >= 4 and v["damaged_files"] == []
    r = json.loads(wmrun("snapshot", "restore", "--repo", repo, snap["id"], tmp_path / "o",
                         "--json").stdout)
    assert r["id"] == snap["id"] and r["files"] == 4 and r["bytes_written"] > 300_000
    wmrun("snapshot", "forget", "--repo", repo, "--unsafe-allow-remove-all", "--source", tree)
    p = json.loads(wmrun("snapshot", "prune", "--repo", repo, "--json").stdout)
    assert p["packs_deleted"] == 1 and p["chunks_removed"] == v["chunks"]
    # Not a terminal: no progress lines, nothing at all on stderr.
    p2 = wmrun("snapshot", "create", "--repo", repo, tree)
    assert p2.stderr == ""


def test_progress_is_drawn_on_a_terminal(repo, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(3000):
        (src / f"f{i:04}").write_bytes(os.urandom(2000))
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([str(harness.runtime_binary()), "snapshot", "create", "--repo",
                              str(repo), str(src)], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            err += chunk
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        os.close(master)
    assert b"files" in err and b"/s" in err and b"\r" in err
