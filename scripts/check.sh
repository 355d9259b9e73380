#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build and run every test: unit (cmocka), fuzz corpus replay, integration (pytest against
# real PowerDNS, with the reliability drills: docs/reliability.md), the unit tests and corpus
# replays under valgrind, then all of it again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then each libFuzzer target for a short time, then the
# packagers' builds (clang release, gcc plain with dpkg-buildflags; compile only), then the
# Debian packages are built, installed and purged (scripts/deb.sh); the Prometheus alert
# rules with promtool. Integration tests run in two passes: in parallel on
# PRISM_TEST_WORKERS pytest-xdist workers (default twice the cores), then the ones marked
# serial alone (docs/development.md).
# Installs missing Debian packages first. Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh || exit 1

passed=0
failed=0
failures=()

# Count meson test results from the build's test log (LOGBASE: meson's --logbase).
count_meson() {
	local log=$1/meson-logs/${2:-testlog}.json
	[ -f "$log" ] || return 0
	read -r p f < <(/usr/bin/python3 - "$log" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
        p += 1
    else:
        f += 1
print(p, f)
PY
)
	passed=$((passed + p))
	failed=$((failed + f))
}

# Count pytest results from its junit report.
count_junit() {
	local xml=$1
	[ -f "$xml" ] || { failed=$((failed + 1)); return 0; }
	read -r p f < <(/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
t, fl, er, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(t - fl - er, fl + er)
PY
)
	passed=$((passed + p))
	failed=$((failed + f))
}

run_suite() {
	local name=$1 dir=$2
	shift 2
	echo "==> [$name] building in $dir"
	if ! bash scripts/build.sh "$dir" "$@"; then
		failed=$((failed + 1)); failures+=("$name: build"); return
	fi
	echo "==> [$name] unit tests and fuzz corpus replay"
	rm -f "$dir/meson-logs/testlog.json"
	if ! meson test -C "$dir" --suite unit --suite fuzz --print-errorlogs; then
		failures+=("$name: unit/fuzz")
	fi
	count_meson "$dir"
	# Two passes (docs/development.md): every test not marked serial on $workers pytest-xdist
	# workers, then the serial ones (drills, floods, tight timing bounds) one at a time.
	rm -f "$dir/drill-report.txt"
	integration "$name" "$dir" parallel -n "$workers" --dist loadgroup -m "not serial"
	integration "$name" "$dir" serial -m serial
	print_drills "$name" "$dir/drill-report.txt"
}

# Workers for the parallel pass: the tests mostly wait on servers and sockets, so twice the
# cores (PRISM_TEST_WORKERS=0: no workers, every test in the pytest process).
workers=${PRISM_TEST_WORKERS:-$(($(nproc) * 2))}

# integration NAME DIR PASS PYTEST_ARGS...: one pytest run, counted from its junit report.
integration() {
	local name=$1 dir=$2 pass=$3 rc
	shift 3
	echo "==> [$name] integration tests, $pass pass (real PowerDNS)"
	local junit="$dir/pytest-junit-$pass.xml"
	rm -f "$junit"
	PRISM_BUILD_DIR="$root/$dir" /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE \
		--junitxml="$junit" "$@" tests/integration
	rc=$?
	# 5: no test selected (e.g. no serial test left): nothing failed
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
		failures+=("$name: integration ($pass)")
	fi
	count_junit "$junit"
}

# The figures the reliability drills measured (docs/reliability.md), one line per drill.
print_drills() {
	[ -f "$2" ] || return 0
	echo "==> [$1] reliability drills (PRISM_DRILL_LONG=1 for the long versions)"
	/usr/bin/python3 - "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    name = r.pop("drill")
    for k in ("at", "sanitizer", "long"):
        r.pop(k, None)
    print(f"    {name}: " + ", ".join(f"{k}={v}" for k, v in r.items()))
PY
}

# The C files' format, as .clang-format says (scripts/format.sh reformats them).
echo "==> [format] clang-format --dry-run over the C files (scripts/format.sh --check)"
if bash scripts/format.sh --check; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)); failures+=("format")
fi

# The monitoring kit: the alert rules checked and unit-tested by Prometheus's promtool
# (the dashboard and the rules' metrics are checked against a running prismd by
# tests/integration/test_monitoring.py).
echo "==> [monitoring] promtool check rules, promtool test rules (packaging/prometheus)"
if promtool check rules packaging/prometheus/prism-alerts.yml &&
	promtool test rules packaging/prometheus/prism-alerts.test.yml; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)); failures+=("monitoring: promtool")
fi

run_suite normal build

# Memory safety without the sanitizers' own runtime: unit tests and corpus replays under
# valgrind (memcheck), any error or leak (definite, indirect, possible) fails. With a
# wrapper, meson names its log after it: testlog-valgrind.json.
echo "==> [valgrind] unit tests and fuzz corpus replay under valgrind"
rm -f build/meson-logs/testlog-valgrind.json
if ! meson test -C build --suite unit --suite fuzz --print-errorlogs \
	--wrapper "valgrind --error-exitcode=1 --leak-check=full --track-origins=yes -q \
	--suppressions=$root/tests/fuzz/valgrind.supp \
	--errors-for-leak-kinds=definite,indirect,possible \
	--show-leak-kinds=definite,indirect,possible"; then
	failures+=("valgrind: unit/fuzz")
fi
count_meson build testlog-valgrind

# Sanitizer build: every test again, with reports made fatal.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PRISM_SANITIZER=1
run_suite sanitizer build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug

# Short libFuzzer runs (clang, sanitizers) from the seed corpora; longer: scripts/fuzz.sh N
echo "==> [fuzz] each libFuzzer target for ${PRISM_FUZZ_SECONDS:-20}s"
if bash scripts/fuzz.sh "${PRISM_FUZZ_SECONDS:-20}"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)); failures+=("fuzz")
fi

# The packagers' builds stay warning-free (errors here; debian/rules turns -Werror off only
# for distributions' newer compilers): clang with --buildtype=release (-O3, NDEBUG), gcc with
# --buildtype=plain and Debian's dpkg-buildflags (as debian/rules: hardening=+all). Compile only.
echo "==> [packager-builds] clang release; gcc plain with dpkg-buildflags (compile only)"
dbf() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
if CC=clang bash scripts/build.sh build-clang-release --buildtype=release &&
	CC=gcc CFLAGS="$(dbf CFLAGS)" CPPFLAGS="$(dbf CPPFLAGS)" LDFLAGS="$(dbf LDFLAGS)" \
		bash scripts/build.sh build-gcc-plain --buildtype=plain; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)); failures+=("packager-builds")
fi

# The Debian packages (scripts/deb.sh): built without their unit tests (they ran above),
# lintian, installed on this machine, run, reinstalled, purged. Last: nothing else runs
# while the packaged prismd is on the machine, and the purge leaves nothing behind.
echo "==> [deb] Debian packages: build, lintian, install, run, purge"
if DEB_BUILD_OPTIONS="nocheck parallel=2" bash scripts/deb.sh; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)); failures+=("deb")
fi

echo
echo "check took ${SECONDS} s"
if [ ${#failures[@]} -gt 0 ]; then
	echo "FAILED: ${failures[*]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
