#!/usr/bin/env bash
# Chaos benchmark: GET load through /proxy while the upstream instances are
# killed (SIGKILL) and restarted one at a time.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything this script starts is
# stopped on exit. It exits 0 whatever the error counts are (it fails only
# when it cannot set the run up).
#
#   tests/bench/chaos_bench.sh
#   D=8s tests/bench/chaos_bench.sh
#   BENCH_LOCK= tests/bench/chaos_bench.sh          # no lock protocol
#
# Setup: ECHOES (3) `valmesh-echo --port P --name eN` on free loopback ports,
# one agent `valmesh agent --dev --health-interval 1s --http 127.0.0.1:PORT
# --cluster 127.0.0.1:0 --config CFG $AGENT_ARGS`, CFG registering the echoes
# as instances echo-eN of service `echo`. Once all are passing:
# `wrk -t2 -c16 -dD --latency http://127.0.0.1:PORT/proxy/echo/x`, and every
# KILL_EVERY (5) s from the start of the load (while the load runs) echo
# e1, e2, e3, e1, ... in turn is killed with SIGKILL and started again on the
# same port RESTART_AFTER (1) s later. Reported: wrk's total requests,
# non-2xx/3xx responses (wrk prints the line only when there are some:
# absent = 0), socket errors, requests/s and latency, the agent's CPU
# (utime+stime over the load), the kill/restart timeline, the health status
# and breaker changes the agent logged during the load and each instance's
# status before and after.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before the load wait (poll 2 s, up to LOCK_WAIT s) until no compiler, build
# tool or test binary (BUSY_RE in lib.sh) runs and the lock file is absent,
# create it (noclobber), delete it after the load or on exit. A watchdog stops
# the run if the hold passes LOCK_MAX s (it runs with the lock protocol off
# too).
#
# Environment (defaults in brackets):
#   D [20s]  THREADS [2]  CONNS [16]  ECHOES [3]  KILL_EVERY [5] s
#   RESTART_AFTER [1] s  AGENT_ARGS [] extra agent flags
#   VALMESH [build/valmesh]  ECHO [build/examples/valmesh-echo]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
#
# Helpers shared with the other benchmarks (tools, cleanup, lock protocol,
# CPU ticks, ports, polling, wrk output): tests/bench/lib.sh.
set -euo pipefail

bench_name=chaos-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
ECHO="${ECHO:-$root/build/examples/valmesh-echo}"
D="${D:-20s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-16}"
ECHOES="${ECHOES:-3}"
KILL_EVERY="${KILL_EVERY:-5}"
RESTART_AFTER="${RESTART_AFTER:-1}"
AGENT_ARGS="${AGENT_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"

[[ "$D" =~ ^[1-9][0-9]*s?$ ]] || die "D must be whole seconds, like 20s"
DSEC="${D%s}"
[[ "$KILL_EVERY" =~ ^[1-9][0-9]*$ ]] || die "KILL_EVERY must be whole seconds"
[[ "$RESTART_AFTER" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "RESTART_AFTER must be seconds"
[[ "$ECHOES" =~ ^[1-9][0-9]*$ ]] || die "ECHOES must be a positive number"

# -- tools ------------------------------------------------------------------
install_tools wrk jq curl ss pgrep
require_tools wrk jq curl ss pgrep
require_built "$VALMESH" "$ECHO"

# -- cleanup ------------------------------------------------------------------
echo_pids=() echo_ports=() echo_starts=() agent_pid="" notes=()
stop_all() { # RC
  local p
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  [[ -n "$agent_pid" ]] && kill_wait "$agent_pid" TERM 5
  for p in "${echo_pids[@]}"; do [[ -n "$p" ]] && kill_wait "$p" TERM 3; done
  lock_release
}
bench_setup valmesh-chaos-bench

# -- helpers ----------------------------------------------------------------------
since() { awk -v a="$t_load" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}'; }

# Starts echo I (0-based) on PORT; waits up to SECONDS for /health 200.
# Sets echo_pids[I]; returns 1 if it did not come up.
run_echo() { # I PORT SECONDS
  local i=$1 port=$2 n
  n=$((${echo_starts[i]:-0} + 1))
  echo_starts[i]=$n
  "$ECHO" --port "$port" --name "e$((i + 1))" >"$tmp/echo-$((i + 1))-$n.log" 2>&1 &
  echo_pids[i]=$!
  poll $(($3 * 20)) 0.05 "${echo_pids[i]}" http_ok "http://127.0.0.1:$port/health" 1 && return 0
  kill_wait "${echo_pids[i]}" TERM 2
  echo_pids[i]=""
  return 1
}
start_echo() { # I: first start, on a fresh free port
  local i=$1 port
  for _ in 1 2 3; do
    port="$(free_port)"
    if run_echo "$i" "$port" 5; then echo_ports[i]=$port; return 0; fi
  done
  cat "$tmp/echo-$((i + 1))-"*.log >&2
  die "echo e$((i + 1)) did not start"
}
# Restart on the same port: tries again (0.2 s apart) for up to 3 s if the
# port is not free again yet.
restart_echo() { # I
  local i=$1 t0=$SECONDS
  while ! run_echo "$i" "${echo_ports[i]}" 2; do
    if ((SECONDS - t0 >= 3)); then
      notes+=("echo e$((i + 1)) did not restart on port ${echo_ports[i]}: $(tail -2 "$tmp/echo-$((i + 1))-${echo_starts[i]}.log" | tr '\n' ' ')")
      return 1
    fi
    sleep 0.2
  done
}

start_agent() { # -> agent_pid agent_port
  local cfg="$tmp/valmesh.json" i
  {
    printf '{"services":['
    for ((i = 0; i < ECHOES; i++)); do
      ((i == 0)) || printf ','
      printf '{"name":"echo","id":"echo-e%d","host":"127.0.0.1","port":%s}' "$((i + 1))" "${echo_ports[i]}"
    done
    printf ']}\n'
  } >"$cfg"
  for _ in 1 2 3; do
    agent_port="$(free_port)"
    # shellcheck disable=SC2086 # AGENT_ARGS is a list of extra agent flags
    "$VALMESH" agent --dev --health-interval 1s --http "127.0.0.1:$agent_port" \
      --cluster 127.0.0.1:0 --config "$cfg" --node-name chaos-bench --drain-timeout 2s \
      $AGENT_ARGS >"$tmp/agent.log" 2>&1 &
    agent_pid=$!
    poll 50 0.1 "$agent_pid" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$agent_port/health" 2>/dev/null &&
      return 0
    cat "$tmp/agent.log" >&2
    kill_wait "$agent_pid" TERM 5
    agent_pid=""
  done
  die "agent did not start"
}
passing_count() {
  curl -fsS --max-time 2 "http://127.0.0.1:$agent_port/api/services/echo" 2>/dev/null |
    jq '[.instances[] | select(.status == "passing")] | length' 2>/dev/null || echo 0
}
statuses() {
  curl -fsS --max-time 2 "http://127.0.0.1:$agent_port/api/services/echo" 2>/dev/null |
    jq -r '[.instances[] | "\(.id)=\(.status)"] | sort | join(" ")' 2>/dev/null || echo "n/a"
}

# -- run --------------------------------------------------------------------------
binary_info="$(describe_binary "$VALMESH")"
for ((i = 0; i < ECHOES; i++)); do start_echo "$i"; done
log "echoes: $(for ((i = 0; i < ECHOES; i++)); do printf 'e%d=127.0.0.1:%s(pid %s) ' "$((i + 1))" "${echo_ports[i]}" "${echo_pids[i]}"; done)"
start_agent
log "agent pid $agent_pid on 127.0.0.1:$agent_port (flags: --dev --health-interval 1s ${AGENT_ARGS})"
url="http://127.0.0.1:$agent_port/proxy/echo/x"
for ((i = 0; i < 100; i++)); do
  (($(passing_count) >= ECHOES)) && break
  sleep 0.1
done
(($(passing_count) >= ECHOES)) || die "only $(passing_count) of $ECHOES instances passing after 10 s: $(statuses)"
[[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" == 200 ]] || die "$url is not 200"
log "all $ECHOES instances passing: $(statuses)"
statuses_before="$(statuses)"

lock_acquire chaos
check_quiet chaos
log_lines0="$(wc -l <"$tmp/agent.log")"
a0="$(proc_ticks "$agent_pid")"
t_load="$(now)"
wrk -t"$THREADS" -c"$CONNS" -d"$D" --latency "$url" >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!
events=()
for ((k = 1; k * KILL_EVERY < DSEC; k++)); do
  i=$(((k - 1) % ECHOES))
  sleep_until "$(awk -v a="$t_load" -v s=$((k * KILL_EVERY)) 'BEGIN{printf "%.6f", a + s}')"
  kill -0 "$wrk_pid" 2>/dev/null || break
  old="${echo_pids[i]}"
  if [[ -n "$old" ]]; then
    kill -KILL "$old" 2>/dev/null || true
    wait "$old" 2>/dev/null || true
    echo_pids[i]=""
    events+=("+$(since)s  SIGKILL e$((i + 1)) (pid $old, port ${echo_ports[i]})")
  fi
  sleep_until "$(awk -v a="$t_load" -v s="$((k * KILL_EVERY))" -v r="$RESTART_AFTER" 'BEGIN{printf "%.6f", a + s + r}')"
  if restart_echo "$i"; then
    events+=("+$(since)s  restarted e$((i + 1)) (pid ${echo_pids[i]}, port ${echo_ports[i]}, answering /health)")
  else
    events+=("+$(since)s  e$((i + 1)) did NOT restart")
  fi
done
wait "$wrk_pid" || true
wrk_pid=""
t_end="$(now)"
a1="$(proc_ticks "$agent_pid")"
check_quiet chaos
lock_release
statuses_after="$(statuses)"
sleep 1.5  # one more health round: the last restarted echo passes again
statuses_later="$(statuses)"

# -- report -----------------------------------------------------------------------
out="$tmp/wrk.out"
parse_wrk "$out" || true
[[ -n "$W_REQS" ]] || { cat "$out" >&2; notes+=("wrk output not understood (above)"); }
secs="$(awk -v a="$t_load" -v b="$t_end" 'BEGIN{printf "%.3f", b - a}')"
agent_cpu="$(pct $((a1 - a0)) "$secs")"

cat <<EOF

chaos benchmark: wrk -t$THREADS -c$CONNS -d$D --latency $url
$ECHOES echoes, one SIGKILLed every ${KILL_EVERY}s in turn, restarted ${RESTART_AFTER}s later; agent --dev --health-interval 1s ${AGENT_ARGS}
valmesh: $binary_info; $(nproc) cores, $((SECONDS - started_at))s
total requests:            ${W_REQS:-n/a}
non-2xx/3xx responses:     ${W_NON2XX:-0}
socket errors:             ${W_SOCK:-none (connect 0 read 0 write 0 timeout 0)}
requests/s:                ${W_RPS:-n/a}
latency p50 / p99:         $W_P50 / $W_P99 ms
agent CPU over the load:   ${agent_cpu}% of one core
kills and restarts (seconds since the load started):
EOF
if ((${#events[@]})); then printf '  %s\n' "${events[@]}"; else echo "  none (D=$D is not longer than KILL_EVERY=${KILL_EVERY}s)"; fi
echo "health status and breaker changes the agent logged during the load:"
tail -n +"$((log_lines0 + 1))" "$tmp/agent.log" |
  grep -e ' is \(critical\|passing\|warning\|unknown\) (was ' -e ' breaker/.* -> ' |
  sed 's/^/  /' || echo "  none"
echo "instances: before $statuses_before"
echo "           right after the load $statuses_after; 1.5 s later $statuses_later"
for v in "${notes[@]}"; do echo "note: $v"; done
kill -0 "$agent_pid" 2>/dev/null || echo "note: the agent exited during the run: $(tail -3 "$tmp/agent.log" | tr '\n' ' ')"
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during the load ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
