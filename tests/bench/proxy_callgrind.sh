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
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$root/build}"
N="${N:-1000}"
WARM="${WARM:-200}"
AGENT_ARGS="${AGENT_ARGS:-}"
KEEP_TMP="${KEEP_TMP:-0}"
log() { echo "[proxy-callgrind] $*" >&2; }
die() { echo "[proxy-callgrind] error: $*" >&2; exit 1; }

for t in valgrind callgrind_control curl; do
  command -v "$t" >/dev/null || {
    log "installing valgrind curl"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind curl >/dev/null
    break
  }
done
[[ -x "$BUILD/valmesh" && -x "$BUILD/examples/valmesh-echo" ]] ||
  die "build valmesh and valmesh-echo in $BUILD first"

tmp="$(mktemp -d)"
echo_pid="" agent_pid=""
cleanup() {
  [[ -n "$agent_pid" ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [[ -n "$echo_pid" ]] && kill "$echo_pid" 2>/dev/null && wait "$echo_pid" 2>/dev/null
  if ((KEEP_TMP)); then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# wait_line FILE REGEX SECONDS: waits until FILE has a line matching REGEX.
wait_line() {
  local deadline=$((SECONDS + $3))
  until grep -Eq "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || die "no line /$2/ in $1 after $3 s: $(tail -5 "$1")"
    sleep 0.1
  done
}

"$BUILD/examples/valmesh-echo" --port 0 --name cg-0 >"$tmp/echo.log" 2>&1 &
echo_pid=$!
wait_line "$tmp/echo.log" 'listening on [^ ]+:[0-9]+' 10
echo_port="$(grep -Eo 'listening on [^ ]+:[0-9]+' "$tmp/echo.log" | grep -Eo '[0-9]+$')"
cat >"$tmp/cfg.json" <<JSON
{"services": [{"name": "cg", "id": "cg-0", "host": "127.0.0.1", "port": $echo_port}]}
JSON

# shellcheck disable=SC2086 # AGENT_ARGS is a list of flags
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
  "$BUILD/valmesh" agent --dev --http 127.0.0.1:0 --cluster 127.0.0.1:0 \
  --config "$tmp/cfg.json" --health-interval 1h $AGENT_ARGS \
  >"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_line "$tmp/agent.log" 'valmesh agent started: .* http=127\.0\.0\.1:[0-9]+' 120
port="$(grep -Eo 'http=127\.0\.0\.1:[0-9]+' "$tmp/agent.log" | head -1 | grep -Eo '[0-9]+$')"
url="http://127.0.0.1:$port/proxy/cg/items/42?q=1"

deadline=$((SECONDS + 60))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 200 ]]; do
  ((SECONDS < deadline)) || die "the proxy never answered 200"
  sleep 0.2
done

# requests K: K keep-alive GETs on one connection (one curl); fails unless
# every one answered 200.
requests() {
  local k=$1 i
  : >"$tmp/curl.cfg"
  for ((i = 0; i < k; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$tmp/curl.cfg"
  done
  local codes
  codes="$(curl -s -K "$tmp/curl.cfg" -w '%{http_code}\n' | sort | uniq -c)"
  [[ "$codes" =~ ^\ *$k\ 200$ ]] || die "not $k answers 200: $codes"
}

requests "$WARM"
callgrind_control -z "$agent_pid" >/dev/null 2>&1
requests "$N"
callgrind_control -d "$agent_pid" >/dev/null 2>&1
dump="$(ls -t "$tmp"/cg.out.* | head -1)"
ir="$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")"
[[ -n "$ir" ]] || die "no totals in $dump"
log "agent args: ${AGENT_ARGS:-(none)}"
echo "Ir over $N proxied requests: $ir"
echo "Ir per request: $((ir / N))"
