#!/usr/bin/env bash
# Instructions per proxied request: valmesh's /proxy path under
# `valgrind --tool=callgrind`, which counts the agent's instructions exactly
# (the same figure on a busy machine as on an idle one, so this script takes
# no benchmark lock and measures no time).
#
# Runs on demand only, never in the timed suite:
#
#   tests/bench/proxy_callgrind.sh                    # tracing on (default)
#   AGENT_ARGS=--no-tracing tests/bench/proxy_callgrind.sh
#   N=2000 WARM=500 BUILD=build tests/bench/proxy_callgrind.sh
#   KEEP_TMP=1 tests/bench/proxy_callgrind.sh         # keep callgrind.out
#
# It starts one `valmesh-echo` and `valmesh agent --dev --config CFG
# --health-interval 1h $AGENT_ARGS` under callgrind (CFG registers the echo
# as service `cg`), sends WARM [200] keep-alive GETs to /proxy/cg/items/42
# with one curl on one connection, zeroes callgrind's counters
# (callgrind_control -z), sends N [1000] more the same way, dumps
# (callgrind_control -d) and prints the agent's instructions (Ir) per
# request. Health checks run once an hour, so the figure holds the proxy
# path and what the idle node does meanwhile (timers, metrics rings).
# `callgrind_annotate $tmp/cg.out.*` (KEEP_TMP=1) shows where they went.
#
# The peer: then HAProxy (tests/bench/haproxy.cfg.in, as in the other
# benchmarks: `nbthread 1`, `http-reuse always`) is put in front
# of the same echo and measured the same way, and the script prints its
# instructions per request and valmesh's over HAProxy's. PEER=none skips it.
#
#   PEER=none tests/bench/proxy_callgrind.sh
set -euo pipefail

name=proxy-callgrind SVC=cg
# shellcheck source-path=SCRIPTDIR source=one_connection.sh
source "$(dirname "$0")/one_connection.sh"

for t in valgrind callgrind_control curl; do
  command -v "$t" >/dev/null || {
    log "installing valgrind curl"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind curl >/dev/null
    break
  }
done
[[ -x "$BUILD/valmesh" && -x "$BUILD/examples/valmesh-echo" ]] ||
  die "build valmesh and valmesh-echo in $BUILD first"

PEER="${PEER:-haproxy}"
[[ "$PEER" == haproxy || "$PEER" == none ]] || die "PEER must be haproxy or none"
if [[ "$PEER" == haproxy ]] && ! command -v haproxy >/dev/null; then
  log "installing haproxy"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi

# measure_ir FILE_PREFIX PID: WARM requests, zero, N requests, dump; prints
# the Ir of the dump.
measure_ir() {
  requests "$WARM"
  callgrind_control -z "$2" >/dev/null 2>&1
  requests "$N"
  callgrind_control -d "$2" >/dev/null 2>&1
  local dump ir
  dump="$(ls -t "$1".* | head -1)"
  ir="$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")"
  [[ -n "$ir" ]] || die "no totals in $dump"
  echo "$ir"
}

start_agent 120 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
  "$BUILD/valmesh"

ir="$(measure_ir "$tmp/cg.out" "$agent_pid")"
log "agent args: ${AGENT_ARGS:-(none)}"
echo "Ir over $N proxied requests: $ir"
echo "Ir per request: $((ir / N))"
[[ "$PEER" == haproxy ]] || exit 0

# -- the same requests through HAProxy, in front of the same echo -----------
kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
agent_pid=""
echo_port="$(grep -Eo 'listening on [^ ]+:[0-9]+' "$tmp/echo.log" | grep -Eo '[0-9]+$')"
ha_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -e "s/@PORT@/$ha_port/" -e "s/@UPSTREAM_PORT@/$echo_port/" \
  "$root/tests/bench/haproxy.cfg.in" >"$tmp/haproxy.cfg"
valgrind --tool=callgrind --callgrind-out-file="$tmp/ha.out" \
  haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
ha_pid=$!
extra_pids+=("$ha_pid")
url="http://127.0.0.1:$ha_port/proxy/$SVC/items/42?q=1"
deadline=$((SECONDS + 120))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 200 ]]; do
  ((SECONDS < deadline)) || die "HAProxy never answered 200: $(tail -3 "$tmp/haproxy.log")"
  kill -0 "$ha_pid" 2>/dev/null || die "HAProxy exited: $(tail -3 "$tmp/haproxy.log")"
  sleep 0.2
done
ha_ir="$(measure_ir "$tmp/ha.out" "$ha_pid")"
echo "HAProxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}') Ir per request: $((ha_ir / N))"
awk -v v="$ir" -v h="$ha_ir" 'BEGIN {printf "valmesh / HAProxy instructions per request: %.2f\n", v / h}'
