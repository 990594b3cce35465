"""README.md's tour runs as written: its commands are read from the README (so this test breaks
when the README drifts) and run in order by one shell, as root, in a private mount namespace
with tmpfs over the paths it writes (/run/wmrun, /var/lib/wmrun, /srv, /mnt), from a copy of
the repository's demo/ that the test makes as tools/demo does (tools/demo itself builds build/;
tests/integration/test_cli.py runs it)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import harness

README = harness.REPO / "README.md"
# Lines of the tour the test cannot run as written, and why; each must still be in the tour.
SKIPPED = {
    "wmrun activate ": "serves until SIGTERM; tests/integration/test_activate.py drives it",
}
PRIVATE = ("/run/wmrun", "/var/lib/wmrun", "/srv", "/mnt")
# The ids the tour uses, each replaced by one of the test's (leak_check knows those).
TOUR_ID = re.compile(r"\b(hello|web\d)\b")

pytestmark = pytest.mark.wmrun_only(reason="the tour drives wmrun's image and snapshot "
                                           "commands")


def tour_commands():
    """The shell lines of the indented block under "## A short tour", comments dropped."""
    text = README.read_text()
    section = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    lines = []
    for line in section.splitlines():
        if not line.startswith("    "):
            continue
        command = re.split(r"\s{2,}#", line.strip(), maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            lines.append(command)
    return lines


def test_the_tour_is_there():
    commands = tour_commands()
    assert commands[0] == "cd demo/busybox", commands[:1]
    for prefix in SKIPPED:
        assert any(c.startswith(prefix) for c in commands), f"{prefix!r} left the tour"
    assert any("<id>" in c for c in commands)


def make_demo(repo, rootfs_template):
    """demo/busybox as tools/demo leaves it: a rootfs and a config that greets and exits."""
    bundle = repo / "demo" / "busybox"
    bundle.mkdir(parents=True)
    shutil.copytree(rootfs_template, bundle / "rootfs", symlinks=True)
    harness.run_binary("spec", "--bundle", bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", "echo Hello from wmrun"]
    (bundle / "config.json").write_text(json.dumps(config, indent=4))


def test_the_tour_runs_as_written(runtime, tmp_path, rootfs_template):
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed (tools/install-deps installs it)")
    repo = tmp_path / "repo"
    make_demo(repo, rootfs_template)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wmrun").symlink_to(harness.runtime_binary().resolve())
    ids = {}

    def our_id(match):
        return ids.setdefault(match.group(1), runtime.new_id("-" + match.group(1)))

    log = tmp_path / "tour.out"
    script = ["set -euo pipefail", f"export PATH={bin_dir}:$PATH",
              *(f"mkdir -p {d} && mount -t tmpfs -o mode=0711 tour {d}" for d in PRIVATE),
              f"cd {repo}", f'exec > >(tee -a "{log}")']
    ran = []
    for command in tour_commands():
        if any(command.startswith(p) for p in SKIPPED):
            continue
        command = TOUR_ID.sub(our_id, command)
        # <id>: the snapshot id the tour's `snapshot create` printed ("snapshot <id> saved").
        command = command.replace(
            "<id>", f"$(sed -n 's/^snapshot \\([0-9a-f]*\\) saved$/\\1/p' {log} | tail -n 1)")
        script.append(f"echo '+ {len(ran)}' >&2")
        script.append(command)
        ran.append(command)
    cleanup = " ".join(f"wmrun delete --force {i} >/dev/null 2>&1;" for i in ids.values())
    script.insert(2, f"trap '{cleanup} true' EXIT")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c",
                          "\n".join(script)], capture_output=True, text=True, timeout=240,
                         stdin=subprocess.DEVNULL)
    steps = re.findall(r"^\+ (\d+)$", res.stderr, re.M)
    failed = ran[int(steps[-1])] if steps and res.returncode != 0 else None
    assert res.returncode == 0, f"the tour failed at: {failed}\n{res.stderr[-3000:]}"
    assert len(steps) == len(ran)
    out = log.read_text()
    assert "Hello from wmrun" in out and "hi\n" in out, out
    assert ids["web1"] in out, "list did not show web1"
    assert re.search(r"^snapshot [0-9a-f]+ saved$", out, re.M), out
    # Nothing of the tour is left in our mount namespace.
    assert [m for m in map(harness.mount_point, harness.mount_lines())
            if m.startswith(str(tmp_path))] == []
    for cid in ids.values():
        assert not Path(f"/run/wmrun/{cid}").exists()
