#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every benchmark against the normal build. Benchmarks print figures and ratios; they
# never assert timings.
#   bench/run.sh [LATENCY_HOSTS [agent_bench.py options...]]
#   e.g. bench/run.sh 100 --quick
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
/usr/bin/python3 bench/latency.py "${1:-100}"
shift || true
/usr/bin/python3 bench/agent_bench.py "$@"
