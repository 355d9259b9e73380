#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Make one man page from a frame (docs/man/NAME.SECTION.md: NAME, SYNOPSIS, ...) and the
pages of docs/ it pulls in: the line "<!-- DOCS -->" in the frame is replaced by them, in
order. With --prismd, the option tables between docs/configuration.md's GENERATED markers
are replaced by the output of `prismd --config-reference`, so the man page documents the
binary it is built with. Output is reproducible: no date, the version from meson.

  mkman.py --pandoc P --version V [--prismd PRISMD] -o OUT FRAME [DOC...]
"""
import argparse
import os
import re
import subprocess
import sys

BEGIN = "<!-- BEGIN GENERATED"
END = "<!-- END GENERATED -->"


def splice_reference(text, prismd):
    if prismd is None or BEGIN not in text:
        return text
    begin = text.index("\n", text.index(BEGIN)) + 1
    end = text.index(END)
    ref = subprocess.run([prismd, "--config-reference"], check=True, capture_output=True,
                         text=True).stdout
    return text[:begin] + ref + text[end:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pandoc", default="pandoc")
    ap.add_argument("--version", required=True)
    ap.add_argument("--prismd")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("frame")
    ap.add_argument("docs", nargs="*")
    a = ap.parse_args()

    name, section = os.path.basename(a.frame)[:-len(".md")].rsplit(".", 1)
    frame = open(a.frame, encoding="utf-8").read()
    docs = "\n\n".join(splice_reference(open(d, encoding="utf-8").read(), a.prismd)
                       for d in a.docs)
    if "<!-- DOCS -->" not in frame:
        sys.exit(f"{a.frame}: no <!-- DOCS --> line")
    text = frame.replace("<!-- DOCS -->", docs)
    # GitHub renders a bare "@" fine, roff too; but pandoc's markdown would read citations
    # and "$" maths: read the docs as GitHub does.
    filt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "man.lua")
    cmd = [a.pandoc, "-f", "gfm+definition_lists", "-t", "man", "-s", "--lua-filter", filt,
           "-M", f"title={name.upper()}", "-M", f"section={section}",
           "-M", f"footer=prism {a.version}", "-M", "header=Prism Manual",
           "-o", a.output]
    subprocess.run(cmd, input=text, text=True, check=True)


if __name__ == "__main__":
    main()
