#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target for a bounded time, with ASan + UBSan, starting from its seed
# corpus. New inputs found go to a scratch corpus; crashes are saved as crash-* files in
# build-fuzz/ and make this script fail (copy them into tests/fuzz/corpus/<target>/ once fixed).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
bash scripts/deps.sh
targets=(agent config pdns_json agent_config ncr kea)
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dunit_tests=disabled > /dev/null
fi
# only the fuzz targets: the daemon is built and tested by the other suites
if ! ninja -C build-fuzz "${targets[@]/#/tests/fuzz/fuzz_}" > build-fuzz/.ninja-output 2>&1; then
	cat build-fuzz/.ninja-output >&2
	echo "fuzz: building the fuzz targets failed" >&2
	exit 1
fi
status=0
for t in "${targets[@]}"; do
	scratch=build-fuzz/corpus-$t
	mkdir -p "$scratch"
	echo "==> fuzz_$t for ${secs}s"
	if ! (cd build-fuzz && ./tests/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "corpus-$t" "../tests/fuzz/corpus/$t" \
		> "fuzz-$t.log" 2>&1); then
		echo "fuzz_$t: FAILED, see build-fuzz/fuzz-$t.log" >&2
		tail -30 "build-fuzz/fuzz-$t.log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_units|stat::new_units_added" "build-fuzz/fuzz-$t.log" |
			sed "s/^/    /"
	fi
done
exit $status
