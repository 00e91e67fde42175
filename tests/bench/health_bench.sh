#!/usr/bin/env bash
# Health-check benchmark (issue 3): the agent's cost of checking 10,000
# instances every second, against the same agent with the same 10,000
# instances checked once an hour (the idle baseline), in one run.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything this script starts is
# stopped on exit.
#
#   tests/bench/health_bench.sh
#   WINDOW=10 PERF=0 tests/bench/health_bench.sh
#   BENCH_LOCK= tests/bench/health_bench.sh        # no lock protocol
#
# Phases (each one holds the bench lock on its own, well under 3 minutes):
#   1. health: 4 valmesh-echo upstreams (--threads 1, started once for the
#      run), a fresh agent with health interval 1s / timeout 1s, INSTANCES
#      (10,000) instances `bench-N` of service `bench` registered with wrk
#      round-robin over the 4 echo ports. SETTLE s later, a WINDOW s window:
#      agent and echo CPU (utime+stime from /proc/PID/stat) at its start and
#      end, per agent thread too; every second GET /api/health/services
#      (checkLatenessP99Ms; the first and last answers give checks, failures
#      and statuses). Then QUIET s more with no API requests (CPU only: what
#      the per-second sampling itself costs), socket figures (ss -s), and
#      with PERF=1 a `perf record` profile of the agent.
#   2. baseline: a fresh agent, same instances, health interval 1h (each
#      instance is checked once, right after it registered), same settle,
#      same sampled window, same quiet window.
#
# checkLatenessP99Ms is the p99 over the checker's last 1024 check starts:
# at 10,000 checks/s that is the ~0.1 s before each sample, so the samples
# are spot checks of the schedule, not a full-window p99.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before each phase wait (poll 2 s, up to LOCK_WAIT s) until no cc1plus runs
# and the lock file is absent, create it (noclobber), delete it at the end of
# the phase or on exit; a watchdog stops the run if one hold passes LOCK_MAX s.
#
# Environment (defaults in brackets):
#   INSTANCES [10000]  ECHOES [4]  WINDOW [20] s  SETTLE [5] s  QUIET [5] s
#   INTERVAL [1s]  TIMEOUT [1s]  BASE_INTERVAL [1h]  PERF [1] (0 = skip)
#   PERF_SECONDS [5]  FILL_THREADS [2]  FILL_CONNS [16]  FILL_TIMEOUT [30] s
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
#   VALMESH [build/valmesh]  ECHO [build/examples/valmesh-echo]  KEEP_TMP [0]
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
VALMESH="${VALMESH:-$root/build/valmesh}"
ECHO="${ECHO:-$root/build/examples/valmesh-echo}"
INSTANCES="${INSTANCES:-10000}"
ECHOES="${ECHOES:-4}"
WINDOW="${WINDOW:-20}"
SETTLE="${SETTLE:-5}"
QUIET="${QUIET:-5}"
INTERVAL="${INTERVAL:-1s}"
TIMEOUT="${TIMEOUT:-1s}"
BASE_INTERVAL="${BASE_INTERVAL:-1h}"
PERF="${PERF:-1}"
PERF_SECONDS="${PERF_SECONDS:-5}"
FILL_THREADS="${FILL_THREADS:-2}"
FILL_CONNS="${FILL_CONNS:-16}"
FILL_TIMEOUT="${FILL_TIMEOUT:-30}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
LOCK_WAIT="${LOCK_WAIT:-900}"
LOCK_MAX="${LOCK_MAX:-170}"
KEEP_TMP="${KEEP_TMP:-0}"
HZ="$(getconf CLK_TCK)"
CORES="$(nproc)"

started_at=$SECONDS
log() { echo "[health-bench +$((SECONDS - started_at))s] $*" >&2; }
die() { echo "[health-bench] error: $*" >&2; exit 1; }

# -- tools ------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
if [[ "$PERF" == 1 ]] && ! command -v perf >/dev/null; then need+=(linux-perf); fi
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    log "apt-get install ${need[*]} failed"
fi
for t in wrk jq curl ss pgrep; do command -v "$t" >/dev/null || die "$t missing"; done
command -v perf >/dev/null || PERF=0
[[ -x "$VALMESH" ]] || die "$VALMESH not built"
[[ -x "$ECHO" ]] || die "$ECHO not built"
[[ "$WINDOW" =~ ^[1-9][0-9]*$ ]] || die "WINDOW must be a whole number of seconds"

# -- cleanup ------------------------------------------------------------------
tmp="$(mktemp -d /tmp/valmesh-health-bench.XXXXXX)"
echo_pids=() agent_pid="" wrk_pid="" perf_pid="" watchdog_pid="" lock_taken=0
kill_wait() { # PID SIGNAL SECONDS: signal, wait, then SIGKILL
  kill -"$2" "$1" 2>/dev/null || return 0
  local k
  for ((k = 0; k < $3 * 10; k++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
lock_release() {
  [[ -n "$watchdog_pid" ]] && { kill "$watchdog_pid" 2>/dev/null || true; wait "$watchdog_pid" 2>/dev/null || true; }
  watchdog_pid=""
  if ((lock_taken)); then
    rm -f "$BENCH_LOCK"
    lock_taken=0
    log "released $BENCH_LOCK"
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$perf_pid" ]] && kill_wait "$perf_pid" INT 3
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  [[ -n "$agent_pid" ]] && kill_wait "$agent_pid" TERM 5
  local p
  for p in "${echo_pids[@]}"; do kill_wait "$p" TERM 3; done
  lock_release
  if [[ "$KEEP_TMP" == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# -- lock -----------------------------------------------------------------------
lock_acquire() { # PHASE
  [[ -n "$BENCH_LOCK" ]] || return 0
  local t0=$SECONDS
  while :; do
    if ! pgrep -x cc1plus >/dev/null && [[ ! -e "$BENCH_LOCK" ]] &&
       (set -o noclobber; echo "health_bench.sh pid $$ phase $1 since $(date -Is)" \
          >"$BENCH_LOCK") 2>/dev/null; then
      lock_taken=1
      break
    fi
    ((SECONDS - t0 < LOCK_WAIT)) || die "waited ${LOCK_WAIT}s for cc1plus / $BENCH_LOCK"
    sleep 2
  done
  log "took $BENCH_LOCK for phase $1 (waited $((SECONDS - t0))s)"
  # One hold never passes LOCK_MAX seconds.
  ( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$LOCK_MAX" & sp=$!
    wait "$sp"
    echo "[health-bench] lock held ${LOCK_MAX}s, stopping" >&2
    kill -TERM $$ ) 2>/dev/null &
  watchdog_pid=$!
}
busy_seen=""
check_quiet() { # TAG: notes compilers seen during a measurement
  pgrep -x cc1plus >/dev/null && busy_seen+="$1 " || true
}

# -- helpers ----------------------------------------------------------------------
# utime+stime of a process or thread (the comm field may hold spaces).
ticks_of() { sed 's/^.*) //' "$1" 2>/dev/null | awk '{print $12 + $13}'; }
proc_ticks() { ticks_of "/proc/$1/stat"; }
echo_ticks() {
  local p s=0
  for p in "${echo_pids[@]}"; do s=$((s + $(proc_ticks "$p"))); done
  echo "$s"
}
# "TID COMM TICKS" per thread of PID.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(ticks_of "$t/stat")"
  done
}
# Machine-wide "busy total" jiffies from /proc/stat.
machine_jiffies() {
  awk '/^cpu /{b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; print b, t}' /proc/stat
}
now() { echo "$EPOCHREALTIME"; }
pct() { awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN{ if (s > 0) printf "%.1f", 100 * t / hz / s; else print "n/a" }'; }
timewait() { ss -s | sed -n 's/.*timewait \([0-9]*\).*/\1/p' | head -1; }

start_echo() { # I -> appends to echo_pids, echo_ports
  "$ECHO" --port 0 --threads 1 --name "bench-echo-$1" >"$tmp/echo-$1.log" 2>&1 &
  local pid=$! port=""
  echo_pids+=("$pid")
  for _ in $(seq 100); do
    port="$(sed -n 's/^valmesh-echo listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/echo-$1.log" | head -1)"
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$port" ]] || { cat "$tmp/echo-$1.log" >&2; die "echo $1 did not start"; }
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" == 200 ]] ||
    die "echo $1 /health is not 200"
  echo_ports+=("$port")
}

start_agent() { # NAME INTERVAL -> agent_pid, agent_port
  local name=$1
  printf '{"health": {"interval": "%s", "timeout": "%s"}}\n' "$2" "$TIMEOUT" >"$tmp/$name.json"
  "$VALMESH" agent --config "$tmp/$name.json" --node-name "health-bench-$name" \
    --http 127.0.0.1:0 --cluster 127.0.0.1:0 --dev --drain-timeout 2s \
    >"$tmp/agent-$name.log" 2>&1 &
  agent_pid=$!
  agent_port=""
  for _ in $(seq 100); do
    agent_port="$(grep -o 'valmesh agent started: .* http=127\.0\.0\.1:[0-9]*' \
      "$tmp/agent-$name.log" | grep -o '[0-9]*$' | head -1 || true)"
    [[ -n "$agent_port" ]] && break
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$agent_port" ]] || { cat "$tmp/agent-$name.log" >&2; die "agent $name did not start"; }
  curl -fsS --max-time 5 "http://127.0.0.1:$agent_port/health" >/dev/null || die "agent $name not ready"
}
stop_agent() {
  [[ -n "$agent_pid" ]] && kill_wait "$agent_pid" TERM 5
  agent_pid=""
}

instance_count() {
  curl -fsS --max-time 10 "http://127.0.0.1:$agent_port/api/services" |
    jq '[.services[] | select(.name == "bench") | .instanceCount] | add // 0'
}

# wrk fill: thread t registers ids bench-N for N in its share of
# [0, INSTANCES), host 127.0.0.1, port = echo port N mod ECHOES; it stops once
# as many registrations succeeded as its share holds (later requests wrap and
# re-register the same ids with the same target, which changes nothing).
cat >"$tmp/fill.lua" <<'EOF'
local threads = {}
local counter, ok, lo, hi, ports = 0, 0, 0, 0, {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  local total, nthreads = tonumber(args[1]), tonumber(args[2])
  for i = 3, #args do ports[#ports + 1] = tonumber(args[i]) end
  lo = math.floor(total * (tid - 1) / nthreads)
  hi = math.floor(total * tid / nthreads)
end
function request()
  local n = lo + counter % (hi - lo)
  counter = counter + 1
  local body = string.format(
    "{\"name\":\"bench\",\"id\":\"bench-%d\",\"host\":\"127.0.0.1\",\"port\":%d}",
    n, ports[(n % #ports) + 1])
  return wrk.format("POST", "/api/services",
                    {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status == 201 or status == 200 then ok = ok + 1 end
  if ok >= hi - lo then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("FILL requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

fill() { # NAME -> FILL_SECONDS
  local name=$1 pass have t0
  t0="$(now)"
  have="$(instance_count)"
  for pass in 1 2 3; do
    ((have < INSTANCES)) || break
    wrk -t"$FILL_THREADS" -c"$FILL_CONNS" -d"${FILL_TIMEOUT}s" --timeout 5s -s "$tmp/fill.lua" \
      "http://127.0.0.1:$agent_port/api/services" -- "$INSTANCES" "$FILL_THREADS" "${echo_ports[@]}" \
      >"$tmp/fill-$name-$pass.out" 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || true
    wrk_pid=""
    grep -h '^FILL' "$tmp/fill-$name-$pass.out" >&2 || cat "$tmp/fill-$name-$pass.out" >&2
    have="$(instance_count)"
  done
  FILL_SECONDS="$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}')"
  ((have == INSTANCES)) || die "fill $name: $have of $INSTANCES instances"
  log "agent $name holds $have instances (registered in ${FILL_SECONDS}s)"
}

sleep_until() { # EPOCH seconds (fractional)
  local d
  d="$(awk -v t="$1" -v n="$(now)" 'BEGIN{d = t - n; if (d > 0) printf "%.3f", d; else print 0}')"
  [[ "$d" == 0 ]] || sleep "$d"
}

# One phase's measurement: WINDOW s sampled, then QUIET s unsampled.
# Sets P_<tag>_* figures. Samples: $tmp/<tag>-sample-K.json, K = 0..WINDOW.
measure() { # TAG
  local tag=$1 k t0 tk t_end a0 a1 e0 e1 m0 m1 q0 q1 qe0 qe1 tq0 tq1 lat
  : >"$tmp/$tag-lateness.txt"
  check_quiet "$tag"
  t0="$(now)"
  a0="$(proc_ticks "$agent_pid")" e0="$(echo_ticks)" m0="$(machine_jiffies)"
  thread_ticks "$agent_pid" >"$tmp/$tag-threads0.txt"
  ss -s >"$tmp/$tag-ss0.txt"
  for ((k = 0; k <= WINDOW; k++)); do
    sleep_until "$(awk -v a="$t0" -v k="$k" 'BEGIN{printf "%.6f", a + k}')"
    tk="$(now)"
    if ((k == WINDOW)); then
      # The window closes right before the last sample's request.
      a1="$(proc_ticks "$agent_pid")" e1="$(echo_ticks)" m1="$(machine_jiffies)"
      thread_ticks "$agent_pid" >"$tmp/$tag-threads1.txt"
      t_end=$tk
    fi
    curl -s --max-time 5 -o "$tmp/$tag-sample-$k.json" \
      -w '%{http_code} %{time_total} %{size_download}\n' \
      "http://127.0.0.1:$agent_port/api/health/services" >"$tmp/$tag-curl-$k.txt" || true
    lat="$(grep -o '"checkLatenessP99Ms":[-0-9.eE+]*' "$tmp/$tag-sample-$k.json" 2>/dev/null |
           head -1 | cut -d: -f2 || true)"
    echo "$k $tk ${lat:-missing} $(cat "$tmp/$tag-curl-$k.txt")" >>"$tmp/$tag-lateness.txt"
    check_quiet "$tag"
  done
  ss -s >"$tmp/$tag-ss1.txt"
  # Quiet window: CPU only, no API requests.
  tq0="$(now)" q0="$(proc_ticks "$agent_pid")" qe0="$(echo_ticks)"
  sleep "$QUIET"
  tq1="$(now)" q1="$(proc_ticks "$agent_pid")" qe1="$(echo_ticks)"
  check_quiet "$tag"

  local secs qsecs
  secs="$(awk -v a="$t0" -v b="$t_end" 'BEGIN{printf "%.3f", b - a}')"
  qsecs="$(awk -v a="$tq0" -v b="$tq1" 'BEGIN{printf "%.3f", b - a}')"
  printf -v "P_${tag}_secs" '%s' "$secs"
  printf -v "P_${tag}_agent" '%s' "$(pct $((a1 - a0)) "$secs")"
  printf -v "P_${tag}_echo" '%s' "$(pct $((e1 - e0)) "$secs")"
  printf -v "P_${tag}_qagent" '%s' "$(pct $((q1 - q0)) "$qsecs")"
  printf -v "P_${tag}_qecho" '%s' "$(pct $((qe1 - qe0)) "$qsecs")"
  printf -v "P_${tag}_machine" '%s' "$(awk -v a="$m0" -v b="$m1" -v c="$CORES" 'BEGIN{
    split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    if (t > 0) printf "%.0f", 100 * c * (y[1] - x[1]) / t; else print "n/a" }')"
  # Lateness samples: median and max over the answered ones.
  local lstats
  lstats="$(awk '$3 != "missing" {print $3}' "$tmp/$tag-lateness.txt" | sort -g | awk '
    {v[NR] = $1} END {
      if (NR == 0) { print "n/a n/a 0"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.1f %.1f %d\n", m, v[NR], NR }')"
  read -r med max n <<<"$lstats"
  printf -v "P_${tag}_latmed" '%s' "$med"
  printf -v "P_${tag}_latmax" '%s' "$max"
  printf -v "P_${tag}_latn" '%s' "$n"
  printf -v "P_${tag}_reqms" '%s' "$(awk '$4 == 200 {print $5 * 1000}' "$tmp/$tag-lateness.txt" | sort -g |
    awk '{v[NR] = $1} END {if (NR) printf "%.0f", v[int((NR + 1) / 2)]; else print "n/a"}')"
  printf -v "P_${tag}_bytes" '%s' "$(awk '$4 == 200 {print $6; exit}' "$tmp/$tag-lateness.txt")"
  # Checks, failures and statuses from the first and last answers.
  local first="$tmp/$tag-sample-0.json" last="$tmp/$tag-sample-$WINDOW.json" figures
  figures="$(jq -r -s --arg s bench '
    (.[0].services[$s].instances // []) as $a | (.[1].services[$s].instances // []) as $b |
    [ ([$b[].checks] | add // 0) - ([$a[].checks] | add // 0),
      ([$b[].failures] | add // 0) - ([$a[].failures] | add // 0),
      ($b | length),
      ([$b[] | select(.status != "passing")] | length),
      ([$b[].failures] | add // 0) ] | @tsv' "$first" "$last" 2>/dev/null || echo "n/a n/a n/a n/a n/a")"
  read -r dchecks dfail ninst notpass totfail <<<"$figures"
  printf -v "P_${tag}_checks" '%s' "$dchecks"
  printf -v "P_${tag}_cps" '%s' "$(awk -v c="$dchecks" -v s="$secs" 'BEGIN{ if (c ~ /^[0-9]+$/ && s > 0) printf "%.0f", c / s; else print "n/a" }')"
  printf -v "P_${tag}_fail" '%s' "$dfail"
  printf -v "P_${tag}_ninst" '%s' "$ninst"
  printf -v "P_${tag}_notpass" '%s' "$notpass"
  printf -v "P_${tag}_totfail" '%s' "$totfail"
  jq -r --arg s bench '[.services[$s].instances[] | select(.lastError != null) | .lastError] |
    group_by(.) | map("\(length)x \(.[0])") | .[]' "$last" >"$tmp/$tag-errors.txt" 2>/dev/null || true
  jq -r --arg s bench '[.services[$s].instances[].status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' \
    "$last" >"$tmp/$tag-statuses.txt" 2>/dev/null || true
  # Per-thread CPU over the window.
  awk -v s="$secs" -v hz="$HZ" 'NR == FNR {t0[$1] = $3; next}
    {d = $3 - (($1 in t0) ? t0[$1] : 0); printf "%s %s %.1f\n", $1, $2, 100 * d / hz / s}' \
    "$tmp/$tag-threads0.txt" "$tmp/$tag-threads1.txt" | sort -k3 -g -r >"$tmp/$tag-threads.txt"
  printf -v "P_${tag}_tw0" '%s' "$(sed -n 's/.*timewait \([0-9]*\).*/\1/p' "$tmp/$tag-ss0.txt" | head -1)"
  printf -v "P_${tag}_tw1" '%s' "$(sed -n 's/.*timewait \([0-9]*\).*/\1/p' "$tmp/$tag-ss1.txt" | head -1)"
  log "$tag: agent $(eval echo "\$P_${tag}_agent")% echo $(eval echo "\$P_${tag}_echo")% checks/s $(eval echo "\$P_${tag}_cps") lateness p99 median $med max $max ms"
}

# -- run -----------------------------------------------------------------------------
echo_ports=()
binary_info="$(stat -c '%y' "$VALMESH" | cut -d. -f1) ($("$VALMESH" version 2>/dev/null | head -1))"
log "starting $ECHOES valmesh-echo upstreams (--threads 1)"
for ((i = 1; i <= ECHOES; i++)); do start_echo "$i"; done
log "echo ports: ${echo_ports[*]}"

# Phase 1: health checks every INTERVAL.
lock_acquire health
start_agent health "$INTERVAL"
log "agent (health interval $INTERVAL, timeout $TIMEOUT) pid $agent_pid on port $agent_port"
fill health
H_FILL=$FILL_SECONDS
sleep "$SETTLE"
log "health: measuring ${WINDOW}s (+${QUIET}s quiet)"
measure h
perf_note="not run"
if [[ "$PERF" == 1 ]]; then
  log "perf record -p $agent_pid for ${PERF_SECONDS}s"
  perf record -F 499 -g -o "$tmp/perf.data" -p "$agent_pid" -- sleep "$PERF_SECONDS" \
    >"$tmp/perf-record.log" 2>&1 &
  perf_pid=$!
  wait "$perf_pid" || true
  perf_pid=""
  if [[ -s "$tmp/perf.data" ]] &&
     perf report -i "$tmp/perf.data" --no-children --sort dso,sym --stdio -g none \
       --percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$tmp/perf-top.txt" &&
     [[ -s "$tmp/perf-top.txt" ]]; then
    perf report -i "$tmp/perf.data" --no-children --sort comm,dso --stdio -g none \
      2>/dev/null | grep -v '^#' | grep -v '^$' | head -15 >"$tmp/perf-dso.txt" || true
    perf_note="ok"
  else
    perf_note="failed: $(tail -2 "$tmp/perf-record.log" | tr '\n' ' ')"
  fi
fi
H_AGENT_LOG_LINES="$(wc -l <"$tmp/agent-health.log")"
stop_agent
lock_release

# Phase 2: the idle baseline, checks every BASE_INTERVAL.
lock_acquire baseline
start_agent baseline "$BASE_INTERVAL"
log "agent (health interval $BASE_INTERVAL) pid $agent_pid on port $agent_port"
fill baseline
B_FILL=$FILL_SECONDS
sleep "$SETTLE"
log "baseline: measuring ${WINDOW}s (+${QUIET}s quiet)"
measure b
stop_agent
lock_release

# -- summary ----------------------------------------------------------------------------
# shellcheck disable=SC2154 # P_* are set by measure (printf -v)
cat <<EOF

health-check load: $INSTANCES instances, interval $INTERVAL, $ECHOES echo upstreams ($CORES cores)
agent CPU: ${P_h_agent}% of one core (idle baseline: ${P_b_agent}%)   echo CPU: ${P_h_echo}%
checks/s: ${P_h_cps}   failures: ${P_h_fail}   not passing: ${P_h_notpass}
check start lateness p99: median ${P_h_latmed} ms, max ${P_h_latmax} ms (sampled each second)

details:
  window ${P_h_secs}s (baseline ${P_b_secs}s) after ${SETTLE}s settle; timeout $TIMEOUT; binary $binary_info
  registration of $INSTANCES instances: ${H_FILL}s (baseline agent ${B_FILL}s)
  machine CPU in the window (all $CORES cores = $((CORES * 100))%): ${P_h_machine}% (baseline ${P_b_machine}%)
  echo CPU, all $ECHOES together, % of one core: ${P_h_echo}% (baseline ${P_b_echo}%)
  /api/health/services sampled each second: ${P_h_bytes} bytes, median ${P_h_reqms} ms per answer (baseline ${P_b_reqms} ms)
  agent CPU without the per-second sampling (${QUIET}s after the window): ${P_h_qagent}% (baseline ${P_b_qagent}%); echo ${P_h_qecho}%
  checks in the window: ${P_h_checks} (baseline ${P_b_checks}); failures in the window ${P_h_fail}, since start ${P_h_totfail}
  instances at the end: ${P_h_ninst}; statuses: $(cat "$tmp/h-statuses.txt" 2>/dev/null)
  lateness samples answered: ${P_h_latn} of $((WINDOW + 1)); baseline median ${P_b_latmed} ms, max ${P_b_latmax} ms
  TIME_WAIT sockets (ss -s): ${P_h_tw0} at the window's start, ${P_h_tw1} at its end (baseline ${P_b_tw1})
  agent log lines (health phase): $H_AGENT_LOG_LINES
goals: agent < 30% of one core: $(awk -v a="$P_h_agent" 'BEGIN{print (a != "n/a" && a < 30) ? "met" : "MISSED"}'); lateness p99 < 50 ms: $(awk -v m="$P_h_latmax" -v d="$P_h_latmed" 'BEGIN{ if (m == "n/a") print "n/a"; else if (m < 50) print "met (every sample)"; else if (d < 50) print "met by the median, not by the max"; else print "MISSED"}')
EOF
echo "agent threads, % of one core over the window (tid name cpu):"
head -8 "$tmp/h-threads.txt" | sed 's/^/  /'
if [[ -s "$tmp/h-errors.txt" ]]; then
  echo "last errors of the instances (health phase):"
  head -5 "$tmp/h-errors.txt" | sed 's/^/  /'
fi
echo "lateness samples (k, p99 ms, answer ms):"
awk '{printf "%s:%s/%.0f ", $1, $3, $5 * 1000} END {print ""}' "$tmp/h-lateness.txt" | fold -s -w 100 | sed 's/^/  /'
if [[ "$perf_note" == ok ]]; then
  echo "perf (agent, ${PERF_SECONDS}s after the window, self time by comm,dso):"
  sed 's/^/  /' "$tmp/perf-dso.txt"
  echo "perf (agent, top symbols):"
  head -25 "$tmp/perf-top.txt" | sed 's/^/  /'
else
  echo "perf: $perf_note"
fi
[[ -n "$busy_seen" ]] && echo "WARNING: cc1plus ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
