"""The words of the runtime's errors that clients match, as runc words them.

docker exits 127 for a failed start only if the runtime's error says "no such file or
directory" or "executable file not found" (in lower case, as Go prints errno), and 126 for
"permission denied"; podman does the same; containerd's shim turns "container not running" and
"does not exist" into not-found errors and ignores them on delete. Every test here runs against
runc too (WMRUN=/usr/bin/runc): the texts are runc's, not ours.
"""

import pytest

import harness


def said(res):
    """stderr as a reader sees it: runc's text log escapes the quotes in its msg="..."."""
    return res.stderr.replace('\\"', '"')


def start_detached(runtime, bundle, args=("sleep", "30")):
    bundle.set(args=list(args))
    cid = runtime.new_id()
    runtime.run(["run", "--detach", "--bundle", bundle.path, cid])
    return cid


@pytest.mark.parametrize("prog,words", [
    ("wmt-no-such-command", 'exec: "wmt-no-such-command": executable file not found in $PATH'),
    ("/wmt/no/such", 'exec: "/wmt/no/such": stat /wmt/no/such: no such file or directory'),
    ("/etc/passwd", 'exec: "/etc/passwd": permission denied'),
])
def test_a_process_that_cannot_start_fails_create_with_runc_words(runtime, bundle, prog, words):
    bundle.set(args=[prog])
    cid = runtime.new_id()
    res = runtime.run(["create", "--bundle", bundle.path, cid], check=False)
    assert res.returncode == 1, res
    assert words in said(res), res.stderr
    assert cid not in runtime.list_ids()


@pytest.mark.parametrize("prog,words", [
    ("wmt-no-such-command", 'exec: "wmt-no-such-command": executable file not found in $PATH'),
    ("/wmt/no/such", 'exec: "/wmt/no/such": stat /wmt/no/such: no such file or directory'),
])
def test_exec_of_a_missing_command_exits_255_with_runc_words(runtime, bundle, prog, words):
    cid = start_detached(runtime, bundle)
    res = runtime.run(["exec", cid, prog], check=False)
    # 255: the exec failed, not the process (runc exits 255 on its own errors in exec).
    assert res.returncode == 255, res
    assert words in said(res), res.stderr
    stopped = start_detached(runtime, bundle, args=("true",))
    runtime.wait_status(stopped, "stopped")
    res = runtime.run(["exec", stopped, "true"], check=False)
    assert res.returncode == 255 and "cannot exec in a stopped container" in res.stderr, res


def test_errno_texts_are_lower_case_as_go_prints_them(runtime, tmp_path):
    res = runtime.run(["create", "--bundle", tmp_path / "no-bundle", runtime.new_id()],
                      check=False)
    assert res.returncode == 1
    assert "no such file or directory" in res.stderr, res.stderr
    assert "No such file" not in res.stderr, res.stderr


def test_container_lookups_use_runc_words(runtime, bundle):
    missing = runtime.new_id()
    for args in (["state", missing], ["kill", missing, "KILL"], ["delete", missing],
                 ["start", missing], ["exec", missing, "true"]):
        res = runtime.run(args, check=False)
        assert res.returncode != 0 and "container does not exist" in res.stderr, (args, res)

    cid = start_detached(runtime, bundle)
    res = runtime.run(["run", "--detach", "--bundle", bundle.path, cid], check=False)
    assert res.returncode == 1, res
    assert "container with given ID already exists" in res.stderr, res.stderr

    runtime.run(["kill", cid, "KILL"])
    runtime.wait_status(cid, "stopped")
    res = runtime.run(["kill", cid, "TERM"], check=False)
    assert res.returncode == 1 and "container not running" in res.stderr, res.stderr
    res = runtime.run(["start", cid], check=False)
    assert "cannot start a container that has stopped" in res.stderr, res.stderr
    runtime.run(["delete", cid])


@pytest.mark.wmrun_only(reason="the log line's prefix is wmrun's")
def test_the_json_log_carries_the_same_words(runtime, bundle, tmp_path):
    """containerd's shim reads the reason from --log in JSON: the words must be there too."""
    import json
    log = tmp_path / "log.json"
    bundle.set(args=["wmt-no-such-command"])
    res = runtime.run(["create", "--bundle", bundle.path, runtime.new_id()], check=False,
                      global_args=["--log", log, "--log-format", "json"])
    assert res.returncode == 1
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error"
    assert 'exec: "wmt-no-such-command": executable file not found in $PATH' in last["msg"]
    assert harness.runtime_binary().exists()
