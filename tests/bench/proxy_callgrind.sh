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

start_agent 120 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
  "$BUILD/valmesh"

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
