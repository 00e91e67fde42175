#!/usr/bin/env bash
# System calls per proxied request: valmesh's /proxy path under
# `strace -f -c`, attached to a running agent, over a fixed number of
# keep-alive requests. The count is exact for what ran (the same on a busy
# machine as on an idle one), so this script takes no benchmark lock and
# measures no time; strace's own timings are left out.
#
# Runs on demand only, never in the timed suite:
#
#   tests/bench/proxy_syscalls.sh                     # tracing on (default)
#   AGENT_ARGS=--no-tracing tests/bench/proxy_syscalls.sh
#   N=2000 WARM=500 BUILD=build tests/bench/proxy_syscalls.sh
#   VALMESH=/path/to/other/valmesh tests/bench/proxy_syscalls.sh
#
# It starts one `valmesh-echo` and `valmesh agent --dev --config CFG
# --health-interval 1h $AGENT_ARGS` (CFG registers the echo as service
# `sc`), sends WARM [200] keep-alive GETs to /proxy/sc/items/42 with one
# curl on one connection, attaches `strace -f -c` to every thread of the
# agent, sends N [1000] more the same way, detaches, and prints each system
# call's count per request and the total. Health checks run once an hour,
# so the figure holds the proxy path (client side and upstream side) and
# what the idle node does meanwhile (timers, metrics rings, the cluster's
# probes of itself: none with no peers).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$root/build}"
VALMESH="${VALMESH:-$BUILD/valmesh}"
N="${N:-1000}"
WARM="${WARM:-200}"
AGENT_ARGS="${AGENT_ARGS:-}"
KEEP_TMP="${KEEP_TMP:-0}"
log() { echo "[proxy-syscalls] $*" >&2; }
die() { echo "[proxy-syscalls] error: $*" >&2; exit 1; }

for t in strace curl; do
  command -v "$t" >/dev/null || {
    log "installing strace curl"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace curl >/dev/null
    break
  }
done
[[ -x "$VALMESH" && -x "$BUILD/examples/valmesh-echo" ]] ||
  die "build valmesh and valmesh-echo in $BUILD first"

tmp="$(mktemp -d)"
echo_pid="" agent_pid="" strace_pid=""
cleanup() {
  [[ -n "$strace_pid" ]] && kill -INT "$strace_pid" 2>/dev/null && wait "$strace_pid" 2>/dev/null
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

"$BUILD/examples/valmesh-echo" --port 0 --name sc-0 >"$tmp/echo.log" 2>&1 &
echo_pid=$!
wait_line "$tmp/echo.log" 'listening on [^ ]+:[0-9]+' 10
echo_port="$(grep -Eo 'listening on [^ ]+:[0-9]+' "$tmp/echo.log" | grep -Eo '[0-9]+$')"
cat >"$tmp/cfg.json" <<JSON
{"services": [{"name": "sc", "id": "sc-0", "host": "127.0.0.1", "port": $echo_port}]}
JSON

# shellcheck disable=SC2086 # AGENT_ARGS is a list of flags
"$VALMESH" agent --dev --http 127.0.0.1:0 --cluster 127.0.0.1:0 \
  --config "$tmp/cfg.json" --health-interval 1h $AGENT_ARGS \
  >"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_line "$tmp/agent.log" 'valmesh agent started: .* http=127\.0\.0\.1:[0-9]+' 60
port="$(grep -Eo 'http=127\.0\.0\.1:[0-9]+' "$tmp/agent.log" | head -1 | grep -Eo '[0-9]+$')"
url="http://127.0.0.1:$port/proxy/sc/items/42?q=1"

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
strace -f -c -o "$tmp/strace.out" -p "$agent_pid" 2>"$tmp/strace.err" &
strace_pid=$!
# strace says when it has attached to every thread.
deadline=$((SECONDS + 10))
until grep -q "Process $agent_pid attached" "$tmp/strace.err" 2>/dev/null; do
  ((SECONDS < deadline)) || die "strace did not attach: $(cat "$tmp/strace.err")"
  sleep 0.1
done
requests "$N"
kill -INT "$strace_pid"
wait "$strace_pid" || true
strace_pid=""
log "agent: $VALMESH ${AGENT_ARGS:-(no extra flags)}"
# strace -c: "% time seconds usecs/call calls errors syscall" rows, then
# a dashed line and the total.
awk -v n="$N" '
  /^-+/ { body = !body; next }
  body && NF >= 5 {
    name = $NF; calls = $4; errors = (NF == 6) ? $5 : 0
    printf "%-16s %8.3f per request (%d calls, %d errors)\n", name, calls / n, calls, errors
    total += calls
  }
  END { printf "%-16s %8.3f per request over %d requests\n", "total", total / n, n }
' "$tmp/strace.out"
