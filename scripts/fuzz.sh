#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target for a bounded time, with ASan + UBSan, starting from its seed
# corpus. New inputs found go to a scratch corpus; crashes are saved as crash-* files in
# the build directory and make this script fail (copy them into tests/fuzz/corpus/<target>/
# once fixed, so that the corpus replay under `meson test` keeps them fixed).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Environment: PRISM_FUZZ_BUILD_DIR (default build-fuzz, relative to the repository),
# PRISM_FUZZ_JOBS (targets run at once, default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-60}
bdir=${PRISM_FUZZ_BUILD_DIR:-build-fuzz}
bash scripts/deps.sh
# the targets are the ones tests/fuzz/meson.build builds: one list, no drift
read -ra targets <<< "$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/fuzz/meson.build |
	tr -d "' " | tr ',' ' ')"
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz_targets list found in tests/fuzz/meson.build" >&2
	exit 1
fi
for t in "${targets[@]}"; do
	if [ -z "$(ls -A "tests/fuzz/corpus/$t" 2>/dev/null)" ]; then
		echo "fuzz: target $t has no seed corpus in tests/fuzz/corpus/$t" >&2
		exit 1
	fi
done
if [ ! -f "$bdir/build.ninja" ]; then
	CC=clang meson setup "$bdir" -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dunit_tests=disabled > /dev/null
fi
# only the fuzz targets: the daemon is built and tested by the other suites
if ! ninja -C "$bdir" "${targets[@]/#/tests/fuzz/fuzz_}" > "$bdir/.ninja-output" 2>&1; then
	cat "$bdir/.ninja-output" >&2
	echo "fuzz: building the fuzz targets failed" >&2
	exit 1
fi
# one target: its stats, or its log's tail on failure (printed in one piece: lanes run at once)
fuzz_one() {
	local t=$1 out
	mkdir -p "$bdir/corpus-$t"
	if (cd "$bdir" && ./tests/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "corpus-$t" "$root/tests/fuzz/corpus/$t" \
		> "fuzz-$t.log" 2>&1); then
		out=$(grep -E "stat::number_of_executed_units|stat::new_units_added" \
			"$bdir/fuzz-$t.log" | sed "s/^/    /")
		printf '==> fuzz_%s for %ss\n%s\n' "$t" "$secs" "$out"
	else
		out=$(tail -30 "$bdir/fuzz-$t.log")
		printf '==> fuzz_%s for %ss\nfuzz_%s: FAILED, see %s\n%s\n' "$t" "$secs" "$t" \
			"$bdir/fuzz-$t.log" "$out" >&2
		return 1
	fi
}
# Each target runs single-threaded for its full time; PRISM_FUZZ_JOBS (default: the number of
# cores) of them at once, so every target still gets SECONDS of one core.
lanes=${PRISM_FUZZ_JOBS:-$(nproc)}
status=0
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$lanes" ]; then
		wait -n || status=1
		running=$((running - 1))
	fi
	fuzz_one "$t" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || status=1
	running=$((running - 1))
done
exit $status
