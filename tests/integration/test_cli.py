"""The command line surface: version, help, spec, features, errors and logging."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

COMMANDS = ["spec", "create", "start", "run", "state", "kill", "delete", "list", "ps", "exec",
            "pause", "resume", "events", "update", "features"]

REQUIRED_NAMESPACES = {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}
REQUIRED_HOOKS = {"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                  "poststop"}


def test_version_prints_name_version_and_spec(runtime):
    res = runtime.run(["--version"])
    lines = res.stdout.splitlines()
    # podman and containerd show/parse the first line as "<name> version <version>".
    assert re.match(r"^\S+ version \d+\.\d+", lines[0]), res.stdout
    spec_lines = [l for l in lines if l.startswith("spec: ")]
    assert spec_lines and re.match(r"^spec: \d+\.\d+\.\d+", spec_lines[0]), res.stdout


def test_top_level_help_lists_every_command(runtime):
    res = runtime.run(["--help"])
    for cmd in COMMANDS:
        assert re.search(rf"^\s+{cmd}\b", res.stdout, re.M), f"{cmd} missing from --help"
    for opt in ("--root", "--log", "--log-format", "--debug", "--systemd-cgroup"):
        assert opt in res.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(runtime, cmd):
    res = runtime.run([cmd, "--help"])
    assert re.search(rf"\b{cmd}\b", res.stdout), res.stdout


def test_unknown_command_fails(runtime):
    res = runtime.run(["no-such-command"], check=False)
    assert res.returncode != 0
    assert "no-such-command" in res.stdout + res.stderr


def test_state_of_missing_container_fails(runtime):
    cid = runtime.new_id()
    res = runtime.run(["state", cid], check=False)
    assert res.returncode != 0
    assert res.stdout == ""
    assert "does not exist" in res.stderr or cid in res.stderr, res.stderr


@pytest.mark.wmrun_only(reason="runc 1.1 says only 'container does not exist', without the id")
def test_state_of_missing_container_error_format(runtime):
    cid = runtime.new_id()
    res = runtime.run(["state", cid], check=False)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert re.fullmatch(rf"wmrun: state: .*: {re.escape(cid)}: .+", lines[0]), lines[0]


def test_log_file_json_error(runtime, tmp_path):
    # containerd's shim reads the runtime's --log file in JSON and shows the last "msg".
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    res = runtime.run(["state", cid], check=False,
                      global_args=["--log", log, "--log-format", "json"])
    assert res.returncode != 0
    entries = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
    errors = [e for e in entries if e.get("level") == "error"]
    assert errors, entries
    assert errors[-1]["msg"] and "time" in errors[-1]
    # With --log set, the message still reaches stderr (runc prints it plain there).
    assert errors[-1]["msg"] in res.stderr


def test_log_format_json_to_stderr(runtime):
    res = runtime.run(["state", runtime.new_id()], check=False,
                      global_args=["--log-format", "json"])
    assert res.returncode != 0
    entry = json.loads(res.stderr.strip().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"]


def test_spec_writes_default_config(runtime, tmp_path):
    d = tmp_path / "b"
    d.mkdir()
    runtime.run(["spec"], cwd=d)
    c = json.loads((d / "config.json").read_text())
    assert c["ociVersion"].startswith("1.")
    assert c["process"]["args"] and c["process"]["cwd"] == "/"
    assert c["root"]["path"] == "rootfs"
    dests = {m["destination"] for m in c["mounts"]}
    assert {"/proc", "/dev", "/sys"} <= dests
    types = {n["type"] for n in c["linux"]["namespaces"]}
    assert {"pid", "mount", "ipc", "uts", "network"} <= types
    assert "user" not in types


def test_spec_bundle_flag(runtime, tmp_path):
    d = tmp_path / "elsewhere"
    d.mkdir()
    runtime.run(["spec", "--bundle", d], cwd=tmp_path)
    assert (d / "config.json").is_file()
    assert not (tmp_path / "config.json").exists()


def test_spec_rootless_has_user_namespace_and_mappings(runtime, tmp_path):
    d = tmp_path / "b"
    d.mkdir()
    runtime.run(["spec", "--rootless"], cwd=d)
    c = json.loads((d / "config.json").read_text())
    assert "user" in {n["type"] for n in c["linux"]["namespaces"]}
    assert c["linux"]["uidMappings"] and c["linux"]["gidMappings"]
    m = c["linux"]["uidMappings"][0]
    assert m["containerID"] == 0 and m["size"] >= 1


def test_spec_refuses_to_overwrite(runtime, tmp_path):
    d = tmp_path / "b"
    d.mkdir()
    (d / "config.json").write_text("keep me")
    res = runtime.run(["spec"], cwd=d, check=False)
    assert res.returncode != 0
    assert "config.json" in res.stderr
    assert (d / "config.json").read_text() == "keep me"


def features(runtime):
    return json.loads(runtime.run(["features"]).stdout)


def test_features_json(runtime):
    f = features(runtime)
    assert re.match(r"^1\.\d+\.\d+", f["ociVersionMin"])
    assert re.match(r"^1\.\d+\.\d+", f["ociVersionMax"])
    assert REQUIRED_HOOKS <= set(f["hooks"])
    assert {"ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec"} <= set(f["mountOptions"])
    assert REQUIRED_NAMESPACES <= set(f["linux"]["namespaces"])


@pytest.mark.wmrun_only(reason="runc 1.1 does not list the time namespace (runc >= 1.2 does)")
def test_features_lists_time_namespace(runtime):
    assert "time" in features(runtime)["linux"]["namespaces"]


def test_features_lists_the_systemd_cgroup_driver(runtime):
    assert features(runtime)["linux"]["cgroup"]["systemd"] is True


def test_systemd_cgroup_without_systemd_is_refused(runtime, bundle):
    """--systemd-cgroup makes a transient unit through systemd; without systemd as the init
    the create fails before anything runs, saying why, and leaves no container behind."""
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here: tests/vm/tests/wmrun-systemd-cgroup.sh covers it")
    cid = runtime.new_id()
    bundle.set(args=["true"])
    bundle.config["linux"]["cgroupsPath"] = f"system.slice:wmt:{cid}"
    bundle.write()
    res = runtime.run(["run", "--bundle", bundle.path, cid], check=False,
                      global_args=["--systemd-cgroup"])
    assert res.returncode != 0
    assert "systemd not running on this host" in res.stderr, res.stderr
    assert runtime.run(["state", cid], check=False).returncode != 0


@pytest.mark.wmrun_only("the README's demo runs the wmrun built in this tree")
def test_readme_demo_runs_a_container(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run([str(repo / "tools" / "demo")], capture_output=True, text=True,
                         timeout=600, stdin=subprocess.DEVNULL, cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "Hello from wmrun" in res.stdout, res.stdout
