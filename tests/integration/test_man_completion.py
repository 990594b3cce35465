"""Man pages and shell completions (generated at build time from the command line itself, by
tools/man/generate.py): every command of `--help` has a page that lists every option its
`--help` shows, and bash, zsh and fish completion complete commands, options, option values
and the container ids under --root."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import harness

HELP_OPTION = re.compile(r"^  (-[-\w]+(?:,-[-\w]+)*)")


def generated_dir(runtime):
    d = runtime.binary.resolve().parent / "man"
    if runtime.is_runc or not d.is_dir():
        pytest.skip(f"no generated man pages and completions beside {runtime.binary} "
                    "(a build tree's tools/man)")
    return d


def help_sections(runtime, words):
    """The option names and subcommand names that `wmrun WORDS --help` lists."""
    text = runtime.run([*words, "--help"]).stdout
    options, subcommands, section = [], [], None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
            continue
        if section == "Options":
            m = HELP_OPTION.match(line)
            if m:
                options += m.group(1).split(",")
        elif section == "Subcommands":
            fields = line.split()
            if fields:  # "delete, rm": the name and its aliases
                subcommands.append(fields[0].rstrip(","))
    return options, subcommands


def every_command(runtime, words=()):
    """(words, options) of `wmrun` and every command below it, one --help each."""
    options, subs = help_sections(runtime, list(words))
    yield words, options
    for sub in subs:
        yield from every_command(runtime, (*words, sub))


def test_every_command_has_a_page_with_every_option(runtime):
    man8 = generated_dir(runtime) / "man8"
    if not man8.is_dir():
        pytest.skip("man pages were not built (scdoc missing: meson -Dman=enabled needs it)")
    commands = list(every_command(runtime))
    assert len(commands) >= 30, commands
    for path, options in commands:
        page = man8 / ("-".join(("wmrun",) + path) + ".8")
        assert page.is_file(), f"no man page for `wmrun {' '.join(path)}`: {page}"
        roff = page.read_text()
        assert options, path
        for opt in options:
            assert re.search(r"\\fB" + re.escape(opt) + r"\\fR", roff), \
                f"{page.name} does not describe {opt} of `wmrun {' '.join(path)} --help`"
    if shutil.which("man"):
        rendered = subprocess.run(["man", "-l", str(man8 / "wmrun-run.8")], capture_output=True,
                                  text=True, env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"})
        assert "--bundle" in rendered.stdout and "SYNOPSIS" in rendered.stdout


def complete(runtime, words):
    """What bash completion offers for the last of `words` (the word being typed)."""
    script = generated_dir(runtime) / "wmrun"
    if not shutil.which("bash"):
        pytest.skip("no bash")
    program = f"""
source {script}
wmrun() {{ {runtime.binary} "$@"; }}
COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_wmrun
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    res = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def test_bash_completes_commands_options_and_values(runtime):
    assert complete(runtime, ["wmrun", "sta"]) == {"start", "state", "stats"}
    assert complete(runtime, ["wmrun", "snapshot", "cr"]) == {"create"}
    assert complete(runtime, ["wmrun", "run", "--b"]) == {"--bundle"}
    assert complete(runtime, ["wmrun", "--log-format", ""]) == {"text", "json"}
    assert {"-q", "--quiet", "--format"} <= complete(runtime, ["wmrun", "list", "-"])


@pytest.fixture
def created(runtime, bundle):
    """A created container's id, deleted afterwards."""
    cid = runtime.new_id()
    bundle.set(args=["sleep", "60"])
    runtime.run(["create", "--bundle", bundle.path, cid])
    yield cid
    runtime.run(["delete", "--force", cid])


def test_bash_completes_the_container_ids_under_root(runtime, created):
    cid, root = created, str(runtime.root)
    assert cid in complete(runtime, ["wmrun", "--root", root, "state", ""])
    assert cid in complete(runtime, ["wmrun", "--root", root, "kill", cid[:3]])
    # The id comes first; the signal after it is not an id.
    assert cid not in complete(runtime, ["wmrun", "--root", root, "kill", cid, ""])
    # Another root has other containers.
    assert cid not in complete(runtime, ["wmrun", "--root", root + "-other", "state", ""])


def zsh_complete(runtime, words):
    """What zsh offers for the last of `words`: the completion file run as zsh's completion
    system runs it (bashcompinit's compgen calls the function; compadd then keeps the matches
    of the word typed, which is done here), with the runtime first on PATH."""
    if not shutil.which("zsh"):
        pytest.skip("no zsh (tools/install-deps installs it)")
    script = generated_dir(runtime) / "_wmrun"
    program = f"""
autoload -U +X compinit && compinit -u -D
source {shlex.quote(str(script))}
path=({shlex.quote(str(runtime.binary.parent))} $path)
local -a words=({' '.join(shlex.quote(w) for w in words)})
local CURRENT=$#words
local -a COMP_WORDS=($words)
local COMP_CWORD=$((CURRENT - 1))
for m in ${{(f)"$(compgen -F _wmrun -- "${{words[-1]}}")"}}; do
    if [[ $m == "${{words[-1]}}"* ]]; then print -r -- $m; fi
done
"""
    res = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def fish_complete(runtime, line):
    """What fish offers for the command line `line` (complete -C), names only."""
    if not shutil.which("fish"):
        pytest.skip("no fish (tools/install-deps installs it)")
    script = generated_dir(runtime) / "wmrun.fish"
    program = (f"set PATH {shlex.quote(str(runtime.binary.parent))} $PATH; "
               f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}")
    res = subprocess.run(["fish", "-N", "-c", program], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return {entry.split("\t")[0] for entry in res.stdout.splitlines() if entry}


def test_zsh_and_fish_complete_commands_options_and_values(runtime):
    assert zsh_complete(runtime, ["wmrun", "sta"]) == {"start", "state", "stats"}
    assert zsh_complete(runtime, ["wmrun", "snapshot", "cr"]) == {"create"}
    assert zsh_complete(runtime, ["wmrun", "--log-format", ""]) == {"text", "json"}
    assert {"-q", "--quiet", "--format"} <= zsh_complete(runtime, ["wmrun", "list", "-"])
    assert fish_complete(runtime, "wmrun sta") == {"start", "state", "stats"}
    assert {"--bundle", "--detach"} <= fish_complete(runtime, "wmrun run --")


def test_zsh_and_fish_complete_the_container_ids_under_root(runtime, created):
    cid, root = created, str(runtime.root)
    # zsh ties `path` to PATH: the function once set it and found no wmrun to list ids.
    assert cid in zsh_complete(runtime, ["wmrun", "--root", root, "state", ""])
    assert cid not in zsh_complete(runtime, ["wmrun", "--root", root + "-other", "state", ""])
    assert cid in fish_complete(runtime, f"wmrun --root {root} kill ")
    assert cid in fish_complete(runtime, f"wmrun --root={root} state ")
    assert cid not in fish_complete(runtime, f"wmrun --root {root}-other state ")


def test_version_has_runcs_lines(runtime):
    if runtime.is_runc:
        pytest.skip("wmrun's own format")
    lines = runtime.run(["--version"]).stdout.splitlines()
    assert re.match(r"^wmrun version \d+\.\d+\.\d+$", lines[0]), lines
    assert re.match(r"^commit: \S+$", lines[1]), lines
    assert re.match(r"^spec: \d+\.\d+\.\d+$", lines[2]), lines
    assert re.match(r"^libseccomp: \d+\.\d+\.\d+$", lines[3]), lines
