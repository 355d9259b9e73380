#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Start and stop a private PowerDNS Authoritative server (gsqlite3 backend) on loopback.
# Source this file, then:  pdns_start DIR DNS_PORT API_PORT KEY   /   pdns_stop DIR
# State (database, config, log, pid) lives in DIR, so a second start reuses it.

pdns_start() {
	local d=$1 dport=$2 aport=$3 key=$4 run="" i
	mkdir -p "$d"
	chmod 755 "$d"   # the pdns user must be able to enter it
	if [ ! -s "$d/pdns.sqlite3" ]; then
		sqlite3 "$d/pdns.sqlite3" < /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ||
			return 1
	fi
	cat > "$d/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$d/pdns.sqlite3
gsqlite3-pragma-synchronous=0
local-address=127.0.0.1
local-port=$dport
daemon=no
guardian=no
write-pid=no
socket-dir=$d
disable-syslog=yes
security-poll-suffix=
default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 3600
default-api-rectify=no
webserver=yes
api=yes
api-key=$key
webserver-address=127.0.0.1
webserver-port=$aport
webserver-allow-from=127.0.0.0/8,::1
webserver-max-bodysize=64
loglevel=4
CONF
	if [ "$(id -u)" = 0 ] && id pdns >/dev/null 2>&1; then
		chown -R pdns:pdns "$d"
		run="setpriv --reuid=pdns --regid=pdns --clear-groups"
		# a checkout under a private home (/root is 0700) is out of the pdns user's reach:
		# then PowerDNS runs as root, on loopback high ports only
		if ! $run test -r "$d/pdns.conf"; then
			run=""
		fi
	fi
	$run pdns_server --config-dir="$d" >>"$d/log" 2>&1 &
	echo $! > "$d/pid"
	for i in $(seq 1 100); do
		if curl -sf -o /dev/null -H "X-API-Key: $key" \
			"http://127.0.0.1:$aport/api/v1/servers/localhost"; then
			return 0
		fi
		if ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
			echo "pdns: exited during start; its log:" >&2
			tail -20 "$d/log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "pdns: API did not answer on 127.0.0.1:$aport within 10 s" >&2
	return 1
}

pdns_stop() {
	local d=$1 p i
	p=$(cat "$d/pid" 2>/dev/null) || return 0
	rm -f "$d/pid"
	# only signal the process we started: a stale pid may belong to someone else by now
	grep -q pdns_server "/proc/$p/cmdline" 2>/dev/null || return 0
	kill "$p" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
