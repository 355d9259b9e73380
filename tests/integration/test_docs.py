# SPDX-License-Identifier: MIT
"""The repository stands alone: no file points at documents outside it, README.md lists
every document, and the documents' relative links lead to files that exist."""
import os
import re
import struct
import subprocess

from prismlib import ROOT, frame, recv_frame, registration

# Names of documents that are not part of the repository, built so that this file does
# not match itself.
OUTSIDE = re.compile(rb"\b(?:" + b"|".join(n.encode() for n in (
    "DES" "IGN", "ST" "YLE", "PRO" "TOCOL", "L" "AB")) + rb")\.md\b|\.\./sha" rb"red\b")


def tracked_files():
    """The files git tracks; without git (a source tarball), every file but build trees."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], check=True,
                             capture_output=True).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for top, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith((".git", "build"))]
            files += [os.path.relpath(os.path.join(top, n), ROOT) for n in names]
        return files


def outside_references(paths):
    hits = []
    for rel in paths:
        path = os.path.join(ROOT, rel)
        if not os.path.isfile(path):
            continue  # deleted in the work tree, not yet in the index
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if OUTSIDE.search(line):
                    hits.append(f"{rel}:{n}: {line.decode(errors='replace').strip()}")
    return hits


def test_pattern_finds_what_it_must():
    """The check below can fail: each outside name, in the forms it took, is found."""
    for text in ("see DES" "IGN.md", "(ST" "YLE.md rule 11)", "PRO" "TOCOL.md \"Framing\"",
                 "L" "AB.md §4", "../sha" "red/notes.txt"):
        assert OUTSIDE.search(text.encode()), text
    for text in ("docs/protocol.md", "CONTRIBUTING.md", "shared library", "a/shared/b"):
        assert not OUTSIDE.search(text.encode()), text


def test_no_reference_outside_the_repository():
    files = tracked_files()
    assert "README.md" in files and "docs/protocol.md" in files
    hits = outside_references(files)
    assert not hits, "files point outside the repository:\n" + "\n".join(hits)


# The layers, lowest first: core (pure logic, no I/O), common (logging, configuration-file
# reading), then store, targets, engine, sources, api and cli, then daemon (the wiring).
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
IO_HEADERS = re.compile(r"^(?:uv\.h|curl/|sqlite3\.h|microhttpd\.h|libpq-fe\.h|openssl/ssl\.h|"
                        r"unistd\.h|fcntl\.h|poll\.h|pthread\.h|netdb\.h|sys/socket\.h|"
                        r"sys/stat\.h|systemd/)")
DB_HEADERS = re.compile(r"(sqlite3\.h|libpq-fe\.h|postgresql/)")
LAYERS = ("core", "common", "store", "targets", "engine", "sources", "api", "cli", "daemon")


def layer_violations(files):
    """files: {path: text}. Returns "path: reason" for each include that runs upward."""
    hits = []
    for rel, text in sorted(files.items()):
        top = rel.split("/")[1] if rel.startswith("src/") else None
        for inc in INCLUDE.findall(text):
            part = inc.split("/")[0]
            if part == "daemon" and top != "daemon":
                hits.append(f"{rel}: includes {inc} (only src/daemon may)")
            elif top == "core" and IO_HEADERS.match(inc):
                hits.append(f"{rel}: includes {inc} (src/core does no I/O)")
            elif top in ("core", "common") and part in LAYERS and \
                    LAYERS.index(part) > LAYERS.index(top):
                hits.append(f"{rel}: includes {inc} (a layer above {top})")
            elif DB_HEADERS.match(inc) and top not in (None, "store", "sources"):
                hits.append(f"{rel}: includes {inc} (a database API: only src/store, "
                            "and src/sources for Kea's database)")
        if rel.endswith("meson.build") and not rel.startswith("src/daemon/"):
            for m in re.findall(r"daemon/\w+\.c\b", text):
                hits.append(f"{rel}: compiles {m} (only src/daemon may)")
    return hits


def test_layer_check_finds_what_it_must():
    """The check below can fail: each kind of upward include is found, the rest is not."""
    bad = {
        "src/engine/x.c": '#include "daemon/log.h"\n',
        "src/cli/meson.build": "files('../daemon/conffile.c')\n",
        "src/core/a.c": "#include <uv.h>\n",
        "src/core/b.c": '#include "common/log.h"\n',
        "src/core/c.c": "#  include <curl/curl.h>\n",
        "src/common/d.c": '#include "store/store.h"\n',
        "tests/unit/e.c": '#include "daemon/daemon.h"\n',
        "src/cli/f.c": "#include <libpq-fe.h>\n",
        "src/api/g.c": "#include <sqlite3.h>\n",
    }
    assert len(layer_violations(bad)) == len(bad)
    good = {
        "src/daemon/x.c": '#include "daemon/daemon.h"\n#include "common/log.h"\n',
        "src/core/a.c": '#include <stdio.h>\n#include "core/error.h"\n',
        "src/common/b.c": '#include <unistd.h>\n#include "core/config.h"\n',
        "src/engine/c.c": '#include <uv.h>\n#include "common/log.h"\n',
        "src/store/pg.c": "#include <libpq-fe.h>\n#include <sqlite3.h>\n",
        "src/sources/kea_pg.c": "#include <libpq-fe.h>\n",
        "meson.build": "subdir('src/daemon')\n",
    }
    assert layer_violations(good) == []


def test_layers_run_downward():
    files = {}
    for rel in tracked_files():
        if rel.endswith((".c", ".h", "meson.build")) and os.path.isfile(os.path.join(ROOT, rel)):
            with open(os.path.join(ROOT, rel), encoding="utf-8", errors="replace") as f:
                files[rel] = f.read()
    assert any(r.startswith("src/core/") for r in files)
    hits = layer_violations(files)
    assert not hits, "includes that run upward:\n" + "\n".join(hits)


def docs():
    return sorted(n for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))


def test_readme_lists_every_document():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    linked = set(re.findall(r"\]\(([^)#\s]+)", readme))
    want = {"docs/" + n for n in docs()} | {"CONTRIBUTING.md"}
    assert "docs/protocol.md" in want and "docs/architecture.md" in want
    missing = sorted(want - linked)
    assert not missing, f"README.md does not link {missing}"


def test_relative_links_lead_to_files():
    pages = ["README.md", "CONTRIBUTING.md"] + ["docs/" + n for n in docs()]
    broken = []
    for page in pages:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z][a-z0-9+.-]*:", path):
                continue  # an anchor in the page itself, or a URL
            full = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), path))
            if not os.path.exists(full):
                broken.append(f"{page}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


# ---- docs/protocol.md against prismd's answers ----

def doc_pattern(text):
    """A documented text as a regular expression: `<...>` stands for a value; a line break
    inside a code span is a space, as Markdown renders it."""
    text = re.sub(r"\s+", " ", text)
    return re.compile(".+".join(re.escape(p) for p in re.split(r"<[^>]+>", text)) + r"\Z",
                      re.S)


def documented_answers(text):
    """(message pattern, code or result) of every row of protocol.md's answer tables."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        ticked = [re.fullmatch(r"`([^`]+)`", c) for c in cells]
        if len(cells) == 3 and ticked[1] and ticked[2]:
            rows.append((doc_pattern(ticked[1].group(1)), ticked[2].group(1)))
    return rows


def documented_reasons(text, of):
    """The reasons listed after "Reasons in `Invalid <of>: <reason>`:", as patterns."""
    para = text.split(f"Reasons in `Invalid {of}: <reason>`:", 1)[1].split("\n\n", 1)[0]
    return [doc_pattern(r) for r in re.findall(r"`([^`]+)`", para)]


def exchange(d, data, source=None):
    with d.connect(source) as s:
        s.sendall(data)
        return recv_frame(s)


def test_protocol_answers_are_documented(prismd_factory, pdns):
    """Every answer prismd gives to these frames is, word for word and with its code or
    result, a row of docs/protocol.md; every hostname and timestamp reason is listed."""
    auth = ("auth:\n  required: true\n  tokens:\n    - {name: a, token: tok-one}\n"
            "    - {name: b, token: tok-two}\n")
    server = "  idle_timeout: 2\n  frame_timeout: 1\n"
    d = prismd_factory(pdns, start=False, auth_yaml=auth)
    text = open(d.config).read().replace('host: "127.0.0.1"\n',
                                         'host: "127.0.0.1"\n' + server)
    open(d.config, "w").write(text)
    d.start()

    def reg(name="doc1", token="tok-one", **kw):
        return frame(registration(name, token, **kw))

    answers = [exchange(d, data) for data in (
        struct.pack(">I", 65537), frame(b""), frame(b"\xff{}"), frame(b"not json"),
        frame(b"[1]"), frame({k: v for k, v in registration("x").items() if k != "hostname"}),
        reg(5), reg(auth_token=5), reg(version="2.0"), reg(type="ping"),
        reg("ns1"), reg(token=None), reg(token="nope"), reg(), reg(),
        reg(token="tok-two"), reg(".".join(["a" * 63] * 3) + "." + "b" * 61))]
    answers.append(exchange(d, reg(), source="127.0.0.2"))
    bad_times = ["yesterday", "0000-01-01T00:00", "2025-13-01T00:00", "2025-02-30T00:00",
                 "2025-01-01", "2025-01-01X00:00", "2025-01-01T0:00", "2025-01-01T00:00:5",
                 "2025-01-01T24:00", "2025-01-01T00:60", "2025-01-01T00:00:61",
                 "2025-01-01T00:00.x", "2025-01-01T00:00+5", "2025-01-01T00:00+24:00",
                 "2025-01-01T00:00Zz"]
    bad_names = ["", "a" * 254, ".a", "a..b", "a b", "a_b", "a'b", "\u00e9", "-a", "a" * 64]
    reasons = {"timestamp": [], "hostname": []}
    for field, values in (("timestamp", bad_times), ("hostname", bad_names)):
        for v in values:
            r = exchange(d, reg(v) if field == "hostname" else reg(timestamp=v))
            answers.append(r)
            prefix = f"Invalid message: Invalid {field}: "
            assert r["message"].startswith(prefix), (v, r)
            reasons[field].append(r["message"][len(prefix):])
    with d.connect() as s:  # silent
        answers.append(recv_frame(s))
    with d.connect() as s:  # a frame begun and never finished
        s.sendall(b"\0\0")
        answers.append(recv_frame(s))

    doc = open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8").read()
    rows = documented_answers(doc)
    assert len(rows) > 30, "protocol.md's answer tables were not found"
    undocumented = []
    for r in answers:
        assert list(r)[:5] == ["version", "type", "status", "message", "timestamp"], r
        extras = [k for k in ("result", "hostname", "ip", "fqdn", "code") if k in r]
        assert list(r)[5:] == extras, r
        tag = r.get("result") if r["status"] == "success" else r.get("code")
        if not any(p.match(r["message"]) and tag == t for p, t in rows):
            undocumented.append((r["message"], tag))
    assert not undocumented, f"answers protocol.md does not list: {undocumented}"
    for field, got in reasons.items():
        listed = documented_reasons(doc, field)
        missing = [g for g in got if not any(p.match(g) for p in listed)]
        assert not missing, f"{field} reasons protocol.md does not list: {missing}"
    # the exchanges above reached every kind of answer they were meant to
    tags = {r.get("result") or r.get("code") for r in answers}
    assert {"new", "heartbeat", "ip_changed", "protocol_error", "invalid_message",
            "hostname_reserved", "auth_required", "invalid_token", "hostname_owned",
            "store_error", "idle_timeout", "frame_timeout"} <= tags, tags
