# SPDX-License-Identifier: MIT
"""The repository stands alone: no file points at documents outside it, README.md lists
every document, and the documents' relative links lead to files that exist."""
import os
import re
import subprocess

from prismlib import ROOT

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
