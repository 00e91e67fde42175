#!/usr/bin/env bash
# Soak run: a long mixed load on one agent, sampling its memory, open file
# descriptors and threads, to show that they stay flat (docs/TESTING.md,
# docs/BENCHMARKS.md "Soak").
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything this script starts is
# stopped on exit. It exits 0 when the run completed, whatever the figures
# (it fails only when it cannot set the run up).
#
#   tests/bench/soak.sh                 # 30 minutes, a sample a minute
#   D=300 SAMPLE=30 tests/bench/soak.sh # a short run
#   BENCH_LOCK= tests/bench/soak.sh     # no lock protocol
#
# Setup: ECHOES (3) `valmesh-echo` instances, one agent with a data dir
# (durable store), `--health-interval 1s --enable-fault-injection`, the
# echoes registered as service `echo` with HTTP checks. Load, for D seconds,
# each a loop of its own:
#   registrations  every 0.2 s an instance `soak-K` (K = N mod 40, so the
#                  ids and their tombstones stay bounded) with `ttl 10s`
#                  registered, and the one 20 before it deregistered
#   heartbeats     every 0.5 s a heartbeat for each of the live TTL instances
#   resolves       `GET /api/services/echo/resolve` in batches of 20
#                  over keep-alive (curl with several URLs)
#   proxied calls  `GET /proxy/echo/soak` in batches of 20
#   subscribers    every 2 s an SSE client on /api/events that stays 1-8 s
#   crashes        every 60 s `POST /api/debug/actors/<a health checker>/crash`
# Sampled every SAMPLE (60) s from /proc: VmRSS, open descriptors, threads.
# Reported: the samples, each measure's growth from the sample at WARMUP
# (300 s, or a sixth of D if shorter) to the last, and per load loop its
# requests and errors (an error: a request that failed or got an unexpected
# status).
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# as the other benchmarks (tests/bench/lib.sh), held for the whole run
# (LOCK_MAX defaults to D + 120 s here).
#
# Environment (defaults in brackets):
#   D [1800] s  SAMPLE [60] s  WARMUP [300] s  ECHOES [3]
#   VALMESH [build/valmesh]  ECHO [build/examples/valmesh-echo]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s
set -euo pipefail

bench_name=soak
D="${D:-1800}"
LOCK_MAX="${LOCK_MAX:-$((D + 120))}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
ECHO="${ECHO:-$root/build/examples/valmesh-echo}"
SAMPLE="${SAMPLE:-60}"
WARMUP="${WARMUP:-300}"
ECHOES="${ECHOES:-3}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
[[ "$D" =~ ^[1-9][0-9]*$ ]] || die "D must be whole seconds"
((WARMUP * 6 <= D)) || WARMUP=$((D / 6))

require_built "$VALMESH" "$ECHO"
install_tools curl ss
require_tools curl ss

echo_pids=() loop_pids=() agent_pid=""
stop_all() {
  local p
  for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -z "$agent_pid" ]] || kill_wait "$agent_pid" TERM 15
  for p in "${echo_pids[@]}"; do kill_wait "$p" TERM 5; done
  lock_release
}
bench_setup soak

# -- setup ----------------------------------------------------------------------
services="[]"
for ((i = 1; i <= ECHOES; i++)); do
  p="$(free_port)"
  "$ECHO" --port "$p" --name "e$i" >"$tmp/echo$i.log" 2>&1 &
  echo_pids+=($!)
  wait_ok "http://127.0.0.1:$p/health" 10 "${echo_pids[-1]}" ||
    die "valmesh-echo e$i did not start"
  services="$(echo "$services" | sed "s/]$//")"
  [[ "$services" == "[" ]] || services+=","
  services+="{\"name\":\"echo\",\"id\":\"echo-e$i\",\"host\":\"127.0.0.1\",\"port\":$p}]"
done
echo "{\"services\":$services}" >"$tmp/agent.json"
"$VALMESH" agent --http 127.0.0.1:0 --cluster 127.0.0.1:0 \
  --data-dir "$tmp/data" --config "$tmp/agent.json" --health-interval 1s \
  --enable-fault-injection >"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_log_port "$tmp/agent.log" "$agent_pid" "$AGENT_STARTED"
[[ -n "$PORT" ]] || die "the agent did not start: $(tail -5 "$tmp/agent.log")"
base="http://127.0.0.1:$PORT"
log "agent $agent_pid on $base; $ECHOES echoes"
for _ in $(seq 100); do
  # (grep finds nothing until the first checks pass: not an error)
  n="$(curl -s "$base/api/services/echo" | { grep -o '"status":"passing"' || true; } | wc -l)"
  ((n >= ECHOES)) && break
  sleep 0.2
done

# -- load -------------------------------------------------------------------------
# Each loop appends "requests errors" lines to its own file every batch.
count() { echo "$1 $2" >>"$tmp/$3.count"; }

register_loop() {
  local n=0 code errs
  while :; do
    n=$((n + 1)); errs=0
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/services" \
      -d "{\"name\":\"soak\",\"id\":\"soak-$((n % 40))\",\"host\":\"127.0.0.1\",\"port\":$((10000 + n % 50000)),\"ttl\":\"10s\"}" || true)"
    [[ "$code" == 201 || "$code" == 200 ]] || errs=$((errs + 1))
    echo "$n" >"$tmp/registered"
    if ((n > 20)); then
      code="$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/api/services/soak/soak-$(((n - 20) % 40))" || true)"
      [[ "$code" == 204 || "$code" == 404 ]] || errs=$((errs + 1))
      count 2 "$errs" register
    else
      count 1 "$errs" register
    fi
    sleep 0.2
  done
}
heartbeat_loop() {
  local n k urls errs codes
  while :; do
    n="$(cat "$tmp/registered" 2>/dev/null || echo 0)"
    urls=()
    for ((k = n > 20 ? n - 19 : 1; k <= n; k++)); do
      urls+=(-o /dev/null "$base/api/services/soak/soak-$((k % 40))/heartbeat")
    done
    if ((${#urls[@]})); then
      codes="$(curl -s -w '%{http_code}\n' -X PUT "${urls[@]}" || true)"
      # 404: deregistered between the read of `registered` and the call.
      errs="$(echo "$codes" | grep -cvE '^(200|404)$' || true)"
      count $((${#urls[@]} / 3)) "$errs" heartbeat
    fi
    sleep 0.5
  done
}
batch_loop() { # NAME URL GOOD_RE
  local urls=() k codes errs
  for ((k = 0; k < 20; k++)); do urls+=(-o /dev/null "$2"); done
  while :; do
    codes="$(curl -s -w '%{http_code}\n' "${urls[@]}" || true)"
    errs="$(echo "$codes" | grep -cvE "^($3)$" || true)"
    count 20 "$errs" "$1"
    sleep 0.05
  done
}
subscriber_loop() {
  local rc
  while :; do
    rc=0
    curl -s -N --max-time $((1 + RANDOM % 8)) "$base/api/events" >/dev/null || rc=$?
    # 28: the --max-time that ends each subscriber on purpose.
    if ((rc == 28)); then count 1 0 subscribe; else count 1 1 subscribe; fi
    sleep 2
  done
}
crash_loop() {
  local name code
  while :; do
    sleep 60
    name="$(curl -s "$base/api/actors" | grep -o '"name":"[^"]*checker[^"]*"' |
      head -1 | cut -d'"' -f4 || true)"
    if [[ -z "$name" ]]; then count 1 1 crash; continue; fi
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST \
      "$base/api/debug/actors/$(printf '%s' "$name" | sed 's|/|%2F|g')/crash" || true)"
    if [[ "$code" =~ ^2 ]]; then count 1 0 crash; else count 1 1 crash; fi
  done
}

sample() { # ELAPSED
  local rss fds threads
  rss="$(awk '/^VmRSS/{print $2}' "/proc/$agent_pid/status")"
  threads="$(awk '/^Threads/{print $2}' "/proc/$agent_pid/status")"
  fds="$(find "/proc/$agent_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
  echo "$1 $rss $fds $threads" >>"$tmp/samples"
  check_quiet "t=$1"
  log "t=${1}s rss=${rss}kB fds=$fds threads=$threads"
}

lock_acquire soak
log "load for ${D}s, a sample every ${SAMPLE}s"
register_loop & loop_pids+=($!)
heartbeat_loop & loop_pids+=($!)
batch_loop resolve "$base/api/services/echo/resolve" 200 & loop_pids+=($!)
batch_loop proxy "$base/proxy/echo/soak" 200 & loop_pids+=($!)
subscriber_loop & loop_pids+=($!)
subscriber_loop & loop_pids+=($!)
crash_loop & loop_pids+=($!)
t0=$SECONDS
sample 0
while ((SECONDS - t0 < D)); do
  sleep_until "$(awk -v n="$(now)" -v s="$SAMPLE" 'BEGIN{printf "%.3f", n + s}')"
  kill -0 "$agent_pid" 2>/dev/null || die "the agent exited: $(tail -5 "$tmp/agent.log")"
  sample $((SECONDS - t0))
done
for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${loop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
loop_pids=()
lock_release

# -- report -----------------------------------------------------------------------
echo
echo "soak: ${D}s, $(describe_binary "$VALMESH" || echo "?")"
echo "busy during the run: ${busy_seen:-none}"
echo
echo "| t (s) | RSS (kB) | fds | threads |"
echo "| ---: | ---: | ---: | ---: |"
awk '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$tmp/samples"
echo
awk -v w="$WARMUP" '
  $1 >= w && !base { base = 1; r0 = $2; f0 = $3; t0 = $4; at = $1 }
  { r1 = $2; f1 = $3; t1 = $4; last = $1 }
  END {
    if (!base) { print "no sample after the warm-up"; exit }
    printf "growth from t=%ds to t=%ds: RSS %+.1f%% (%d -> %d kB), fds %+d (%d -> %d), threads %+d (%d -> %d)\n",
      at, last, 100 * (r1 - r0) / r0, r0, r1, f1 - f0, f0, f1, t1 - t0, t0, t1
  }' "$tmp/samples"
echo
echo "| load | requests | errors |"
echo "| --- | ---: | ---: |"
for k in register heartbeat resolve proxy subscribe crash; do
  [[ -f "$tmp/$k.count" ]] || { echo "| $k | 0 | 0 |"; continue; }
  awk -v k="$k" '{r += $1; e += $2} END {printf "| %s | %d | %d |\n", k, r, e}' "$tmp/$k.count"
done
echo "agent log: $(grep -cE '^[^ ]+ (error|critical) ' "$tmp/agent.log" || true) error or critical lines"
