#!/usr/bin/env bash
# The time to answer GET /metrics (and GET /api/stats) on a node whose mesh
# carries SERVICES × INSTANCES instances (1,000 × 10), each called once, so
# that every instance has its series: one valmesh-echo behind every
# instance, one agent with health checks every hour (the scrape is measured,
# not the checks). Prints the size of the exposition and the time of N
# scrapes over one keep-alive connection: min, median, p90, max.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything it starts is stopped on
# exit. Under the benchmark lock for the measurement only.
#
# Environment (defaults in brackets):
#   SERVICES [1000]  INSTANCES [10]  N [20]
#   VALMESH [build/valmesh]  ECHO [build/examples/valmesh-echo]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock; empty: off]  LOCK_WAIT [900] s
#   LOCK_MAX [170] s (see proxy_bench.sh for the lock protocol)
set -euo pipefail

bench_name=metrics-render-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
ECHO="${ECHO:-$root/build/examples/valmesh-echo}"
SERVICES="${SERVICES:-1000}"
INSTANCES="${INSTANCES:-10}"
N="${N:-20}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
client="$root/tests/bench/metrics_render_bench.py"

install_tools curl ss python3
require_tools curl ss python3
require_built "$VALMESH" "$ECHO"

procs=()
stop_all() {
  local p
  for ((p = ${#procs[@]} - 1; p >= 0; p--)); do kill_wait "${procs[p]}" TERM 5; done
  lock_release
}
bench_setup valmesh-metrics-render-bench

ECHO_PORT="$(free_port)"
"$ECHO" --port "$ECHO_PORT" >"$tmp/echo.log" 2>&1 &
procs+=("$!")
wait_ok "http://127.0.0.1:$ECHO_PORT/health" 5 "$!" || die "valmesh-echo did not start"
VM_PORT="$(free_port)"
printf '{"health": {"interval": "1h", "deregisterCriticalAfter": "0s"}}\n' >"$tmp/cfg.json"
"$VALMESH" agent --dev --http "127.0.0.1:$VM_PORT" --cluster 127.0.0.1:0 \
  --config "$tmp/cfg.json" --node-name render-bench --log-level warn >"$tmp/agent.log" 2>&1 &
VM_PID=$!
procs+=("$VM_PID")
wait_ok "http://127.0.0.1:$VM_PORT/health" 20 "$VM_PID" || die "the agent did not start"
addr="127.0.0.1:$VM_PORT"
log "registering $SERVICES × $INSTANCES instances"
python3 "$client" register "$addr" "$SERVICES" "$INSTANCES" "$ECHO_PORT"
log "calling each instance once"
bad="$(python3 "$client" call "$addr" "$SERVICES" "$INSTANCES")"
series="$(curl -s --max-time 60 "http://$addr/metrics" | grep -c '^valmesh_mesh_instance_requests_total{' || true)"

lock_acquire scrape
check_quiet scrape
c0="$(proc_ticks "$VM_PID")" t0="$(now)"
metrics="$(python3 "$client" scrape "$addr" "$N" /metrics)"
c1="$(proc_ticks "$VM_PID")" t1="$(now)"
stats="$(python3 "$client" scrape "$addr" "$N" '/api/stats?window=1m')"
check_quiet scrape
lock_release
cpu_ms="$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$N" 'BEGIN{printf "%.1f", 1000 * t / hz / n}')"
rss="$(awk '/VmRSS/{print $2}' "/proc/$VM_PID/status")"

cat <<EOF

/metrics with $SERVICES services × $INSTANCES instances, each called once (non-200 answers: $bad), $N scrapes each, $(nproc) cores
valmesh: $(describe_binary "$VALMESH"); instances with a valmesh_mesh_instance_requests_total series: $series; agent RSS ${rss} kB
EOF
printf '%-22s %10s %8s %8s %8s %8s\n' endpoint bytes "min ms" "p50 ms" "p90 ms" "max ms"
read -r b mi me p9 ma <<<"$metrics"
printf '%-22s %10s %8s %8s %8s %8s\n' /metrics "$b" "$mi" "$me" "$p9" "$ma"
read -r b mi me p9 ma <<<"$stats"
printf '%-22s %10s %8s %8s %8s %8s\n' '/api/stats?window=1m' "$b" "$mi" "$me" "$p9" "$ma"
echo "agent CPU per /metrics scrape: $cpu_ms ms"
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
