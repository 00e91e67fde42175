#!/usr/bin/env bash
# The mesh's metrics on vs off on the proxy path, in one run: the same valmesh
# binary in front of the same trivial upstream, started with
# `--no-mesh-metrics` (the mesh counts nothing) and without it (every call
# and attempt counted per service and instance, per event loop, and a
# per-second ring for /api/stats), alternating ROUNDS times so that drift of
# the machine hits both alike. Both run with BASE_ARGS (tracing off by
# default, so that only the metrics differ). Prints requests/s, p50, p99
# and the agent's CPU of each, and the ratio on/off (aim: at least 0.97),
# also per round with a 95% confidence interval.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything it starts is stopped on
# exit. Run it under the machine's exclusive benchmark lock, e.g.
#   flock -x /tmp/valmesh-cpu.lock tests/bench/metrics_proxy_bench.sh
#
# Environment (defaults in brackets):
#   D [10s]  WARM [2s]  CONNS [64]  THREADS [2]  ROUNDS [2]
#   BASE_ARGS [--no-tracing] agent flags of both runs
#   AGENT_ARGS [] extra agent flags for both runs
#   VALMESH [build/valmesh]  KEEP_TMP [0]
#   VALMESH_OFF [VALMESH] the binary of the "off" runs: another build (e.g.
#     an older commit) compares its counting with this one's
#   BENCH_LOCK [/tmp/valmesh-bench.lock; empty: off]  LOCK_WAIT [900] s
#   LOCK_MAX [170] s (see proxy_bench.sh for the lock protocol)
set -euo pipefail

bench_name=metrics-proxy-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
VALMESH_OFF="${VALMESH_OFF:-$VALMESH}"
D="${D:-10s}"
WARM="${WARM:-2s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
AGENT_ARGS="${AGENT_ARGS:-}"
BASE_ARGS="${BASE_ARGS---no-tracing}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"

[[ "$D" =~ ^[1-9][0-9]*s?$ ]] || die "D must be whole seconds, like 10s"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a whole number"

install_tools wrk nginx curl ss pgrep
require_tools wrk nginx curl ss pgrep
require_built "$VALMESH"
require_built "$VALMESH_OFF"

procs=() notes=()
stop_proc() { [[ -n "$1" ]] || return 0; kill_wait "$1" TERM 5; forget_pid procs "$1"; }
stop_all() {
  local p
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  for ((p = ${#procs[@]} - 1; p >= 0; p--)); do kill_wait "${procs[p]}" TERM 5; done
  lock_release
}
bench_setup valmesh-metrics-proxy-bench
chmod 755 "$tmp"

# -- the agent, metrics off or on ------------------------------------------------
start_agent() { # MODE -> VM_PORT VM_PID
  local mode=$1 cfg="$tmp/valmesh.json" flags bin="$VALMESH"
  [[ "$mode" == on ]] || bin="$VALMESH_OFF"
  printf '{"services":[{"name":"bench","id":"bench-upstream","host":"127.0.0.1","port":%s}]}\n' \
    "$UP_PORT" >"$cfg"
  flags="$BASE_ARGS"
  [[ "$mode" == on ]] || flags+=" --no-mesh-metrics"
  for _ in 1 2 3; do
    VM_PORT="$(free_port)"
    # shellcheck disable=SC2086 # flags and AGENT_ARGS are lists of flags
    "$bin" agent --dev --http "127.0.0.1:$VM_PORT" --cluster 127.0.0.1:0 --config "$cfg" \
      --node-name metrics-bench --drain-timeout 2s $flags $AGENT_ARGS >"$tmp/agent-$mode.log" 2>&1 &
    VM_PID=$!
    procs+=("$VM_PID")
    wait_ok "http://127.0.0.1:$VM_PORT/proxy/bench/" 20 "$VM_PID" ok && return 0
    cat "$tmp/agent-$mode.log" >&2
    stop_proc "$VM_PID"
  done
  die "the valmesh agent ($mode) did not answer 200 on /proxy/bench/"
}

# Sets RPS P50 P99 CPU of one measured wrk run (after a warm-up).
measure() { # MODE ROUND
  local mode=$1 round=$2 out="$tmp/wrk-$1-$2.out" c0 c1 t0 t1
  lock_acquire "$mode-$round"
  start_agent "$mode"
  wrk -t"$THREADS" -c"$CONNS" -d"$WARM" "http://127.0.0.1:$VM_PORT/proxy/bench/" >/dev/null 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  check_quiet "$mode-$round"
  c0="$(proc_ticks "$VM_PID")" t0="$(now)"
  wrk -t"$THREADS" -c"$CONNS" -d"$D" --latency "http://127.0.0.1:$VM_PORT/proxy/bench/" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  c1="$(proc_ticks "$VM_PID")" t1="$(now)"
  check_quiet "$mode-$round"
  if [[ "$mode" == on ]]; then
    STATS="$(curl -s --max-time 5 "http://127.0.0.1:$VM_PORT/api/stats?window=10s" | tr -d '\n' | cut -c1-400)"
  fi
  stop_proc "$VM_PID"
  lock_release
  parse_wrk "$out" || die "wrk output not understood: $(tr '\n' ' ' <"$out" | cut -c1-300)"
  CPU="$(pct $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")"
  [[ "$W_NON2XX" == 0 && -z "$W_SOCK" ]] || notes+=("$mode round $round: non-2xx $W_NON2XX, socket errors ${W_SOCK:-none}")
  log "metrics $mode, round $round: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, agent cpu $CPU%"
  echo "$mode $round $W_RPS $W_P50 $W_P99 $CPU" >>"$tmp/results"
}

start_ok_upstream
log "upstream nginx on 127.0.0.1:$UP_PORT (pid $UP_PID)"
: >"$tmp/results"
for ((r = 1; r <= ROUNDS; r++)); do
  measure off "$r"
  measure on "$r"
done
stop_proc "$UP_PID"

cat <<EOF

mesh metrics on vs off, proxy path: wrk -t$THREADS -c$CONNS -d$D --latency after a $WARM warm-up, $ROUNDS rounds (off, on alternating), $(nproc) cores
valmesh: $(describe_binary "$VALMESH")$([[ "$VALMESH_OFF" == "$VALMESH" ]] || echo ", off runs: $(describe_binary "$VALMESH_OFF")"), flags: --dev $BASE_ARGS ${AGENT_ARGS:-(no extra flags)}; off = --no-mesh-metrics, on = the default
EOF
printf '%-8s %5s %12s %10s %10s %6s\n' metrics round requests/s "p50 ms" "p99 ms" "cpu%"
while read -r m r rps p50 p99 cpu; do
  printf '%-8s %5s %12s %10s %10s %6s\n' "$m" "$r" "$rps" "$p50" "$p99" "$cpu"
done <"$tmp/results"
# The ratio of the means, and the ratios of each round's pair (off, then on
# a few seconds later): their mean with a 95% confidence interval (Student's
# t), since the machine's drift from round to round is larger than the
# difference measured.
awk '{ n[$1]++; s[$1] += $3; if ($1 == "off") last = $3; else r[++k] = $3 / last }
END {
  off = s["off"] / n["off"]; on = s["on"] / n["on"]
  printf "mean requests/s: off %.0f, on %.0f; on/off %.3f (aim >= 0.97: %s)\n",
    off, on, on / off, (on / off >= 0.97) ? "met" : "MISSED"
  if (k < 2) exit
  for (i = 1; i <= k; i++) m += r[i] / k
  for (i = 1; i <= k; i++) v += (r[i] - m) ^ 2 / (k - 1)
  # t(0.975, k - 1) for k - 1 = 1..30, and 1.96 past that.
  split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09 2.08 2.07 2.07 2.06 2.06 2.06 2.05 2.05 2.05 2.04", t, " ")
  h = (k - 1 <= 30 ? t[k - 1] : 1.96) * sqrt(v / k)
  printf "per-round on/off: mean %.3f, 95%% interval %.3f to %.3f (%d pairs)\n", m, m - h, m + h, k
}' "$tmp/results"
[[ -n "${STATS:-}" ]] && echo "/api/stats after the last 'on' run: $STATS"
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
