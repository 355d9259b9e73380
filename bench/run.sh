#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every benchmark against the normal build. Benchmarks print figures and ratios; they
# never assert timings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
/usr/bin/python3 bench/latency.py "${1:-100}"
