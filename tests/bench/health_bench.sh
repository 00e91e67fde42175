#!/usr/bin/env bash
# Health-check benchmark: the agent's cost of checking 10,000
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
#      end, per agent thread too (with context switches), other processes'
#      CPU, machine CPU (/proc/stat); at each whole second of the window one
#      GET /api/health/services is launched in the background (answers may
#      overlap when one takes over a second) for checkLatenessP99Ms; the
#      answers at the window's start and end give checks/s, failures and
#      statuses. Then, once every answer arrived, QUIET s with no API request
#      (agent CPU without the sampling's own cost, closed by one sample for
#      checks/s), socket figures (ss -s), and with PERF=1 a 5 s
#      `perf record` profile of the agent.
#   2. baseline: a fresh agent, same instances, health interval 1h (each
#      instance is checked once, right after it registered), same settle,
#      same sampled window, same quiet window.
#
# checkLatenessP99Ms is the p99 over the checker's last 1024 check starts:
# at 10,000 checks/s that is the ~0.1 s before each sample, so the samples
# are spot checks of the schedule, not a full-window p99. It is taken when the
# checker actor hands a check to the prober, so neither the time a probe then
# waits for the asio thread nor checks skipped because the previous one was
# still in flight show in it: read it next to "check durations" and checks/s.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before each phase wait (poll 2 s, up to LOCK_WAIT s) until no cc1plus runs
# and the lock file is absent, create it (noclobber), delete it at the end of
# the phase or on exit; a watchdog stops the run if one hold passes LOCK_MAX s.
#
# Environment (defaults in brackets):
#   INSTANCES [10000]  ECHOES [4]  WINDOW [20] s  SETTLE [5] s  QUIET [10] s
#   INTERVAL [1s]  TIMEOUT [1s]  BASE_INTERVAL [1h]  PERF [1] (0 = skip)
#   PERF_SECONDS [5]  STATE_SECONDS [5] (0 = skip)  FILL_THREADS [2]  FILL_CONNS [16]  FILL_TIMEOUT [60] s
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
#   VALMESH [build/valmesh]  ECHO [build/examples/valmesh-echo]  KEEP_TMP [0]
#
# Helpers shared with the other benchmarks (tools, cleanup, lock protocol,
# CPU ticks, polling, wrk): tests/bench/lib.sh.
set -euo pipefail

bench_name=health-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
ECHO="${ECHO:-$root/build/examples/valmesh-echo}"
INSTANCES="${INSTANCES:-10000}"
ECHOES="${ECHOES:-4}"
WINDOW="${WINDOW:-20}"
SETTLE="${SETTLE:-5}"
QUIET="${QUIET:-10}"
INTERVAL="${INTERVAL:-1s}"
TIMEOUT="${TIMEOUT:-1s}"
BASE_INTERVAL="${BASE_INTERVAL:-1h}"
PERF="${PERF:-1}"
PERF_SECONDS="${PERF_SECONDS:-5}"
FILL_THREADS="${FILL_THREADS:-2}"
FILL_CONNS="${FILL_CONNS:-16}"
FILL_TIMEOUT="${FILL_TIMEOUT:-60}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
AGENT_ARGS="${AGENT_ARGS:-}"  # extra agent flags, e.g. --actor-scheduler stealing
CORES="$(nproc)"
# The lock protocol (lib.sh) as the header says: only cc1plus counts as busy,
# busy_seen lists the tags that saw it, the watchdog runs only while the lock is held.
BUSY_RE='cc1plus' busy_note=tag watchdog_unlocked=0 lock_waits_for='cc1plus '

# -- tools ------------------------------------------------------------------
tools=(wrk jq curl ss pgrep)
if [[ "$PERF" == 1 ]]; then tools+=(perf); fi
install_tools "${tools[@]}"
require_tools wrk jq curl ss pgrep
command -v perf >/dev/null || PERF=0
require_built "$VALMESH" "$ECHO"
[[ "$WINDOW" =~ ^[1-9][0-9]*$ ]] || die "WINDOW must be a whole number of seconds"

# -- cleanup ------------------------------------------------------------------
echo_pids=() sample_pids=() agent_pid="" perf_pid=""
stop_all() { # RC
  [[ -n "$perf_pid" ]] && kill_wait "$perf_pid" INT 3
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  local p
  for p in "${sample_pids[@]}"; do kill_wait "$p" TERM 2; done
  [[ -n "$agent_pid" ]] && kill_wait "$agent_pid" TERM 5
  for p in "${echo_pids[@]}"; do kill_wait "$p" TERM 3; done
  lock_release
}
bench_setup valmesh-health-bench

# -- helpers ----------------------------------------------------------------------
# utime+stime of the agent, and of all echoes together (like ticks_of, they
# print nothing and fail once a process is gone).
agent_ticks() { ticks_of "/proc/$agent_pid/stat"; }
echo_ticks() {
  local p s=0
  for p in "${echo_pids[@]}"; do s=$((s + $(ticks_of "/proc/$p/stat"))); done
  echo "$s"
}
# "TID COMM TICKS CONTEXT_SWITCHES" per thread of PID.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(ticks_of "$t/stat")" \
      "$(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$t/status" 2>/dev/null)"
  done
}
# Machine-wide "busy total" jiffies from /proc/stat.
machine_jiffies() {
  awk '/^cpu /{b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; print b, t}' /proc/stat
}
interval_seconds() { # 250ms | 5s | 2m | 1h
  awk -v d="$1" 'BEGIN{ n = d + 0; u = d; sub(/^[0-9]+/, "", u)
    print (u == "ms") ? n / 1000 : (u == "m") ? n * 60 : (u == "h") ? n * 3600 : n }'
}
# Kernel TCP counters, "NAME VALUE" (Tcp* from /proc/net/snmp, TcpExt* from netstat).
net_counters() {
  awk '$1 == "Tcp:" || $1 == "TcpExt:" {
         if (!($1 in hdr)) { hdr[$1] = $0; next }
         n = split(hdr[$1], h, " "); split($0, v, " "); p = substr($1, 1, length($1) - 1)
         for (i = 2; i <= n; i++) print p h[i], v[i]; delete hdr[$1] }' /proc/net/snmp /proc/net/netstat
}
NET_KEYS="TcpActiveOpens TcpAttemptFails TcpRetransSegs TcpExtListenOverflows TcpExtListenDrops TcpExtTCPSynRetrans TcpExtTCPTimeouts TcpExtTW TcpExtTWRecycled"
timewait() { ss -s | sed -n 's/.*timewait \([0-9]*\).*/\1/p' | head -1; }

start_echo() { # I -> appends to echo_pids, echo_ports
  "$ECHO" --port 0 --threads 1 --name "bench-echo-$1" >"$tmp/echo-$1.log" 2>&1 &
  local pid=$!
  echo_pids+=("$pid")
  wait_log_port "$tmp/echo-$1.log" "$pid" '^valmesh-echo listening on 127\.0\.0\.1:'
  [[ -n "$PORT" ]] || { cat "$tmp/echo-$1.log" >&2; die "echo $1 did not start"; }
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" == 200 ]] ||
    die "echo $1 /health is not 200"
  echo_ports+=("$PORT")
}

start_agent() { # NAME INTERVAL -> agent_pid, agent_port
  local name=$1
  printf '{"health": {"interval": "%s", "timeout": "%s"}}\n' "$2" "$TIMEOUT" >"$tmp/$name.json"
  # shellcheck disable=SC2086 # AGENT_ARGS is a list of extra agent flags
  "$VALMESH" agent --config "$tmp/$name.json" --node-name "health-bench-$name" ${AGENT_ARGS:-} \
    --http 127.0.0.1:0 --cluster 127.0.0.1:0 --dev --drain-timeout 2s \
    >"$tmp/agent-$name.log" 2>&1 &
  agent_pid=$!
  wait_log_port "$tmp/agent-$name.log" "$agent_pid" "$AGENT_STARTED"
  agent_port=$PORT
  [[ -n "$agent_port" ]] || { cat "$tmp/agent-$name.log" >&2; die "agent $name did not start"; }
  curl -fsS --max-time 5 "http://127.0.0.1:$agent_port/health" >/dev/null || die "agent $name not ready"
}
stop_agent() {
  [[ -n "$agent_pid" ]] && kill_wait "$agent_pid" TERM 5
  agent_pid=""
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
  have="$(instance_count "$agent_port")"
  for pass in 1 2 3; do
    ((have < INSTANCES)) || break
    wrk -t"$FILL_THREADS" -c"$FILL_CONNS" -d"${FILL_TIMEOUT}s" --timeout 5s -s "$tmp/fill.lua" \
      "http://127.0.0.1:$agent_port/api/services" -- "$INSTANCES" "$FILL_THREADS" "${echo_ports[@]}" \
      >"$tmp/fill-$name-$pass.out" 2>&1 &
    wrk_pid=$!
    # A thread that reached its share stops, but wrk itself runs until -d:
    # poll the count and stop wrk (SIGINT: it prints its figures) once full.
    wrk_until $((FILL_TIMEOUT + 5)) 0.2 holds "$agent_port" "$INSTANCES"
    grep -h '^FILL' "$tmp/fill-$name-$pass.out" >&2 || cat "$tmp/fill-$name-$pass.out" >&2
    have="$(instance_count "$agent_port")"
  done
  FILL_SECONDS="$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}')"
  ((have == INSTANCES)) || die "fill $name: $have of $INSTANCES instances"
  log "agent $name holds $have instances (registered in ${FILL_SECONDS}s)"
}

# One phase's measurement: WINDOW s sampled, then QUIET s unsampled.
# Sets P_<tag>_* figures. Samples: $tmp/<tag>-sample-K.json, K = 0..WINDOW.
# CPU ticks of every process: "PID TICKS COMM" (comm without spaces).
all_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk '{
    i = index($0, " ("); j = 0; s = $0
    while ((k = index(substr(s, j + 1), ") ")) > 0) j += k
    comm = substr($0, i + 2, j - i - 2); gsub(/ /, "_", comm)
    n = split(substr($0, j + 2), f, " ")
    print $1, f[12] + f[13], comm }'
}
# One GET /api/health/services in the background: TAG-sample-K.json, and
# "START_EPOCH HTTP_CODE SECONDS BYTES" in TAG-curl-K.txt.
sample() { # TAG K
  (
    t="$(now)"
    r="$(curl -s --max-time 5 -o "$tmp/$1-sample-$2.json" -w '%{http_code} %{time_total} %{size_download}' \
      "http://127.0.0.1:$agent_port/api/health/services" 2>/dev/null || echo "000 0 0")"
    echo "$t $r" >"$tmp/$1-curl-$2.txt"
  ) &
  sample_pids+=($!)
}
transitions() { grep -c ' is \(critical\|passing\|warning\) (was ' "$tmp/agent-$1.log" || true; }

# One phase's measurement: a WINDOW s window (CPU at its edges, one sample
# launched at each whole second, K = 0..WINDOW-1, and one more, K = WINDOW,
# right after the window closed: checks and statuses come from samples 0 and
# WINDOW), then, once every sample answered, QUIET s without any API request
# (CPU only) closed by one more sample (K = q). Sets P_<tag>_* figures.
measure() { # TAG PHASE_NAME
  local tag=$1 phase=$2 k t0 t_end a0 a1 e0 e1 m0 m1 q0 q1 qe0 qe1 tq0 tq1 lat tr0 tr1 p
  sample_pids=()
  : >"$tmp/$tag-lateness.txt"
  check_quiet "$tag"
  tr0="$(transitions "$phase")"
  t0="$(now)"
  a0="$(agent_ticks)" e0="$(echo_ticks)" m0="$(machine_jiffies)"
  thread_ticks "$agent_pid" >"$tmp/$tag-threads0.txt"
  all_ticks >"$tmp/$tag-all0.txt"
  ss -s >"$tmp/$tag-ss0.txt"
  net_counters >"$tmp/$tag-net0.txt"
  for ((k = 0; k < WINDOW; k++)); do
    sleep_until "$(awk -v a="$t0" -v k="$k" 'BEGIN{printf "%.6f", a + k}')"
    sample "$tag" "$k"
  done
  sleep_until "$(awk -v a="$t0" -v k="$WINDOW" 'BEGIN{printf "%.6f", a + k}')"
  t_end="$(now)"
  a1="$(agent_ticks)" e1="$(echo_ticks)" m1="$(machine_jiffies)"
  thread_ticks "$agent_pid" >"$tmp/$tag-threads1.txt"
  all_ticks >"$tmp/$tag-all1.txt"
  net_counters >"$tmp/$tag-net1.txt"
  tr1="$(transitions "$phase")"
  sample "$tag" "$WINDOW"
  ss -s >"$tmp/$tag-ss1.txt"
  check_quiet "$tag"
  for p in "${sample_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sample_pids=()
  for ((k = 0; k <= WINDOW; k++)); do
    lat="$(grep -o '"checkLatenessP99Ms":[-0-9.eE+]*' "$tmp/$tag-sample-$k.json" 2>/dev/null |
           head -1 | cut -d: -f2 || true)"
    echo "$k ${lat:-missing} $(cat "$tmp/$tag-curl-$k.txt" 2>/dev/null || echo "0 000 0 0")" >>"$tmp/$tag-lateness.txt"
  done
  # Quiet window: CPU only, no API requests; one sample closes it.
  tq0="$(now)" q0="$(agent_ticks)" qe0="$(echo_ticks)"
  sleep "$QUIET"
  tq1="$(now)" q1="$(agent_ticks)" qe1="$(echo_ticks)"
  sample "$tag" q
  wait "${sample_pids[0]}" 2>/dev/null || true
  sample_pids=()
  check_quiet "$tag"
  printf -v "P_${tag}_trans" '%s' "$((tr1 - tr0))"
  printf -v "P_${tag}_qlat" '%s' "$(grep -o '"checkLatenessP99Ms":[-0-9.eE+]*' "$tmp/$tag-sample-q.json" 2>/dev/null |
           head -1 | cut -d: -f2 || echo n/a)"
  # Other processes (alive at both edges) that used CPU in the window.
  awk -v s="$(awk -v a="$t0" -v b="$t_end" 'BEGIN{print b - a}')" -v hz="$HZ" -v skip=" $agent_pid ${echo_pids[*]} " \
    'NR == FNR {t[$1] = $2; next}
     ($1 in t) && index(skip, " " $1 " ") == 0 {d = $2 - t[$1]; if (d > 0) printf "%s(%s) %.1f%%\n", $3, $1, 100 * d / hz / s}' \
    "$tmp/$tag-all0.txt" "$tmp/$tag-all1.txt" | sort -t' ' -k2 -g -r | head -4 | tr '\n' ' ' >"$tmp/$tag-others.txt"

  local secs qsecs
  secs="$(awk -v a="$t0" -v b="$t_end" 'BEGIN{printf "%.3f", b - a}')"
  qsecs="$(awk -v a="$tq0" -v b="$tq1" 'BEGIN{printf "%.3f", b - a}')"
  printf -v "P_${tag}_secs" '%s' "$secs"
  printf -v "P_${tag}_agent" '%s' "$(pct $((a1 - a0)) "$secs" 1)"
  printf -v "P_${tag}_echo" '%s' "$(pct $((e1 - e0)) "$secs" 1)"
  printf -v "P_${tag}_qagent" '%s' "$(pct $((q1 - q0)) "$qsecs" 1)"
  printf -v "P_${tag}_qecho" '%s' "$(pct $((qe1 - qe0)) "$qsecs" 1)"
  printf -v "P_${tag}_machine" '%s' "$(awk -v a="$m0" -v b="$m1" -v c="$CORES" 'BEGIN{
    split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    if (t > 0) printf "%.0f", 100 * c * (y[1] - x[1]) / t; else print "n/a" }')"
  # Lateness samples: median and max over the answered ones.
  local lstats
  lstats="$(awk '$2 != "missing" {print $2}' "$tmp/$tag-lateness.txt" | sort -g | awk '
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
  # Checks/s between the two snapshots (their requests' start times).
  local s0 sw sq span qspan qchecks
  s0="$(awk '{print $1}' "$tmp/$tag-curl-0.txt")"
  sw="$(awk '{print $1}' "$tmp/$tag-curl-$WINDOW.txt")"
  sq="$(awk '{print $1}' "$tmp/$tag-curl-q.txt")"
  span="$(awk -v a="$s0" -v b="$sw" 'BEGIN{printf "%.3f", b - a}')"
  qspan="$(awk -v a="$sw" -v b="$sq" 'BEGIN{printf "%.3f", b - a}')"
  printf -v "P_${tag}_cps" '%s' "$(awk -v c="$dchecks" -v s="$span" 'BEGIN{ if (c ~ /^[0-9]+$/ && s > 0) printf "%.0f", c / s; else print "n/a" }')"
  qchecks="$(jq -r -s --arg s bench '([.[1].services[$s].instances[]?.checks] | add // 0) -
    ([.[0].services[$s].instances[]?.checks] | add // 0)' "$last" "$tmp/$tag-sample-q.json" 2>/dev/null || echo n/a)"
  printf -v "P_${tag}_qcps" '%s' "$(awk -v c="$qchecks" -v s="$qspan" 'BEGIN{ if (c ~ /^-?[0-9]+$/ && s > 0) printf "%.0f", c / s; else print "n/a" }')"
  printf -v "P_${tag}_expected" '%s' "$(awk -v n="$INSTANCES" -v i="$(interval_seconds "$CUR_INTERVAL")" 'BEGIN{printf "%.0f", n / i}')"
  # How long the checks took (last check of each instance; per-instance p99).
  printf -v "P_${tag}_dur" '%s' "$(jq -r --arg s bench '[.services[$s].instances[]?.lastDurationMs] | sort |
    if length == 0 then "n/a" else
    "p50 \(.[length / 2 | floor] | floor) ms, p99 \(.[length * 0.99 | floor] | floor) ms, max \(.[-1] | floor) ms" end' \
    "$last" 2>/dev/null || echo n/a)"
  printf -v "P_${tag}_fail" '%s' "$dfail"
  printf -v "P_${tag}_ninst" '%s' "$ninst"
  printf -v "P_${tag}_notpass" '%s' "$notpass"
  printf -v "P_${tag}_totfail" '%s' "$totfail"
  jq -r --arg s bench '[.services[$s].instances[] | select(.lastError != null) | .lastError] |
    group_by(.) | map("\(length)x \(.[0])") | .[]' "$last" >"$tmp/$tag-errors.txt" 2>/dev/null || true
  jq -r --arg s bench '[.services[$s].instances[].status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' \
    "$last" >"$tmp/$tag-statuses.txt" 2>/dev/null || true
  # Per-thread CPU over the window.
  awk -v s="$secs" -v hz="$HZ" 'NR == FNR {t0[$1] = $3; c0[$1] = $4; next}
    {d = $3 - (($1 in t0) ? t0[$1] : 0); c = $4 - (($1 in c0) ? c0[$1] : 0)
     printf "%s %s %.1f %.0f\n", $1, $2, 100 * d / hz / s, c / s}' \
    "$tmp/$tag-threads0.txt" "$tmp/$tag-threads1.txt" | sort -k3 -g -r >"$tmp/$tag-threads.txt"
  printf -v "P_${tag}_csw" '%s' "$(awk '{s += $4} END {printf "%.0f", s}' "$tmp/$tag-threads.txt")"
  printf -v "P_${tag}_net" '%s' "$(awk -v keys="$NET_KEYS" -v s="$secs" 'BEGIN{n = split(keys, k, " ")}
    NR == FNR {a[$1] = $2; next} {b[$1] = $2}
    END {for (i = 1; i <= n; i++) if (k[i] in b) printf "%s %.0f/s  ", k[i], (b[k[i]] - a[k[i]]) / s}' \
    "$tmp/$tag-net0.txt" "$tmp/$tag-net1.txt")"
  printf -v "P_${tag}_tw0" '%s' "$(sed -n 's/.*timewait \([0-9]*\).*/\1/p' "$tmp/$tag-ss0.txt" | head -1)"
  printf -v "P_${tag}_tw1" '%s' "$(sed -n 's/.*timewait \([0-9]*\).*/\1/p' "$tmp/$tag-ss1.txt" | head -1)"
  log "$tag: agent $(eval echo "\$P_${tag}_agent")% echo $(eval echo "\$P_${tag}_echo")% checks/s $(eval echo "\$P_${tag}_cps") lateness p99 median $med max $max ms"
}

# -- run -----------------------------------------------------------------------------
echo_ports=()
binary_info="$(describe_binary "$VALMESH")"
log "starting $ECHOES valmesh-echo upstreams (--threads 1)"
for ((i = 1; i <= ECHOES; i++)); do start_echo "$i"; done
log "echo ports: ${echo_ports[*]}"

# Phase 1: health checks every INTERVAL.
lock_acquire health
CUR_INTERVAL=$INTERVAL
start_agent health "$INTERVAL"
log "agent (health interval $INTERVAL, timeout $TIMEOUT) pid $agent_pid on port $agent_port"
fill health
H_FILL=$FILL_SECONDS
sleep "$SETTLE"
log "health: measuring ${WINDOW}s (+${QUIET}s quiet)"
measure h health
# Where the agent's threads are when they are not on a core: state and wchan
# of each thread sampled every 5 ms for STATE_SECONDS (R = running or
# waiting for a core; S:x = sleeping in kernel function x).
STATE_SECONDS="${STATE_SECONDS:-5}"
if command -v python3 >/dev/null && ((STATE_SECONDS > 0)); then
  log "thread states of pid $agent_pid for ${STATE_SECONDS}s"
  python3 - "$agent_pid" "$STATE_SECONDS" >"$tmp/states.txt" 2>&1 <<'EOF' || true
import collections, os, sys, time
pid, dur = sys.argv[1], float(sys.argv[2])
tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
names = {t: open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in tids}
seen = {t: collections.Counter() for t in tids}
n, end = 0, time.time() + dur
while time.time() < end:
    for t in tids:
        try:
            st = open(f"/proc/{pid}/task/{t}/stat").read()
            state = st[st.rindex(")") + 2]
            if state == "R":
                seen[t]["R"] += 1
            else:
                w = open(f"/proc/{pid}/task/{t}/wchan").read().strip()
                seen[t][f"{state}:{w if w not in ('', '0') else '?'}"] += 1
        except OSError:
            pass
    n += 1
    time.sleep(0.005)
for t in tids:
    c = seen[t]
    total = sum(c.values()) or 1
    print(t, names[t], " ".join(f"{k}={100 * v / total:.0f}%" for k, v in c.most_common(4)))
print(f"({n} samples per thread)")
EOF
fi
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
    perf report -i "$tmp/perf.data" --no-children --sort pid,dso --stdio -g none \
      2>/dev/null | grep -v '^#' | grep -v '^$' | head -15 >"$tmp/perf-dso.txt" || true
    # Inclusive time of a few telling functions, per thread.
    perf report -i "$tmp/perf.data" --children --sort pid,sym --stdio -g none 2>/dev/null |
      grep -E '\] (clock_nanosleep|epoll_wait|__libc_connect|__GI___shutdown|__close|__libc_close|__libc_recv|__libc_send|__libc_sendmsg|__libc_recvmsg|writev|__writev|__libc_write|__libc_read|readv)(@[A-Z_.0-9]*)?$|probe_op|health_checker|checker_impl|nlohmann' |
      awk '{$2 = ""; print}' | cut -c1-150 | head -25 >"$tmp/perf-calls.txt" || true
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
CUR_INTERVAL=$BASE_INTERVAL
start_agent baseline "$BASE_INTERVAL"
log "agent (health interval $BASE_INTERVAL) pid $agent_pid on port $agent_port"
fill baseline
B_FILL=$FILL_SECONDS
sleep "$SETTLE"
log "baseline: measuring ${WINDOW}s (+${QUIET}s quiet)"
measure b baseline
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
  other processes in the window: $(cat "$tmp/h-others.txt" 2>/dev/null) (baseline: $(cat "$tmp/b-others.txt" 2>/dev/null))
  /api/health/services sampled each second: ${P_h_bytes} bytes, median ${P_h_reqms} ms per answer (baseline ${P_b_reqms} ms)
  without any API request (${QUIET}s after the window): agent ${P_h_qagent}% (baseline ${P_b_qagent}%), echo ${P_h_qecho}%, checks/s ${P_h_qcps}, lateness p99 ${P_h_qlat} ms
  checks in the window: ${P_h_checks} = ${P_h_cps}/s of ${P_h_expected}/s scheduled (baseline ${P_b_checks})
  check durations (each instance's last check): ${P_h_dur}
  failures in the window: ${P_h_fail}, since the agent started: ${P_h_totfail}; status changes logged in the window: ${P_h_trans}
  instances at the end: ${P_h_ninst}; statuses: $(cat "$tmp/h-statuses.txt" 2>/dev/null)
  lateness samples answered: ${P_h_latn} of $((WINDOW + 1)); baseline median ${P_b_latmed} ms, max ${P_b_latmax} ms
  TIME_WAIT sockets (ss -s): ${P_h_tw0} at the window's start, ${P_h_tw1} at its end (baseline ${P_b_tw1})
  agent context switches/s (all threads): ${P_h_csw} (baseline ${P_b_csw})
  kernel TCP counters in the window (whole machine): ${P_h_net}
  agent log lines (health phase): $H_AGENT_LOG_LINES
goals: agent < 30% of one core: $(awk -v a="$P_h_agent" 'BEGIN{print (a != "n/a" && a < 30) ? "met" : "MISSED"}'); lateness p99 < 50 ms: $(awk -v m="$P_h_latmax" -v d="$P_h_latmed" 'BEGIN{ if (m == "n/a") print "n/a"; else if (m < 50) print "met (every sample)"; else if (d < 50) print "met by the median, not by the max"; else print "MISSED"}')
EOF
echo "agent threads over the window (tid name %-of-one-core context-switches/s):"
head -8 "$tmp/h-threads.txt" | sed 's/^/  /'
if [[ -s "$tmp/h-errors.txt" ]]; then
  echo "last errors of the instances (health phase):"
  head -5 "$tmp/h-errors.txt" | sed 's/^/  /'
fi
echo "lateness samples (k, p99 ms, answer ms):"
awk '{printf "%s:%s/%.0f ", $1, $2, $5 * 1000} END {print ""}' "$tmp/h-lateness.txt" | fold -s -w 100 | sed 's/^/  /'
if [[ -s "$tmp/states.txt" ]]; then
  echo "agent thread states after the window (${STATE_SECONDS}s, every 5 ms; R = on a core or waiting for one):"
  sed 's/^/  /' "$tmp/states.txt"
fi
if [[ "$perf_note" == ok ]]; then
  echo "perf (agent, ${PERF_SECONDS}s after the window, self time by comm,dso):"
  sed 's/^/  /' "$tmp/perf-dso.txt"
  echo "perf (agent, top symbols, self time):"
  head -15 "$tmp/perf-top.txt" | cut -c1-150 | sed 's/^/  /'
  echo "perf (agent, inclusive time of some functions, by thread):"
  sed 's/^/  /' "$tmp/perf-calls.txt"
else
  echo "perf: $perf_note"
fi
[[ -n "$busy_seen" ]] && echo "WARNING: cc1plus ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
