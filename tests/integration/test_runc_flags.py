"""runc 1.2's flags that wmrun takes do what runc's do (docs/runtime.md has the whole table).
Each test runs against runc too, except where the words of a refusal are wmrun's."""

import subprocess
import time
from pathlib import Path

import pytest

import harness


def test_delete_kills_what_outlived_the_init_without_a_pid_namespace(runtime, bundle, tmp_path):
    """runc kills every process of such a container on delete; wmrun left them running, and the
    cgroup in place after 5 s of rmdir per hierarchy."""
    bundle.set(drop_namespaces=("pid",), add_mounts=[
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind"]}],
               args=["sh", "-c", "sleep 30 & echo $! > /out/orphan.pid"])
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    runtime.wait_status(cid, "stopped")
    orphan = int(harness.wait_for_file_text(tmp_path / "orphan.pid", "\n"))
    assert not harness.wait_pid_gone(orphan, timeout=0.2)
    started = time.monotonic()
    runtime.run(["delete", cid])
    assert harness.wait_pid_gone(orphan), "the orphan survived delete"
    assert time.monotonic() - started < 4
