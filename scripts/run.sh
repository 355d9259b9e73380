#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prism's main job, end to end, on this machine:
#   installs what is missing, builds, starts a private PowerDNS and prismd (state in run/),
#   registers this machine with `prism register`, shows it resolving with dig, then follows
#   prismd's log until Ctrl-C and stops everything it started.
# Options: --once   stop after showing the host resolving (used by the test suite)
# Environment: PRISM_RUN_DIR (default ./run), PRISM_RUN_HOSTNAME (default: this machine's name)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
once=0
[ "${1:-}" = "--once" ] && once=1

bash scripts/deps.sh
echo "==> building"
bash scripts/build.sh build

. scripts/pdns.sh
RUN=${PRISM_RUN_DIR:-$root/run}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
KEY_FILE=$RUN/pdns-api-key
[ -s "$KEY_FILE" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$KEY_FILE"
KEY=$(cat "$KEY_FILE")
TOKEN_FILE=$RUN/agent-token
[ -s "$TOKEN_FILE" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TOKEN_FILE"
chmod 600 "$KEY_FILE" "$TOKEN_FILE"

# Stop what an earlier run left behind (only processes it recorded itself).
pdns_stop "$RUN/pdns"
if [ -f "$RUN/prismd.pid" ]; then
	old=$(cat "$RUN/prismd.pid")
	if grep -q prismd "/proc/$old/cmdline" 2>/dev/null; then kill "$old" 2>/dev/null || true; fi
	rm -f "$RUN/prismd.pid"
fi

# A free loopback TCP (and UDP, for DNS) port at or above $1.
free_port() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
p = int(sys.argv[1])
for port in range(p, p + 200):
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", port))
            s.close()
        print(port)
        break
    except OSError:
        continue
PY
}
DNS_PORT=$(free_port 15353)
API_PORT=$(free_port 18081)
AGENT_PORT=$(free_port 18080)
[ "$AGENT_PORT" = "$API_PORT" ] && AGENT_PORT=$(free_port $((API_PORT + 1)))
PRISM_API_PORT=$(free_port $((AGENT_PORT + 10)))
ZONE=managed.prism.local.

PRISMD_PID=""
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "==> stopping prismd and PowerDNS"
	if [ -n "$PRISMD_PID" ]; then
		kill "$PRISMD_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$PRISMD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$PRISMD_PID" 2>/dev/null || true
		rm -f "$RUN/prismd.pid"
	fi
	pdns_stop "$RUN/pdns"
	[ -n "${TAIL_PID:-}" ] && kill "$TAIL_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting PowerDNS (DNS 127.0.0.1:$DNS_PORT, API 127.0.0.1:$API_PORT, state $RUN/pdns)"
pdns_start "$RUN/pdns" "$DNS_PORT" "$API_PORT" "$KEY"

cat > "$RUN/server.yaml" <<YAML
# written by scripts/run.sh
server:
  host: "127.0.0.1"
  tcp_port: $AGENT_PORT
  api_port: $PRISM_API_PORT
database:
  path: "$RUN/prism.db"
logging:
  level: info
auth:
  required: true
  tokens:
    - name: run-sh
      token_file: "$TOKEN_FILE"
powerdns:
  enabled: true
  api_url: "http://127.0.0.1:$API_PORT/api/v1"
  api_key_file: "$KEY_FILE"
  default_zone: "$ZONE"
  default_ttl: 60
YAML

echo "==> starting prismd (agents on 127.0.0.1:$AGENT_PORT, registry $RUN/prism.db)"
: > "$RUN/prismd.log"
build/src/daemon/prismd --config "$RUN/server.yaml" >> "$RUN/prismd.log" 2>&1 &
PRISMD_PID=$!
echo "$PRISMD_PID" > "$RUN/prismd.pid"
for i in $(seq 1 100); do
	if grep -q "ready:" "$RUN/prismd.log"; then break; fi
	if ! kill -0 "$PRISMD_PID" 2>/dev/null; then
		echo "prismd exited during start:" >&2; cat "$RUN/prismd.log" >&2; exit 1
	fi
	sleep 0.1
done

HOST=${PRISM_RUN_HOSTNAME:-$(hostname -s 2>/dev/null || hostname)}
HOST=$(echo "$HOST" | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9.-' | sed 's/^-*//; s/-*$//')
[ -n "$HOST" ] || HOST=prism-demo
echo "==> registering this machine as '$HOST'"
echo "    \$ prism register --server 127.0.0.1:$AGENT_PORT --hostname $HOST --token \"\$(cat $TOKEN_FILE)\""
PRISM_AUTH_TOKEN=$(cat "$TOKEN_FILE") build/src/cli/prism register \
	--server "127.0.0.1:$AGENT_PORT" --hostname "$HOST" | sed 's/^/    /'

FQDN="$HOST.${ZONE%.}"
echo "==> asking PowerDNS"
echo "    \$ dig @127.0.0.1 -p $DNS_PORT $FQDN A +short"
answer=""
for i in $(seq 1 100); do
	answer=$(dig @127.0.0.1 -p "$DNS_PORT" "$FQDN" A +short +time=1 +tries=1 2>/dev/null || true)
	[ -n "$answer" ] && break
	sleep 0.1
done
if [ -z "$answer" ]; then
	echo "    no answer: $FQDN does not resolve; prismd's log:" >&2
	tail -20 "$RUN/prismd.log" >&2
	exit 1
fi
echo "$answer" | sed 's/^/    /'
echo "==> $FQDN resolves through PowerDNS."
[ "$once" = 1 ] && exit 0

echo "==> following prismd's log (Ctrl-C stops prismd and PowerDNS)"
tail -n +1 -f "$RUN/prismd.log" &
TAIL_PID=$!
wait "$PRISMD_PID" || true
