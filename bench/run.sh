#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every benchmark against the normal build. Benchmarks print figures and ratios; they
# never assert timings. About 15 minutes on 2 cores (1,000,000-host runs included).
#   bench/run.sh [LATENCY_HOSTS [agent_bench.py options...]]
#   e.g. bench/run.sh 100 --quick
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if ! command -v wrk >/dev/null; then
	# the API benchmark's load generator (Debian's wrk)
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q wrk
fi
bash scripts/build.sh build
/usr/bin/python3 bench/latency.py "${1:-100}"
shift || true
/usr/bin/python3 bench/agent_bench.py "$@"
/usr/bin/python3 bench/floor_bench.py --duration 5
/usr/bin/python3 bench/sync_bench.py 100000 1000 10
/usr/bin/python3 bench/api_bench.py 1000000 8
/usr/bin/python3 bench/registry_size.py 1000000
/usr/bin/python3 bench/zones_bench.py 1000 100 300
/usr/bin/python3 bench/abuse_bench.py
/usr/bin/python3 bench/ncr_bench.py 100000 20000 40000 max
/usr/bin/python3 bench/ncr_floor_bench.py 30000 1
/usr/bin/python3 bench/kea_bench.py 100000 200
/usr/bin/python3 bench/rfc2136_bench.py 100000
