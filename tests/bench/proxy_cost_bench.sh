#!/usr/bin/env bash
# The proxy's CPU cost per request against HAProxy's, in interleaved rounds:
# the figure that decides whether valmesh's proxy path is as lean as the fast
# proxies. Each round measures, one after the other and in an order that
# rotates from round to round (so that a drift of the machine hits every
# target alike):
#   haproxy      HAProxy (Debian `haproxy`, 2.6 on bookworm), nbthread 1,
#                http-reuse always, keep-alive to the server
#   valmesh      `valmesh agent --dev ... $AGENT_ARGS` (tracing on, the default)
#   valmesh-nt   the same with --no-tracing
#   valmesh-1    the same as valmesh with --http-threads 1: one event loop
#                against HAProxy's one thread (LOOP1=0 leaves it out)
# all in front of the same upstream (nginx, one worker, `return 200 "ok"`).
# Each measurement: `wrk -t2 -cCONNS -dD` after a WARM s warm-up of the same
# shape (dropped); the target's utime+stime (/proc/PID/stat) over the
# measured run, divided by the requests wrk completed, is its CPU per
# request in µs; its threads' context switches over the run (voluntary: a
# thread went to sleep, as a CAF worker does between messages; involuntary:
# it was preempted), per request, are printed beside. Efficiency is
# requests per CPU-second, so the efficiency
# ratio valmesh/HAProxy is HAProxy's CPU per request over valmesh's (1.0:
# as lean; 0.5: twice the CPU per request). The throughput ratio is the
# requests/s ratio. Both ratios are computed per round (each valmesh variant
# against the HAProxy of its own round) and printed as median, mean and 95%
# interval (Student's t) over the rounds.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything it starts is stopped on
# exit.
#
#   tests/bench/proxy_cost_bench.sh
#   ROUNDS=7 D=5s tests/bench/proxy_cost_bench.sh
#   VALMESH=/path/to/other/valmesh tests/bench/proxy_cost_bench.sh
#   BASELINE=/path/to/older/valmesh ROUNDS=8 D=5s LOOP1=0 tests/bench/proxy_cost_bench.sh
#
# Environment (defaults in brackets):
#   ROUNDS [5]  D [10s]  WARM [2s]  CONNS [64]  THREADS [2]  LOOP1 [1]
#   AGENT_ARGS [] extra agent flags of every valmesh variant
#   SYSCALLS [0]  1: also count each target's system calls over the
#                 measured run (`perf stat -e 'syscalls:sys_enter_*'`) and
#                 print them per request; the tracepoints cost a little CPU,
#                 so compare the CPU figures of such a run only with those
#                 of another run that counted them too
#   PROFILE [0]   1: also sample each target's stacks over the measured run
#                 (`perf record -e cpu-clock -g`) into
#                 $tmp/perf.TARGET.ROUND.data; with KEEP_TMP=1, read them
#                 with `perf report -i FILE --no-children --sort sym`. The
#                 sampling costs CPU too: compare such a run's CPU figures
#                 only with another that sampled. Not with SYSCALLS=1.
#   VALMESH [build/valmesh of this checkout]  KEEP_TMP [0]
#   BASELINE [none] another build of valmesh, measured as one more target
#                 (`baseline`, default flags) in the same rounds; the
#                 script then also prints the efficiency ratio
#                 valmesh/baseline per round (the baseline's CPU per request
#                 over valmesh's): an A/B comparison of two builds that
#                 the machine's drift hits alike
#   BENCH_LOCK [/tmp/valmesh-bench.lock; empty: off]  LOCK_WAIT [900] s
#   LOCK_MAX [170] s (the lock protocol: proxy_bench.sh)
set -euo pipefail

bench_name=proxy-cost-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
ROUNDS="${ROUNDS:-5}"
D="${D:-10s}"
WARM="${WARM:-2s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
LOOP1="${LOOP1:-1}"
SYSCALLS="${SYSCALLS:-0}"
PROFILE="${PROFILE:-0}"
AGENT_ARGS="${AGENT_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"

[[ "$D" =~ ^[1-9][0-9]*s?$ ]] || die "D must be whole seconds, like 10s"
[[ "$WARM" =~ ^[0-9]+s?$ ]] || die "WARM must be whole seconds, like 2s"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a whole number"
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || die "CONNS must be one whole number"

install_tools wrk nginx haproxy curl ss pgrep
require_tools wrk nginx haproxy curl ss pgrep
require_built "$VALMESH"
BASELINE="${BASELINE:-}"
[[ -z "$BASELINE" ]] || require_built "$BASELINE"
if ((SYSCALLS || PROFILE)); then
  install_tools perf
  require_tools perf
fi

TARGETS=(haproxy valmesh valmesh-nt)
((LOOP1)) && TARGETS+=(valmesh-1)
[[ -n "$BASELINE" ]] && TARGETS+=(baseline)
declare -A FLAGS=([valmesh]="" [valmesh-nt]="--no-tracing" [valmesh-1]="--http-threads 1" [baseline]="")

procs=() notes=()
stop_proc() { [[ -n "$1" ]] || return 0; kill_wait "$1" TERM 5; forget_pid procs "$1"; }
stop_all() {
  local p
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  for ((p = ${#procs[@]} - 1; p >= 0; p--)); do kill_wait "${procs[p]}" TERM 5; done
  lock_release
}
bench_setup valmesh-proxy-cost-bench
chmod 755 "$tmp"

# -- the valmesh targets (HAProxy and the upstream: lib.sh) ------------------------
start_agent() { # TARGET -> T_PID T_URL
  local cfg="$tmp/valmesh.json" port bin="$VALMESH"
  [[ "$1" == baseline ]] && bin="$BASELINE"
  printf '{"services":[{"name":"bench","id":"bench-upstream","host":"127.0.0.1","port":%s}]}\n' \
    "$UP_PORT" >"$cfg"
  for _ in 1 2 3; do
    port="$(free_port)"
    # shellcheck disable=SC2086 # FLAGS and AGENT_ARGS are lists of flags
    "$bin" agent --dev --http "127.0.0.1:$port" --cluster 127.0.0.1:0 --config "$cfg" \
      --node-name proxy-cost-bench --drain-timeout 2s ${FLAGS[$1]} $AGENT_ARGS \
      >"$tmp/agent-$1.log" 2>&1 &
    T_PID=$!
    procs+=("$T_PID")
    T_URL="http://127.0.0.1:$port/proxy/bench/"
    # The first health check (due within about a second) makes it routable.
    wait_ok "$T_URL" 20 "$T_PID" ok && return 0
    cat "$tmp/agent-$1.log" >&2
    stop_proc "$T_PID"
  done
  die "the valmesh agent ($1) did not answer 200 on /proxy/bench/"
}

# One measured run of TARGET, appended to $tmp/results as
# `TARGET ROUND requests/s requests cpu_ticks p50_ms p99_ms voluntary_cs
# involuntary_cs` (the context switches of its threads over the run).
measure() { # TARGET ROUND
  local target=$1 round=$2 out="$tmp/wrk-$1-$2.out" c0 c1 s0 s1
  lock_acquire "$target-$round"
  if [[ "$target" == haproxy ]]; then
    start_haproxy || die "HAProxy did not start"
    T_PID=$HA_PID T_URL="http://127.0.0.1:$HA_PORT/"
  else
    start_agent "$target"
  fi
  wrk -t"$THREADS" -c"$CONNS" -d"$WARM" "$T_URL" >/dev/null 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  check_quiet "$target-$round"
  local sc_pid=""
  if ((SYSCALLS)); then
    perf stat -x, -e 'syscalls:sys_enter_*' -p "$T_PID" \
      -o "$tmp/syscalls.$target.$round.csv" >/dev/null 2>&1 &
    sc_pid=$!
  elif ((PROFILE)); then
    perf record -q -e cpu-clock -F 2999 -g -p "$T_PID" \
      -o "$tmp/perf.$target.$round.data" >/dev/null 2>&1 &
    sc_pid=$!
  fi
  c0="$(proc_ticks "$T_PID")"
  s0="$(proc_switches "$T_PID")"
  wrk -t"$THREADS" -c"$CONNS" -d"$D" --latency "$T_URL" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  c1="$(proc_ticks "$T_PID")"
  s1="$(proc_switches "$T_PID")"
  if [[ -n "$sc_pid" ]]; then
    kill -INT "$sc_pid" 2>/dev/null || true
    wait "$sc_pid" || true
  fi
  check_quiet "$target-$round"
  stop_proc "$T_PID"
  lock_release
  parse_wrk "$out" || die "$target: wrk output not understood: $(tr '\n' ' ' <"$out" | cut -c1-300)"
  [[ "$W_NON2XX" == 0 && -z "$W_SOCK" ]] ||
    notes+=("$target round $round: non-2xx $W_NON2XX, socket errors ${W_SOCK:-none}")
  log "$target, round $round: $W_RPS req/s, $W_REQS requests, $((c1 - c0)) CPU ticks," \
    "$(awk -v t=$((c1 - c0)) -v n="$W_REQS" -v hz="$HZ" 'BEGIN{printf "%.1f", 1e6 * t / hz / n}') µs/request"
  echo "$target $round $W_RPS $W_REQS $((c1 - c0)) $W_P50 $W_P99" \
    "$((${s1% *} - ${s0% *})) $((${s1#* } - ${s0#* }))" >>"$tmp/results"
}

start_ok_upstream
log "upstream nginx on 127.0.0.1:$UP_PORT (pid $UP_PID)"
: >"$tmp/results"
n=${#TARGETS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((i = 0; i < n; i++)); do measure "${TARGETS[(i + r - 1) % n]}" "$r"; done
done
stop_proc "$UP_PID"

cat <<EOF

proxy CPU per request: wrk -t$THREADS -c$CONNS -d$D --latency after a $WARM warm-up, $ROUNDS rounds (order rotating), $(nproc) cores, clock ticks of 1/$HZ s
valmesh: $(describe_binary "$VALMESH"), flags: --dev ${AGENT_ARGS:-(no extra flags)}; $(git -C "$root" log -1 --format='commit %h' 2>/dev/null || echo "not a git checkout")
HAProxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}'), nbthread 1; upstream nginx, 1 worker; run at $(date -u '+%Y-%m-%d %H:%M UTC')
EOF
[[ -z "$BASELINE" ]] || echo "baseline: $(describe_binary "$BASELINE"), flags: --dev ${AGENT_ARGS:-(no extra flags)}"
printf '%-12s %5s %12s %10s %12s %8s %8s %9s %9s\n' target round requests/s requests "cpu µs/req" \
  "p50 ms" "p99 ms" "vol cs/r" "inv cs/r"
awk -v hz="$HZ" '{printf "%-12s %5s %12s %10s %12.1f %8s %8s %9.3f %9.3f\n", $1, $2, $3, $4,
  1e6 * $5 / hz / $4, $6, $7, $8 / $4, $9 / $4}' "$tmp/results"
echo
# Per round, each valmesh variant against that round's HAProxy: the
# efficiency ratio (HAProxy's CPU per request / valmesh's) and the throughput
# ratio; their median, mean and 95% interval over the rounds.
awk -v hz="$HZ" '
function stats(name, label, aim,    k, i, j, x, m, v, h, med, a) {
  k = cnt[name]
  if (k == 0) return
  for (i = 1; i <= k; i++) a[i] = val[name, i]
  for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
  med = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  for (i = 1; i <= k; i++) m += a[i] / k
  printf "%-40s median %.3f, mean %.3f", label, med, m
  if (k >= 2) {
    for (i = 1; i <= k; i++) v += (a[i] - m) ^ 2 / (k - 1)
    split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09 2.08 2.07 2.07 2.06 2.06 2.06 2.05 2.05 2.05 2.04", t, " ")
    h = (k - 1 <= 30 ? t[k - 1] : 1.96) * sqrt(v / k)
    printf ", 95%% interval %.3f to %.3f", m - h, m + h
  }
  printf " (%d rounds)%s\n", k, aim
}
{ cpu[$1, $2] = 1e6 * $5 / hz / $4; rps[$1, $2] = $3; round[$2] = 1; target[$1] = 1
  if ($1 != "haproxy") variant[$1] = 1 }
END {
  for (r in round) for (v in variant) {
    if (!((v, r) in cpu) || !(("haproxy", r) in cpu)) continue
    val["eff " v, ++cnt["eff " v]] = cpu["haproxy", r] / cpu[v, r]
    val["thr " v, ++cnt["thr " v]] = rps[v, r] / rps["haproxy", r]
  }
  for (r in round) if (("valmesh", r) in cpu && ("baseline", r) in cpu)
    val["ab", ++cnt["ab"]] = cpu["baseline", r] / cpu["valmesh", r]
  for (x in target) for (r in round) if ((x, r) in cpu) val["cpu " x, ++cnt["cpu " x]] = cpu[x, r]
  stats("cpu haproxy", "cpu µs/request, HAProxy:", "")
  stats("cpu valmesh", "cpu µs/request, valmesh:", "")
  stats("cpu valmesh-nt", "cpu µs/request, valmesh --no-tracing:", "")
  stats("cpu valmesh-1", "cpu µs/request, valmesh one loop:", "")
  stats("cpu baseline", "cpu µs/request, baseline:", "")
  stats("eff valmesh", "efficiency valmesh/HAProxy:", " (aim >= 0.9)")
  stats("eff valmesh-nt", "efficiency --no-tracing/HAProxy:", " (aim >= 1.0)")
  stats("eff valmesh-1", "efficiency one loop/HAProxy:", "")
  stats("eff baseline", "efficiency baseline/HAProxy:", "")
  stats("ab", "efficiency valmesh/baseline:", " (> 1: valmesh leaner)")
  stats("thr valmesh", "requests/s valmesh/HAProxy:", " (aim >= 1.0)")
  stats("thr valmesh-nt", "requests/s --no-tracing/HAProxy:", "")
  stats("thr valmesh-1", "requests/s one loop/HAProxy:", "")
}' "$tmp/results"
if ((SYSCALLS)); then
  echo
  echo "system calls per request over the measured runs (all rounds; the most frequent):"
  for t in "${TARGETS[@]}"; do
    reqs="$(awk -v t="$t" '$1 == t { n += $4 } END { print n + 0 }' "$tmp/results")"
    cat "$tmp/syscalls.$t."*.csv 2>/dev/null | awk -F, -v n="$reqs" '
      $1 ~ /^[0-9]+$/ && $1 > 0 { name = $3; sub(/^syscalls:sys_enter_/, "", name); c[name] += $1 }
      END { for (k in c) printf "%.3f %s\n", c[k] / n, k }' | sort -rn >"$tmp/syscalls-$t"
    printf '%-12s %6.2f total: %s\n' "$t" \
      "$(awk '{ s += $1 } END { print s + 0 }' "$tmp/syscalls-$t")" \
      "$(head -6 "$tmp/syscalls-$t" | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')"
  done
fi
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
