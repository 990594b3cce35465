"""debian/ against the rest of the repository, without building the package (tools/package
builds it and runs lintian, tools/package-smoke installs it into a fresh Debian 12: both take
minutes, tests/stress/package runs them)."""

import json
import re
from pathlib import Path

import pytest

import clients
import harness

SRC = Path(__file__).resolve().parents[2]
# Checks the style only; nothing in the build runs it.
NOT_BUILD_DEPENDS = {"clang-format"}


def install_deps_list(name):
    """The packages of tools/install-deps' shell variable `name`."""
    text = (SRC / "tools" / "install-deps").read_text()
    match = re.search(rf'^{name}="([^"]*)"', text, re.M)
    assert match, f"tools/install-deps has no {name}"
    return set(match.group(1).split())


def control_field(name):
    """A field of debian/control's source paragraph, its continuation lines joined."""
    source = (SRC / "debian" / "control").read_text().split("\n\n")[0]
    match = re.search(rf"^{name}:(.*(?:\n[ \t].*)*)", source, re.M)
    assert match, f"debian/control has no {name}"
    return match.group(1)


def build_depends():
    """The package names of Build-Depends (without versions, alternatives or profiles)."""
    names = set()
    for relation in control_field("Build-Depends").split(","):
        names.add(re.match(r"\s*([a-z0-9][a-z0-9+.-]*)", relation).group(1))
    return names


def test_build_depends_are_what_install_deps_installs_to_build():
    declared = build_depends() - {"debhelper-compat"}
    assert declared == install_deps_list("build_deps") - NOT_BUILD_DEPENDS


def test_the_package_tools_are_installed_by_install_deps():
    assert {"dpkg-dev", "debhelper", "lintian", "debootstrap"} <= \
        install_deps_list("package_deps")


def test_every_contrib_file_is_installed_naming_the_installed_wmrun():
    """`meson install` puts each file of contrib/ in share/doc/wmrun/examples/<client>/, and
    the systemd units in the unit directory, with the installation's own sbin/wmrun in place of
    /usr/sbin/wmrun."""
    info = harness.runtime_binary().resolve().parents[1] / "meson-info"
    if not (info / "intro-installed.json").is_file():
        pytest.skip(f"the runtime under test is not in a meson build directory ({info})")
    installed = json.loads((info / "intro-installed.json").read_text())
    options = {o["name"]: o["value"]
               for o in json.loads((info / "intro-buildoptions.json").read_text())}
    wmrun = Path(options["prefix"]) / options["sbindir"] / "wmrun"
    examples = Path(options["prefix"]) / options["datadir"] / "doc" / "wmrun" / "examples"
    sources = sorted(p for p in clients.CONTRIB.rglob("*")
                     if p.is_file() and p.name != "meson.build")
    assert sources
    units = Path(options["systemdunitdir"] or Path(options["prefix"]) / "lib/systemd/system")
    by_dest = {dest: Path(built) for built, dest in installed.items()}
    for source in sources:
        relative = source.relative_to(clients.CONTRIB)
        if relative.parts[0] == "systemd":
            dest = str(units / source.name)
        else:
            dest = str(examples / relative)
        assert dest in by_dest, f"contrib/{source.relative_to(clients.CONTRIB)} is not installed"
        assert by_dest[dest].read_text() == \
            source.read_text().replace(clients.CONTRIB_WMRUN, str(wmrun))
