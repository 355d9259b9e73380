#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages Prism needs to build, run and test.
# Idempotent: installs only what is missing; runs `apt-get update` at most once.
set -euo pipefail

PKGS=(
	build-essential pkg-config meson ninja-build clang libclang-rt-14-dev clang-format
	libuv1-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libsqlite3-dev
	libcmocka-dev libssl-dev openssl libmicrohttpd-dev libldns-dev libpq-dev
	pdns-server pdns-backend-sqlite3 sqlite3
	postgresql postgresql-client kea-dhcp4-server kea-admin kea-common udhcpc
	python3 python3-pytest python3-pytest-xdist python3-dnspython python3-requests
	bind9 bind9-utils bind9-dnsutils knot knot-dnsutils
	curl procps iproute2 util-linux valgrind
	debhelper dpkg-dev lintian pandoc man-db bash-completion adduser logrotate
	chromium chromium-driver python3-selenium python3-yaml prometheus wrk
)

missing=()
for p in "${PKGS[@]}"; do
	# dpkg-query prints "install ok installed" only for a fully installed package
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# On a systemd host the packages' postinst may have started pdns on :53, PostgreSQL's main
# cluster, Kea and Prometheus; Prism's tests start their own on other ports (Prometheus
# only lends its promtool), and never need these.
if [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now pdns postgresql kea-dhcp4-server kea-dhcp-ddns-server \
		prometheus 2>/dev/null || true
fi
