#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages, end to end, so that packaging cannot rot:
#  1. build them from the working tree with dpkg-buildpackage -us -uc -b (in a copy, since
#     dpkg-buildpackage writes next to the source tree);
#  2. lintian: no error, no warning (justified ones are overridden in debian/);
#  3. install them on this machine, run prismd --version and --check-config from them (as
#     the prism user), start the installed prismd as the unit would, for a moment, on free
#     loopback ports, and rotate its log file with the packaged logrotate configuration;
#     reinstall over it (a local edit of server.yaml is kept);
#  4. purge them and check that nothing is left: files, the user, the stat override.
# Needs root (or sudo) for 3 and 4. prismd is never left running: on a machine running
# systemd a policy-rc.d keeps the postinst from starting the unit.
#   scripts/deb.sh [OUT_DIR]    (keeps the packages and build.log; default: none kept)
# DEB_BUILD_OPTIONS defaults to "nocheck parallel=2" (check.sh has run the unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
	echo "deb: $*" >&2
	exit 1
}

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || fail "installing the packages needs root or sudo"
	SUDO=sudo
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
meson_version=$(sed -n "s/^\tversion: '\(.*\)',$/\1/p" meson.build)
[ "$upstream" = "$meson_version" ] ||
	fail "debian/changelog says $version, meson.build says $meson_version"

work=$(mktemp -d)
out=${1:-$work}
mkdir -p "$out"
marker=/var/lib/prism-deb-check
policy_added=""
cleanup() {
	if [ -n "$policy_added" ]; then
		$SUDO rm -f /usr/sbin/policy-rc.d
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# 1. build, in a copy of the tree (tracked and new files, not the build directories)
src=$work/prism-$upstream
mkdir -p "$src"
if [ -d .git ] || [ -f .git ]; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
	tar --exclude='./build*' --exclude='./obj-*' --exclude='./run' -cf - . | tar -xf - -C "$src"
fi
echo "deb: building $version (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2})"
if ! (cd "$src" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} \
	dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1); then
	tail -40 "$work/build.log" >&2
	fail "dpkg-buildpackage failed"
fi
if [ "$out" != "$work" ]; then
	cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$work/build.log" "$out"/
fi
debs=("$work/prismd_${version}_"*.deb "$work/prism-agent_${version}_"*.deb
	"$work/prism_${version}_all.deb")
for d in "${debs[@]}"; do
	[ -f "$d" ] || fail "not built: $d"
done

# 2. lintian
echo "deb: lintian"
changes=$(ls "$work"/prism_"${version}"_*.changes)
rc=0
lintian --fail-on error,warning --info --display-info "$changes" > "$work/lintian.log" 2>&1 ||
	rc=$?
grep -v 'running with root privileges' "$work/lintian.log" || true
[ "$rc" = 0 ] || fail "lintian: errors or warnings"

# 3. install. Never over an installation (or a prism user) that is not ours: purging
# would remove it.
installed() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qv '^not-installed$'
}
if installed prismd || installed prism-agent || installed prism; then
	[ -f "$marker" ] || fail "prism packages are installed here already; not touching them"
	echo "deb: purging what an interrupted run left"
	$SUDO dpkg --purge prism prismd prism-agent > /dev/null
elif getent passwd prism > /dev/null && [ ! -f "$marker" ]; then
	fail "a user prism exists that the package did not create; not touching it"
fi
if [ -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
	$SUDO chmod 0755 /usr/sbin/policy-rc.d
	policy_added=1
fi
# dpkg ARGS..., its output shown only when it fails
dpkg_do() {
	$SUDO dpkg "$@" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg $1 failed"; }
}
$SUDO touch "$marker"
echo "deb: installing ${debs[*]##*/}"
dpkg_do -i "${debs[@]}"

as_prism() {
	$SUDO setpriv --reuid=prism --regid=prism --init-groups "$@"
}
# the installed prismd's processes (not the builds other tests run)
installed_prismd_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$($SUDO readlink "$p/exe" 2>/dev/null)" = /usr/sbin/prismd ] && echo "${p#/proc/}"
	done
	return 0
}

[ -z "$(installed_prismd_pids)" ] || fail "the postinst started prismd"
# enabled (started at boot on a systemd machine); the agent waits for its configuration
wants=/etc/systemd/system/multi-user.target.wants
[ -L $wants/prismd.service ] || fail "prismd.service is not enabled"
[ ! -e $wants/prism-agent.service ] || fail "prism-agent.service is enabled before it is configured"
got=$(/usr/sbin/prismd --version)
[ "$got" = "prismd $upstream" ] || fail "prismd --version says '$got', expected 'prismd $upstream'"
echo "deb: $got"
as_prism /usr/sbin/prismd --check-config -c /etc/prism/server.yaml ||
	fail "the packaged server.yaml does not pass --check-config as user prism"
got=$(/usr/bin/prism --version)
[ "$got" = "prism $upstream" ] || fail "prism --version says '$got'"
# the packaged agent.yaml is valid: the agent gets as far as connecting (exit 5,
# unreachable), not to a configuration error (exit 2)
rc=0
/usr/bin/prism agent -c /etc/prism/agent.yaml --once --server 127.0.0.1:1 -w 2 \
	> /dev/null 2>&1 || rc=$?
[ "$rc" = 5 ] || fail "prism agent with the packaged agent.yaml exited $rc, expected 5"

check_stat() {
	local got
	got=$($SUDO stat -c '%U:%G %a' "$1") || fail "$1 is missing"
	[ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
getent passwd prism > /dev/null || fail "no user prism"
check_stat /var/lib/prism "prism:prism 750"
check_stat /var/log/prism "prism:prism 750"
check_stat /etc/prism/server.yaml "root:prism 640"
check_stat /etc/prism/agent.yaml "root:root 644"
for f in /lib/systemd/system/prismd.service /lib/systemd/system/prism-agent.service \
	/usr/share/bash-completion/completions/prism; do
	[ -f "$f" ] || fail "$f is missing"
done
for page in man8/prismd.8 man5/prism-server.yaml.5 man1/prism.1 man8/prism-agent.8; do
	dpkg -S "/usr/share/man/$page.gz" > /dev/null 2>&1 || fail "no man page $page"
	# installed unless dpkg's path-exclude drops /usr/share/man (slim images)
	if [ -f "/usr/share/man/$page.gz" ] && command -v man > /dev/null; then
		warn=$(MANWIDTH=80 man --warnings -E UTF-8 -l "/usr/share/man/$page.gz" 2>&1 \
			> /dev/null) || fail "man $page does not render"
		[ -z "$warn" ] || fail "man $page: $warn"
	fi
done
bash -c 'source /usr/share/bash-completion/completions/prism && complete -p prism' \
	> /dev/null || fail "the bash completion does not load"

# The installed prismd as prismd.service runs it (user prism, the packaged server.yaml),
# on free loopback ports: the registry and the log file land in their directories.
read -r tcp api < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
$SUDO setpriv --reuid=prism --regid=prism --init-groups env PRISM_SERVER_TCP_PORT="$tcp" \
	PRISM_SERVER_API_PORT="$api" PRISM_LOGGING_FILE=/var/log/prism/prismd.log \
	/usr/sbin/prismd -c /etc/prism/server.yaml > "$work/prismd.out" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 100); do
	if curl -sf "http://127.0.0.1:$api/api/health" > /dev/null 2>&1; then
		ok=1
		break
	fi
	kill -0 "$pid" 2> /dev/null || break
	sleep 0.1
done
$SUDO kill -TERM "$pid" 2> /dev/null || true
for _ in $(seq 1 100); do
	kill -0 "$pid" 2> /dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2> /dev/null; then
	$SUDO kill -KILL "$pid" 2> /dev/null || true
	fail "the installed prismd did not stop on SIGTERM"
fi
wait "$pid" || fail "the installed prismd exited with status $? ($(cat "$work/prismd.out"))"
[ -n "$ok" ] || fail "the installed prismd did not answer /api/health: $(cat "$work/prismd.out")"
[ "$($SUDO stat -c %U /var/lib/prism/prism.db)" = prism ] || fail "no registry made by prism"
$SUDO test -s /var/log/prism/prismd.log || fail "prismd wrote no /var/log/prism/prismd.log"
if command -v logrotate > /dev/null; then
	$SUDO logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/prismd ||
		fail "logrotate /etc/logrotate.d/prismd failed"
	$SUDO test -s /var/log/prism/prismd.log.1 || fail "logrotate did not rotate prismd.log"
	check_stat /var/log/prism/prismd.log "prism:prism 640"
fi

# an upgrade (here: the same version again) keeps a local edit of the conffile
echo "# local edit $$" | $SUDO tee -a /etc/prism/server.yaml > /dev/null
dpkg_do -i "${debs[@]}"
$SUDO grep -q "^# local edit $$\$" /etc/prism/server.yaml || fail "the reinstall lost a local edit"
check_stat /etc/prism/server.yaml "root:prism 640"
[ -z "$(installed_prismd_pids)" ] || fail "the reinstall started prismd"

# 4. purge: nothing left
echo "deb: purging"
dpkg_do --purge prism prismd prism-agent
for f in /usr/sbin/prismd /usr/bin/prism /etc/prism /var/lib/prism /var/log/prism \
	/lib/systemd/system/prismd.service /usr/share/bash-completion/completions/prism \
	/etc/logrotate.d/prismd $wants/prismd.service; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is left after purge"
done
! getent passwd prism > /dev/null || fail "the user prism is left after purge"
! getent group prism > /dev/null || fail "the group prism is left after purge"
[ -z "$($SUDO dpkg-statoverride --list /etc/prism/server.yaml)" ] ||
	fail "a stat override is left after purge"
$SUDO rm -f "$marker"
echo "deb: built, lintian-clean, installed, ran, reinstalled and purged $version"
