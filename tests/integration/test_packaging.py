# SPDX-License-Identifier: MIT
"""What the Debian package ships, checked against the binaries it is built from: the
commented server.yaml and agent.yaml, the systemd units' paths, the man pages' sources
and the bash completion (no command or option of --help missing). scripts/deb.sh builds,
installs and purges the package itself."""
import json
import os
import re
import shutil
import subprocess

import pytest

from prismlib import BUILD, PRISM, PRISMD, ROOT, free_port

PACKAGING = os.path.join(ROOT, "packaging")
COMPLETION = os.path.join(PACKAGING, "prism.bash-completion")
MAN = os.path.join(ROOT, "docs", "man")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def read(*path):
    with open(os.path.join(*path), encoding="utf-8") as f:
        return f.read()


def long_options(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", text))


def commands():
    """{command: {subcommand, ...}} from `prism --help`: "  hosts [list|show]",
    "  prism zones create ZONE ...", "  kea install-trigger ..."."""
    r = run([PRISM, "--help"])
    assert r.returncode == 0
    found = {}
    pat = re.compile(r"^  (?:prism )?([a-z][a-z-]*)(?=\s|$)"
                     r"(?: (?:\[([a-z|]+)\]|([a-z][a-z-]*)(?=\s|$)))?")
    for line in r.stdout.splitlines():
        m = pat.match(line)
        if m:
            subs = found.setdefault(m.group(1), set())
            subs.update(filter(None, (m.group(2) or m.group(3) or "").split("|")))
    assert {"register", "agent", "kea", "hosts", "zones", "records", "cluster"} <= set(found)
    assert {"list", "show", "delete", "release"} <= found["hosts"]
    return found


def complete(*words):
    """What bash completes after `prism WORDS...` (the last word is the one typed)."""
    script = (f"source {COMPLETION}\n"
              'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _prism\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = run(["bash", "-c", script, "prism", "prism", *words])
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def completion_options(cmd, sub=""):
    r = run(["bash", "-c", f'source {COMPLETION}; _prism_opts "$1" "$2"', "x", cmd, sub])
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_packaged_server_yaml_is_valid():
    cfg = os.path.join(PACKAGING, "server.yaml.example")
    r = run([PRISMD, "--check-config", "-c", cfg])
    assert r.returncode == 0, r.stderr
    # the documented next step, turning PowerDNS on with a key, keeps it valid
    env = dict(os.environ, PRISM_POWERDNS_ENABLED="1", PRISM_POWERDNS_API_KEY="k")
    r = run([PRISMD, "--check-config", "-c", cfg], env=env)
    assert r.returncode == 0, r.stderr
    text = read(cfg)
    assert 'path: "/var/lib/prism/prism.db"' in text


def test_packaged_agent_yaml_is_valid():
    # valid configuration: the agent gets as far as connecting (5), not refusing it (2)
    cfg = os.path.join(PACKAGING, "agent.yaml.example")
    r = run([PRISM, "agent", "-c", cfg, "--once", "--server", f"127.0.0.1:{free_port()}",
             "-w", "2"])
    assert r.returncode == 5, r.stderr


def test_units_run_what_meson_installs():
    installed = json.load(open(os.path.join(BUILD, "meson-info", "intro-installed.json")))
    dests = {os.path.relpath(src, BUILD): d for src, d in installed.items()}
    assert dests["src/daemon/prismd"].endswith("/sbin/prismd")
    assert dests["src/cli/prism"].endswith("/bin/prism")
    assert "/sbin/" not in dests["src/cli/prism"]
    prismd_unit = read(PACKAGING, "prismd.service")
    assert "ExecStart=/usr/sbin/prismd --config /etc/prism/server.yaml" in prismd_unit
    assert "\nUser=prism\n" in prismd_unit and "DynamicUser" not in prismd_unit
    assert "\nStateDirectory=prism\n" in prismd_unit
    agent_unit = read(PACKAGING, "prism-agent.service")
    assert "ExecStart=/usr/bin/prism agent --config /etc/prism/agent.yaml" in agent_unit


def test_man_page_sources_cover_help():
    prismd_page = read(MAN, "prismd.8.md").replace("\\", "")
    r = run([PRISMD, "--help"])
    missing = long_options(r.stdout) - long_options(prismd_page)
    assert not missing, f"prismd --help options missing from docs/man/prismd.8.md: {missing}"

    bold = set()
    for span in re.findall(r"\*\*(.+?)\*\*", read(MAN, "prism.1.md")):
        bold.update(re.findall(r"[a-z][a-z-]*", span))
    for cmd, subs in commands().items():
        missing = ({cmd} | subs) - bold
        assert not missing, f"prism {cmd}: {missing} not in docs/man/prism.1.md"

    r = run([PRISM, "agent", "--help"])
    agent_page = read(MAN, "prism-agent.8.md").replace("\\", "") + read(ROOT, "docs", "agent.md")
    missing = long_options(r.stdout) - long_options(agent_page)
    assert not missing, f"prism agent --help options missing from prism-agent(8): {missing}"


def test_completion_covers_help():
    cmds = commands()
    assert complete("") == set(cmds)
    all_options = set()
    for cmd, subs in cmds.items():
        assert complete(cmd, "") == subs, cmd
        for sub in subs | {""}:
            all_options |= completion_options(cmd, sub)
    helped = long_options(run([PRISM, "--help"]).stdout)
    for cmd, subs in cmds.items():
        text = run([PRISM, cmd, "--help"]).stdout
        helped |= long_options(text)
        if cmd in ("zones", "records", "repoint", "cluster", "register"):
            continue  # one help text for the four; register's is prism --help
        offered = set().union(*(completion_options(cmd, s) for s in subs | {""}))
        missing = long_options(text) - offered
        assert not missing, f"prism {cmd}: options not completed: {missing}"
    missing = helped - all_options
    assert not missing, f"options of prism --help not completed: {missing}"


def test_completion_completes():
    assert complete("ho") == {"hosts"}
    assert complete("hosts", "de") == {"delete"}
    assert complete("hosts", "delete", "--y") == {"--yes"}
    assert complete("--json", "zones", "c") == {"create"}
    assert complete("-s", "http://x", "zones", "create", "--k") == {"--kind"}
    assert complete("agent", "--log-level", "w") == {"warning"}
    assert complete("records", "--type", "AA") == {"AAAA"}
    assert complete("reg") == {"register", "registry"}
    assert complete("registry", "imp") == {"import-prism"}
    assert complete("registry", "import-prism", os.path.join(PACKAGING, "agent.yaml.ex")) == {
        os.path.join(PACKAGING, "agent.yaml.example")}
    assert complete("agent", "-c", os.path.join(PACKAGING, "agent.yaml.ex")) == {
        os.path.join(PACKAGING, "agent.yaml.example")}


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
def test_man_pages_render_and_hold_every_option():
    pages = ["prismd.8", "prism-server.yaml.5", "prism.1", "prism-agent.8"]
    paths = [os.path.join(BUILD, "docs", "man", p) for p in pages]
    if not all(os.path.exists(p) for p in paths):
        pytest.skip("this build has no man pages (meson -Dman: pandoc not found)")
    env = dict(os.environ, MANWIDTH="80")
    text = {}
    for page, path in zip(pages, paths):
        r = run(["man", "--warnings", "-E", "UTF-8", "-l", path], env=env)
        assert r.returncode == 0 and r.stderr == "", f"{page}: {r.stderr}"
        text[page] = r.stdout
    ref = run([PRISMD, "--config-reference"]).stdout
    keys = re.findall(r"^\| `([a-z_.]+)` \|", ref, re.M)
    assert len(keys) > 50
    missing = [k for k in keys if k not in text["prism-server.yaml.5"]]
    assert not missing, f"options missing from prism-server.yaml(5): {missing}"
    assert "prism-server.yaml(5)" in text["prismd.8"]  # links between the docs become refs
    assert "](" not in "".join(text.values())


def test_debian_version_is_meson_version():
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("dpkg-dev is not installed")
    r = run(["dpkg-parsechangelog", "-l", os.path.join(ROOT, "debian", "changelog"),
             "-S", "Version"])
    meson = re.search(r"^\tversion: '([^']+)',$", read(ROOT, "meson.build"), re.M).group(1)
    assert r.stdout.strip().rsplit("-", 1)[0] == meson
