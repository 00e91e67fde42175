#!/usr/bin/env bash
# Durable store benchmark: registrations per second with the
# durable store (fsync per group commit) against --dev, in one run on the same
# machine, and the time a node takes to recover RECOVER_INSTANCES (100,000)
# instances from its data dir on start.
#
# Runs on demand only, never in the timed suite; run it alone on the machine:
#
#   flock -x /tmp/valmesh-cpu.lock tests/bench/store_bench.sh
#   DURATION=5s RECOVER_INSTANCES=20000 tests/bench/store_bench.sh
#
# Steps (one valmesh node alive at a time, each on fresh state):
#   1. node dev (--dev): wrk -tTHREADS -cCONNS POSTs unique instances of
#      `bench` for DURATION -> registrations/s (2xx answers only).
#   2. node durable (--data-dir, fresh): the same -> registrations/s; its
#      stop line gives the appends per fsync (the group commit's batch size).
#   3. node fill (fresh data dir): exactly RECOVER_INSTANCES instances, then
#      kill -9. Node recover starts on that dir; the time from its exec until
#      GET /api/services shows all of them is the recovery time (the time to
#      the "recovered" log line is printed beside it).
# The instances point at 127.0.0.1:CHECK_PORT where nothing listens; NODE_ARGS
# defaults to `--health-interval 1h`, so checks do not repeat during a run.
#
# Environment (defaults in brackets):
#   DURATION [10s]  THREADS [2]  CONNS [32]  RECOVER_INSTANCES [100000]
#   NODE_ARGS [--health-interval 1h]  FILL_TIMEOUT [90] seconds
#   RECOVER_TIMEOUT [60] seconds  MAX_SECONDS [400] for the whole run
#   VALMESH [build/valmesh]  KEEP_TMP [0]
#
# Helpers shared with the other benchmarks: tests/bench/lib.sh.
set -euo pipefail

bench_name=store-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
RECOVER_INSTANCES="${RECOVER_INSTANCES:-100000}"
NODE_ARGS="${NODE_ARGS---health-interval 1h}"
FILL_TIMEOUT="${FILL_TIMEOUT:-90}"
RECOVER_TIMEOUT="${RECOVER_TIMEOUT:-60}"
MAX_SECONDS="${MAX_SECONDS:-400}"
BUSY_RE='cc1plus|cc1|collect2|ld|ld.gold|ninja|make|cmake|ctest'
busy_note=every

require_tools wrk jq curl ss
require_built "$VALMESH"

node_pids=() notes=()
stop_all() { # RC
  local p
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  for p in "${node_pids[@]}"; do kill_wait "$p" KILL 1; done
  [[ -n "$watchdog_pid" ]] && { kill "$watchdog_pid" 2>/dev/null || true; }
  return 0
}
bench_setup valmesh-store-bench
start_watchdog "$MAX_SECONDS" "[store-bench] MAX_SECONDS=$MAX_SECONDS reached, stopping"

# -- wrk scripts (the same registrations as registry_bench.sh) -----------------
cat >"$tmp/stats.lua" <<'EOF'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTAT requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
EOF
register_common='
local threads = {}
local counter, ok, quota, tag, port = 0, 0, 0, "r", 6000
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  tag = args[1] or "r"
  port = tonumber(args[2] or "6000") or 6000
  quota = tonumber(args[3] or "0") or 0
end
function request()
  local n = counter
  counter = counter + 1
  if quota > 0 then n = n % quota end
  local body = string.format(
    "{\"name\":\"bench\",\"id\":\"bench-%s-%d-%d\",\"host\":\"127.0.0.1\",\"port\":%d,\"metadata\":{\"zone\":\"eu-1\"}}",
    tag, tid, n, port)
  return wrk.format("POST", "/api/services",
                    {["Content-Type"] = "application/json"}, body)
end
'
{ echo "$register_common"; cat "$tmp/stats.lua"; } >"$tmp/register.lua"
{ echo "$register_common"; cat "$tmp/stats.lua"; cat <<'EOF'
function response(status, headers, body)
  if status == 201 or status == 200 then ok = ok + 1 end
  if ok >= quota then wrk.thread:stop() end
end
EOF
} >"$tmp/fill.lua"

parse_wrkstat() { # FILE -> W_RPS W_P50 W_P99 (us) W_ERRS
  local line requests duration_us status connect read write timeout p50_us p99_us
  line="$(grep -m1 '^WRKSTAT' "$1")" || return 1
  [[ "$line" =~ ^WRKSTAT(\ [a-z0-9_]+=[0-9]+)+$ ]] || return 1
  local ${line#WRKSTAT }
  W_P50=$p50_us W_P99=$p99_us
  W_RPS="$(awk -v r="$requests" -v s="$status" -v d="$duration_us" 'BEGIN{printf "%.1f", (r-s)/(d/1e6)}')"
  W_ERRS="non2xx=$status connect=$connect read=$read write=$write timeout=$timeout"
}
ms() { [[ -n "$1" ]] && awk -v u="$1" 'BEGIN{printf "%.2fms", u/1000}' || echo "n/a"; }

# -- nodes ------------------------------------------------------------------------
start_node() { # NAME [FLAGS...] -> NODE_PID NODE_PORT
  local name=$1
  shift
  # shellcheck disable=SC2086 # NODE_ARGS is a list of flags
  "$VALMESH" agent --node-name "bench-$name" --http 127.0.0.1:0 \
    --cluster 127.0.0.1:0 "$@" $NODE_ARGS >"$tmp/node-$name.log" 2>&1 &
  NODE_PID=$!
  node_pids+=("$NODE_PID")
}
await_node() { # NAME SECONDS
  local t0=$SECONDS
  PORT=""
  while [[ -z "$PORT" ]] && ((SECONDS - t0 < $2)) && kill -0 "$NODE_PID" 2>/dev/null; do
    log_port "$tmp/node-$1.log" "$AGENT_STARTED" || sleep 0.02
  done
  NODE_PORT=$PORT
  [[ -n "$NODE_PORT" ]] || { cat "$tmp/node-$1.log" >&2; die "node $1 did not start"; }
}
stop_node() { # NAME PID SIGNAL
  KILLED=0
  kill_wait "$2" "$3" 5
  ((KILLED)) && notes+=("node $1 did not stop within 5 s of SIG$3 (killed)")
  forget_pid node_pids "$2"
}

CHECK_PORT="$(free_port)"

# -- 1 and 2: registrations/s, --dev and durable ---------------------------------
run_register() { # NAME FLAGS...
  local name=$1
  shift
  start_node "$name" "$@"
  await_node "$name" 10
  check_quiet "$name"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency -s "$tmp/register.lua" \
    "http://127.0.0.1:$NODE_PORT/api/services" -- "$name" "$CHECK_PORT" >"$tmp/wrk-$name.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  check_quiet "$name"
  parse_wrkstat "$tmp/wrk-$name.out" || { cat "$tmp/wrk-$name.out" >&2; die "wrk $name failed"; }
  printf -v "R_${name}_rps" '%s' "$W_RPS"
  printf -v "R_${name}_p50" '%s' "$W_P50"
  printf -v "R_${name}_p99" '%s' "$W_P99"
  printf -v "R_${name}_errs" '%s' "$W_ERRS"
  log "$name: $(printf '%.0f' "$W_RPS") registrations/s, p50 $(ms "$W_P50") p99 $(ms "$W_P99"), $W_ERRS"
  stop_node "$name" "$NODE_PID" TERM
}
log "registrations for $DURATION each (wrk -t$THREADS -c$CONNS): --dev, then durable"
run_register dev --dev
run_register durable --data-dir "$tmp/data-durable"
GROUP="$(grep -o 'store: stopping: .*' "$tmp/node-durable.log" | head -1 || true)"
DURABLE_BYTES="$(du -sb "$tmp/data-durable" | cut -f1)"

# -- 3: recovery of RECOVER_INSTANCES ----------------------------------------------
log "filling a durable node with $RECOVER_INSTANCES instances"
start_node fill --data-dir "$tmp/data-recover"
await_node fill 10
fill_port=$NODE_PORT fill_pid=$NODE_PID
quota=$(((RECOVER_INSTANCES + THREADS - 1) / THREADS))
target=$((quota * THREADS))
t0=$SECONDS
wrk -t"$THREADS" -c"$CONNS" -d"${FILL_TIMEOUT}s" --timeout 5s -s "$tmp/fill.lua" \
  "http://127.0.0.1:$fill_port/api/services" -- fill "$CHECK_PORT" "$quota" \
  >"$tmp/wrk-fill.out" 2>&1 &
wrk_pid=$!
wrk_until $((FILL_TIMEOUT + 5)) 0.5 holds "$fill_port" "$target"
FILLED="$(instance_count "$fill_port")"
FILL_SECONDS=$((SECONDS - t0))
((FILLED >= target)) || die "fill: only $FILLED of $target instances"
log "filled $FILLED in ${FILL_SECONDS}s; kill -9"
stop_node fill "$fill_pid" KILL
RECOVER_BYTES="$(du -sb "$tmp/data-recover" | cut -f1)"
RECOVER_FILES="$(cd "$tmp/data-recover" && ls | tr '\n' ' ')"
check_quiet recover
t_start="$(now)"
start_node recover --data-dir "$tmp/data-recover"
await_node recover "$RECOVER_TIMEOUT"
t_listen="$(now)"
have=0
while ((have < FILLED)); do
  have="$(instance_count "$NODE_PORT" 2>/dev/null || echo 0)"
  awk -v a="$t_start" -v n="$(now)" -v m="$RECOVER_TIMEOUT" 'BEGIN{exit !(n - a > m)}' &&
    die "recover: $have of $FILLED after ${RECOVER_TIMEOUT}s"
done
t_all="$(now)"
check_quiet recover
RECOVERED_LINE="$(grep -o 'store: recovered .*' "$tmp/node-recover.log" | head -1 || true)"
stop_node recover "$NODE_PID" TERM

# -- summary -------------------------------------------------------------------------
awk_ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "durable store benchmark"
echo "$(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, same run, $((SECONDS - started_at))s"
echo "valmesh binary: $(describe_binary "$VALMESH"); node flags: ${NODE_ARGS:-(none)}"
printf '%-28s %-14s %-20s\n' "" "ok/s" "p50/p99"
printf '%-28s %-14s %-20s\n' "register --dev" "$(printf '%.0f' "$R_dev_rps")" "$(ms "$R_dev_p50")/$(ms "$R_dev_p99")"
printf '%-28s %-14s %-20s\n' "register durable" "$(printf '%.0f' "$R_durable_rps")" "$(ms "$R_durable_p50")/$(ms "$R_durable_p99")"
echo "ratio durable/dev: $(awk_ratio "$R_durable_rps" "$R_dev_rps")"
echo "group commit: ${GROUP:-n/a}"
echo "durable data dir after the run: $DURABLE_BYTES bytes"
echo "errors: dev $R_dev_errs; durable $R_durable_errs"
awk -v n="$FILLED" -v a="$t_start" -v l="$t_listen" -v z="$t_all" 'BEGIN{
  printf "recovery: %d instances: HTTP listening after %.2fs, all %d served after %.2fs (%.0f instances/s)\n",
    n, l - a, n, z - a, n / (z - a) }'
echo "recovery data dir: $RECOVER_BYTES bytes ($RECOVER_FILES); filled in ${FILL_SECONDS}s"
echo "recovery log: ${RECOVERED_LINE:-n/a}"
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during measurements ($busy_seen): numbers are suspect"
exit 0
