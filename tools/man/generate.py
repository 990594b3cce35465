#!/usr/bin/python3
"""Man pages and shell completions of wmrun, generated from `wmrun __describe-cli` (the CLI11
definitions themselves), so that an option added to a command is in its page and completion.

  generate.py man CLI.json PROSE_DIR OUT_DIR [STAMP]  scdoc sources and roff pages (scdoc)
  generate.py bash|zsh|fish CLI.json OUT_FILE     a completion script

Pages: wmrun(8) and wmrun-COMMAND(8) for every command (wmrun-snapshot-create(8), ...).
PROSE_DIR/PAGE.scd, when present, is added to that page's DESCRIPTION (hand-written text:
what the command is for, examples); NAME, SYNOPSIS and OPTIONS come from the CLI alone.
"""
import json
import os
import re
import subprocess
import sys


def commands(node, path=()):
    """(path, node) for every command below node, depth first."""
    for sub in node["commands"]:
        p = path + (sub["name"],)
        yield p, sub
        yield from commands(sub, p)


def page_name(path):
    return "-".join(("wmrun",) + path)


def esc(text):
    """Text for scdoc: its markup characters escaped, no leading indentation."""
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    return "\n".join(line.strip() for line in text.splitlines())


def option_heading(o):
    names = ", ".join("*" + esc(n) + "*" for n in o["names"])
    value = o["value"]
    if value:
        choices = re.match(r"^[A-Z]+:\{(.*)\}$", value)
        names += " _" + esc(choices.group(1).replace(",", "|") if choices else value) + "_"
    return names


def option_lines(options):
    out = []
    for o in options:
        out.append(option_heading(o))
        text = esc(o["description"]) or "(no description)"
        if o["default"]:
            text += " (default: " + esc(o["default"]) + ")"
        if o["repeatable"]:
            text += " May be given more than once."
        out.extend("\t" + line for line in text.splitlines())
        out.append("")
    return out


def synopsis(path, node):
    words = ["*wmrun*", "[_global options_]"] + ["*" + esc(p) + "*" for p in path]
    if node["commands"]:
        words.append("_command_")
    else:
        words.append("[_options_]")
    for a in node["arguments"]:
        arg = "_" + esc(a["name"]) + "_" + ("..." if a["many"] else "")
        words.append(arg if a["required"] else "[" + arg + "]")
    return " ".join(words)


def prose(prose_dir, name):
    path = os.path.join(prose_dir, name + ".scd")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return ["", f.read().rstrip("\n")]


def command_page(path, node, prose_dir):
    name = page_name(path)
    lines = [name + "(8)", "", "# NAME", "", name + " - " + esc(node["description"]), "",
             "# SYNOPSIS", "", synopsis(path, node), "", "# DESCRIPTION", "",
             esc(node["description"]).capitalize() + "."]
    lines += prose(prose_dir, name)
    if node["arguments"]:
        lines += ["", "# ARGUMENTS", ""]
        for a in node["arguments"]:
            lines += ["_" + esc(a["name"]) + "_", "\t" + (esc(a["description"]) or "-"), ""]
    if node["commands"]:
        lines += ["", "# COMMANDS", ""]
        for sub in node["commands"]:
            lines += ["*" + esc(sub["name"]) + "*", "\t" + esc(sub["description"]) +
                      " See *" + page_name(path + (sub["name"],)) + "*(8).", ""]
    lines += ["", "# OPTIONS", ""] + option_lines(node["options"])
    lines += ["# SEE ALSO", "", "*wmrun*(8)" + "".join(
        ", *" + page_name(path[:i]) + "*(8)" for i in range(1, len(path)))]
    return "\n".join(lines) + "\n"


def main_page(cli, prose_dir):
    lines = ["wmrun(8)", "", "# NAME", "", "wmrun - " + esc(cli["description"].split(": ", 1)[-1]),
             "", "# SYNOPSIS", "", "*wmrun* [_global options_] _command_ [_options_] [_arguments_]",
             "", "# DESCRIPTION", ""]
    lines += prose(prose_dir, "wmrun")[1:]
    lines += ["", "# GLOBAL OPTIONS", ""] + option_lines(cli["options"])
    lines += ["# COMMANDS", ""]
    for path, node in commands(cli):
        lines += ["*" + esc(" ".join(path)) + "*", "\t" + esc(node["description"]) +
                  " See *" + page_name(path) + "*(8).", ""]
    if cli.get("footer"):
        lines += ["# SECURITY", ""] + [esc(cli["footer"]).replace("\n", " ")]
    lines += ["", "# SEE ALSO", "", ", ".join("*" + page_name(p) + "*(8)" for p, _ in commands(cli))
              + ", *runc*(8)"]
    return "\n".join(lines) + "\n"


def write_man(cli, prose_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    pages = {"wmrun": main_page(cli, prose_dir)}
    for path, node in commands(cli):
        pages[page_name(path)] = command_page(path, node, prose_dir)
    for stale in os.listdir(out_dir):
        if stale.endswith((".8", ".scd")) and stale.rsplit(".", 1)[0] not in pages:
            os.unlink(os.path.join(out_dir, stale))
    for name, text in pages.items():
        with open(os.path.join(out_dir, name + ".scd"), "w") as f:
            f.write(text)
        with open(os.path.join(out_dir, name + ".8"), "wb") as f:
            subprocess.run(["scdoc"], input=text.encode(), stdout=f, check=True)


def completion_table(cli):
    """path ("wmrun", "wmrun run", ...) -> (subcommands, options, options taking a value, argument names)."""
    table, choices = {}, {}

    def add(path, node):
        opts = [n for o in node["options"] for n in o["names"]]
        valued = [n for o in node["options"] if o["value"] for n in o["names"]]
        key = " ".join(("wmrun",) + path)
        table[key] = ([c["name"] for c in node["commands"]], opts, valued,
                      [a["name"] for a in node["arguments"]])
        for o in node["options"]:
            m = re.match(r"^[A-Z]+:\{(.*)\}$", o["value"])
            for n in o["names"] if m else []:
                choices[key + " " + n] = m.group(1).split(",")
        for c in node["commands"]:
            add(path + (c["name"],), c)

    add((), cli)
    return table, choices


def sh_words(words):
    return "'" + " ".join(words) + "'"


BASH = r'''# bash completion for wmrun, generated from `wmrun __describe-cli` (tools/man/generate.py).
# Commands, their options and container ids under the --root given on the line.

_wmrun_ids() {
    local root=$1
    wmrun ${root:+--root "$root"} list -q 2>/dev/null
}

_wmrun() {
    # zsh runs this through bashcompinit: its arrays count from 1 unless KSH_ARRAYS is on.
    local -a probe=(x)
    local base=0
    [ -z "${probe[1]:-}" ] || base=1
    local cur=${COMP_WORDS[COMP_CWORD+base]} prev=${COMP_WORDS[COMP_CWORD-1+base]}
    local -A subs=(@SUBS@)
    local -A opts=(@OPTS@)
    local -A valued=(@VALUED@)
    local -A takes_id=(@IDS@)
    local -A choices=(@CHOICES@)
    # Not "path": zsh ties that name to PATH.
    local cmd=wmrun root="" i word prev_opt="" n_args=0 skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i+base]}
        # bash splits "--root=DIR" into "--root" "=" "DIR".
        if [ "$word" = "=" ]; then skip=1; continue; fi
        if ((skip)); then
            skip=0
            [ "$prev_opt" != --root ] || root=$word
            continue
        fi
        if [[ $word == -* ]]; then
            prev_opt=$word
            [[ " ${valued[$cmd]} " != *" $word "* ]] || skip=1
            continue
        fi
        if [[ " ${subs[$cmd]} " == *" $word "* ]]; then
            cmd="$cmd $word"
        else
            n_args=$((n_args + 1))
        fi
    done
    if [[ " ${valued[$cmd]} " == *" $prev "* ]]; then
        if [ -n "${choices[$cmd $prev]:-}" ]; then
            COMPREPLY=($(compgen -W "${choices[$cmd $prev]}" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${opts[$cmd]}" -- "$cur"))
    elif [ -n "${subs[$cmd]}" ]; then
        COMPREPLY=($(compgen -W "${subs[$cmd]}" -- "$cur"))
    elif [ -n "${takes_id[$cmd]}" ] && [ "$n_args" = 0 ]; then
        COMPREPLY=($(compgen -W "$(_wmrun_ids "$root")" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _wmrun wmrun
'''


def bash_assoc(table, column):
    return " ".join("[%s]=%s" % (sh_words([k]), sh_words(v[column])) for k, v in table.items())


def write_bash(cli, out):
    table, choices = completion_table(cli)
    ids = [k for k, v in table.items() if v[3][:1] == ["container-id"]]
    text = (BASH.replace("@SUBS@", bash_assoc(table, 0)).replace("@OPTS@", bash_assoc(table, 1))
            .replace("@VALUED@", bash_assoc(table, 2))
            .replace("@IDS@", " ".join("[%s]=1" % sh_words([k]) for k in ids))
            .replace("@CHOICES@", " ".join("[%s]=%s" % (sh_words([k]), sh_words(v))
                                           for k, v in choices.items())))
    with open(out, "w") as f:
        f.write(text)


def write_zsh(cli, out):
    # zsh runs bash completion functions through bashcompinit: one table, one behaviour.
    bash_out = out + ".bash"
    write_bash(cli, bash_out)
    with open(bash_out) as f:
        body = f.read()
    os.unlink(bash_out)
    with open(out, "w") as f:
        f.write("#compdef wmrun\n# zsh completion for wmrun: the bash completion through "
                "bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n" + body)


# The ids under the --root given on the line (as --root DIR or --root=DIR).
FISH_IDS = '''function __wmrun_ids
    set -l words (commandline -opc)
    set -l root
    for i in (seq (count $words))
        switch $words[$i]
            case --root
                if test $i -lt (count $words)
                    set root $words[(math $i + 1)]
                end
            case '--root=*'
                set root (string replace -- --root= '' $words[$i])
        end
    end
    if test -n "$root"
        wmrun --root $root list -q 2>/dev/null
    else
        wmrun list -q 2>/dev/null
    end
end
'''


def write_fish(cli, out):
    lines = ["# fish completion for wmrun, generated from `wmrun __describe-cli`.",
             FISH_IDS.rstrip("\n"), "complete -c wmrun -f"]
    for path, node in [((), cli)] + list(commands(cli)):
        if path:
            parent = " ".join(path[:-1])
            cond = ("__fish_use_subcommand" if len(path) == 1 else
                    "__fish_seen_subcommand_from %s" % parent)
            lines.append("complete -c wmrun -n '%s' -a %s -d %s" %
                         (cond, path[-1], json.dumps(node["description"][:60])))
        cond = ("-n '__fish_seen_subcommand_from %s'" % path[-1] if path
                else "-n __fish_use_subcommand")
        for o in node["options"]:
            spec = " ".join(("-s " + n[1:]) if not n.startswith("--") else ("-l " + n[2:])
                            for n in o["names"])
            lines.append("complete -c wmrun %s %s%s -d %s" % (
                cond, spec, " -r" if o["value"] else "", json.dumps(o["description"][:60])))
        if node["arguments"][:1] and node["arguments"][0]["name"] == "container-id":
            lines.append("complete -c wmrun %s -a '(__wmrun_ids)'" % cond)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    with open(argv[2]) as f:
        cli = json.load(f)
    kind = argv[1]
    if kind == "man" and len(argv) in (5, 6):
        write_man(cli, argv[3], argv[4])
        if len(argv) == 6:
            with open(argv[5], "w") as f:
                f.write("man pages in %s\n" % argv[4])
    elif kind in ("bash", "zsh", "fish"):
        {"bash": write_bash, "zsh": write_zsh, "fish": write_fish}[kind](cli, argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
