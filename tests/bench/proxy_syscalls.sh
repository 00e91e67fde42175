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

name=proxy-syscalls SVC=sc
# shellcheck source-path=SCRIPTDIR source=one_connection.sh
source "$(dirname "$0")/one_connection.sh"
VALMESH="${VALMESH:-$BUILD/valmesh}"

for t in strace curl; do
  command -v "$t" >/dev/null || {
    log "installing strace curl"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace curl >/dev/null
    break
  }
done
[[ -x "$VALMESH" && -x "$BUILD/examples/valmesh-echo" ]] ||
  die "build valmesh and valmesh-echo in $BUILD first"

start_agent 60 "$VALMESH"

requests "$WARM"
strace -f -c -o "$tmp/strace.out" -p "$agent_pid" 2>"$tmp/strace.err" &
strace_pid=$!
extra_pids+=("$strace_pid")
# strace says when it has attached to every thread.
wait_line "$tmp/strace.err" "Process $agent_pid attached" 10
requests "$N"
kill -INT "$strace_pid"
wait "$strace_pid" || true
extra_pids=()
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
