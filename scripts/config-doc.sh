#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerate the option tables in docs/configuration.md from prismd's option table.
#   scripts/config-doc.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
prismd=${1:-build}/src/daemon/prismd
/usr/bin/python3 - "$prismd" <<'PY'
import subprocess, sys
doc = "docs/configuration.md"
s = open(doc).read()
begin = s.index("\n", s.index("<!-- BEGIN GENERATED")) + 1
end = s.index("<!-- END GENERATED -->")
gen = subprocess.run([sys.argv[1], "--config-reference"], check=True, capture_output=True,
                     text=True).stdout
open(doc, "w").write(s[:begin] + gen + s[end:])
PY
