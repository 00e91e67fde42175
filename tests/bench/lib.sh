# shellcheck shell=bash
# Helpers shared by the benchmark scripts in tests/bench (registry_bench.sh,
# health_bench.sh, proxy_bench.sh, chaos_bench.sh, cluster_bench.sh,
# cluster_chaos.sh). Not a script of its own:
# each one sources it right after `set -euo pipefail`,
#
#   bench_name=proxy-bench              # prefix of its log and error lines
#   source "$(dirname "$0")/lib.sh"
#
# Sourcing it sets root (the checkout), started_at (log times count from it),
# HZ (clock ticks per second), the defaults of the environment variables
# KEEP_TMP [0], LOCK_WAIT [900] and LOCK_MAX [170] (each script's header
# lists the ones it uses; BENCH_LOCK's default is each script's own), and the
# state the helpers share: tmp (made by bench_setup), wrk_pid, watchdog_pid,
# lock_taken, busy_seen, used_ports. After sourcing, a script may change:
#   BUSY_RE            processes whose presence makes a measurement worthless
#                      (default below: compilers, the linker, build tools and
#                      this project's test binaries)
#   busy_note          what check_quiet adds to busy_seen: once (default:
#                      "TAG:PROCS " once per TAG and PROCS), every ("TAG:PROCS "
#                      each time), tag ("TAG " each time)
#   watchdog_unlocked  1 (default): lock_acquire starts the watchdog with the
#                      lock protocol off too; 0: only when it took the lock
#   lock_waits_for     what lock_acquire's give-up message names (default: the
#                      busy processes running at that moment)
# Before bench_setup it defines stop_all RC, which the EXIT trap calls first:
# stop what the script started and release its lock.
# shellcheck disable=SC2034 # variables set here are read by the scripts

: "${bench_name:?set bench_name before sourcing lib.sh}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
started_at=$SECONDS
KEEP_TMP="${KEEP_TMP:-0}"
LOCK_WAIT="${LOCK_WAIT:-900}"
LOCK_MAX="${LOCK_MAX:-170}"
HZ="$(getconf CLK_TCK)"
log() { echo "[$bench_name +$((SECONDS - started_at))s] $*" >&2; }
die() { echo "[$bench_name] error: $*" >&2; exit 1; }

tmp="" wrk_pid="" watchdog_pid="" lock_taken=0 busy_seen="" used_ports=" "
BUSY_RE='cc1plus|cc1|collect2|ld|ld.gold|ninja|make|cmake|ctest|valmesh_.*'
busy_note=once watchdog_unlocked=1 lock_waits_for=""

# -- tools ----------------------------------------------------------------------
# The Debian package that provides TOOL.
tool_package() {
  case $1 in
    nginx) echo nginx-light ;;
    ss) echo iproute2 ;;
    pgrep) echo procps ;;
    perf) echo linux-perf ;;
    etcd) echo etcd-server ;;
    etcdctl) echo etcd-client ;;
    taskset) echo util-linux ;;
    gnuplot) echo gnuplot-nox ;;
    *) echo "$1" ;;
  esac
}
# install_tools [--strict] TOOL...: apt-get installs the package of each TOOL
# that is not on PATH. With nginx among the TOOLs a failed install is tried
# once more with `nginx` for `nginx-light`. A failed install is logged, or,
# with --strict, ends the run with apt-get's exit code.
install_tools() {
  local strict=0 t need=() rc=0
  [[ "$1" == --strict ]] && { strict=1; shift; }
  for t; do command -v "$t" >/dev/null || need+=("$(tool_package "$t")"); done
  ((${#need[@]})) || return 0
  log "installing ${need[*]}"
  # This image's policy-rc.d keeps apt from starting the system nginx and
  # haproxy services; the scripts never use or touch them either way.
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || rc=$?
  if ((rc)) && [[ " $* " == *" nginx "* ]]; then
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      "${need[@]/nginx-light/nginx}" >/dev/null || rc=$?
  fi
  ((rc == 0)) && return 0
  ((strict)) && exit "$rc"
  log "apt-get install ${need[*]} failed"
}
require_tools() { # TOOL...: ends the run unless each one is on PATH
  local t
  for t; do command -v "$t" >/dev/null || die "$t missing"; done
}
require_built() { # FILE...: ends the run unless each one is executable
  local f
  for f; do [[ -x "$f" ]] || die "$f not built"; done
}
# "MTIME (first line of `BINARY version`)"; fails when that command fails.
describe_binary() { # BINARY
  local when version
  when="$(stat -c '%y' "$1" | cut -d. -f1)"
  version="$("$1" version 2>/dev/null | head -1)" || return
  echo "$when ($version)"
}

# -- cleanup --------------------------------------------------------------------
# Makes tmp (/tmp/NAME.XXXXXX) and sets the traps: on exit, stop_all RC (the
# script's own), then tmp is removed (kept with KEEP_TMP=1) and the run exits
# with RC; SIGINT and SIGTERM end the run with 130.
bench_setup() { # NAME
  tmp="$(mktemp -d "/tmp/$1.XXXXXX")"
  trap cleanup EXIT
  trap 'log "interrupted"; exit 130' INT TERM
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all "$rc" || true
  if [[ "$KEEP_TMP" == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
# Sends SIGNAL, waits up to SECONDS for PID to exit, then SIGKILLs it (and
# sets KILLED=1); reaps it.
kill_wait() { # PID SIGNAL SECONDS
  kill -"$2" "$1" 2>/dev/null || return 0
  local k
  for ((k = 0; k < $3 * 10; k++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1" 2>/dev/null || true
    KILLED=1
  fi
  wait "$1" 2>/dev/null || true
}
forget_pid() { # ARRAY PID: removes PID from the array named ARRAY
  local -n pids_=$1
  local p kept=()
  for p in "${pids_[@]}"; do [[ "$p" == "$2" ]] || kept+=("$p"); done
  pids_=("${kept[@]}")
}

# -- lock protocol (BENCH_LOCK, LOCK_WAIT, LOCK_MAX: see each script) -----------
busy_procs() { ps -eo comm= | grep -xE "$BUSY_RE" | sort -u | tr '\n' ' ' || true; }
check_quiet() { # TAG: notes in busy_seen the busy processes running now
  local b
  b="$(busy_procs)"
  [[ -n "$b" ]] || return 0
  case $busy_note in
    tag) busy_seen+="$1 " ;;
    every) busy_seen+="$1:${b% } " ;;
    *) [[ "$busy_seen" == *"$1:${b% } "* ]] || busy_seen+="$1:${b% } " ;;
  esac
}
# SIGTERM to this script once SECONDS have passed, unless lock_release (or a
# kill of watchdog_pid) stops the watchdog first.
start_watchdog() { # SECONDS MESSAGE
  ( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$1" & sp=$!
    wait "$sp"
    echo "$2" >&2
    kill -TERM $$ ) 2>/dev/null &
  watchdog_pid=$!
}
# With BENCH_LOCK set: waits (poll 2 s, up to LOCK_WAIT s) until no busy
# process runs and BENCH_LOCK is absent, then creates it (noclobber). Then the
# watchdog: one phase never passes LOCK_MAX seconds.
lock_acquire() { # PHASE
  local t0=$SECONDS
  if [[ -n "$BENCH_LOCK" ]]; then
    while :; do
      if [[ -z "$(busy_procs)" && ! -e "$BENCH_LOCK" ]] &&
         (set -o noclobber; echo "${0##*/} pid $$ phase $1 since $(date -Is)" \
            >"$BENCH_LOCK") 2>/dev/null; then
        lock_taken=1
        break
      fi
      ((SECONDS - t0 < LOCK_WAIT)) ||
        die "waited ${LOCK_WAIT}s for ${lock_waits_for:-$(busy_procs)}/ $BENCH_LOCK"
      sleep 2
    done
    log "took $BENCH_LOCK for phase $1 (waited $((SECONDS - t0))s)"
  elif ((!watchdog_unlocked)); then
    return 0
  fi
  start_watchdog "$LOCK_MAX" "[$bench_name] phase held ${LOCK_MAX}s, stopping"
}
lock_release() { # stops the watchdog, deletes BENCH_LOCK if this run made it
  [[ -n "$watchdog_pid" ]] && { kill "$watchdog_pid" 2>/dev/null || true; wait "$watchdog_pid" 2>/dev/null || true; }
  watchdog_pid=""
  if ((lock_taken)); then
    rm -f "$BENCH_LOCK"
    lock_taken=0
    log "released $BENCH_LOCK"
  fi
}

# -- time, CPU ------------------------------------------------------------------
now() { echo "$EPOCHREALTIME"; }
sleep_until() { # EPOCH seconds (fractional)
  local d
  d="$(awk -v t="$1" -v n="$(now)" 'BEGIN{d = t - n; if (d > 0) printf "%.3f", d; else print 0}')"
  [[ "$d" == 0 ]] || sleep "$d"
}
# utime+stime of a process or thread from its stat file (the comm field may
# hold spaces); nothing, and a failure, once it is gone.
ticks_of() { sed 's/^.*) //' "$1" 2>/dev/null | awk '{print $12 + $13}'; }
proc_ticks() { ticks_of "/proc/$1/stat" || echo 0; } # PID; 0 once it is gone
# "VOLUNTARY INVOLUNTARY": the context switches of PID's threads alive now
# (/proc/PID/task/*/status); "0 0" once it is gone.
proc_switches() { # PID
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '
    $1 == "voluntary_ctxt_switches:" { v += $2 }
    $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
    END { print v + 0, n + 0 }'
}
# TICKS over SECONDS in % of one core, with DECIMALS [0] decimals.
pct() { # TICKS SECONDS [DECIMALS]
  awk -v t="$1" -v s="$2" -v hz="$HZ" -v f="%.${3:-0}f" \
    'BEGIN{ if (s > 0) printf f, 100 * t / hz / s; else print "n/a" }'
}

# -- ports, polling ----------------------------------------------------------------
# A port below the ephemeral range that no socket uses, in any state, and
# that is not in used_ports.
free_port() {
  local p lo
  lo="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  ((lo > 11000)) || lo=32768
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % (lo - 10000)))
    [[ "$used_ports" == *" $p "* ]] && continue
    ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . && continue
    used_ports+="$p "
    echo "$p"
    return
  done
  die "no free port"
}
# Runs COMMAND until it succeeds, at most TRIES times, STEP seconds apart;
# fails once the tries are used up or PID has exited.
poll() { # TRIES STEP PID COMMAND...
  local tries=$1 step=$2 pid=$3 k
  shift 3
  for ((k = 0; k < tries; k++)); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep "$step"
  done
  return 1
}
# URL answers 200 (with body BODY, if given) within MAX_TIME seconds.
http_ok() { # URL MAX_TIME [BODY]
  local out=/dev/null code
  [[ -z "${3:-}" ]] || out="$tmp/probe.out"
  code="$(curl -s -o "$out" -w '%{http_code}' --max-time "$2" "$1" 2>/dev/null || true)"
  [[ "$code" == 200 ]] && [[ -z "${3:-}" || "$(cat "$out")" == "$3" ]]
}
# Waits (up to SECONDS, while PID runs) until URL answers 200 [with BODY].
wait_ok() { # URL SECONDS PID [BODY]
  poll $(($2 * 10)) 0.1 "$3" http_ok "$1" 2 "${4:-}"
}
# The line a valmesh agent logs once it listens: "valmesh agent started: ...
# http=127.0.0.1:PORT ...".
AGENT_STARTED='valmesh agent started: .* http=127\.0\.0\.1:'
# PORT = the number right after the first match of the regex PREFIX in LOG.
log_port() { # LOG PREFIX
  PORT="$(grep -o "$2[0-9]*" "$1" | grep -o '[0-9]*$' | head -1 || true)"
  [[ -n "$PORT" ]]
}
# log_port, tried every 0.1 s for up to 10 s while PID runs; PORT stays empty
# if LOG never names a port.
wait_log_port() { # LOG PID PREFIX
  PORT=""
  poll 100 0.1 "$2" log_port "$1" "$3" || true
}
instance_count() { # PORT: instances of service `bench` on the node at PORT
  curl -fsS --max-time 10 "http://127.0.0.1:$1/api/services" |
    jq '[.services[] | select(.name == "bench") | .instanceCount] | add // 0'
}
holds() { (($(instance_count "$1") >= $2)); } # PORT N: at least N of `bench`

# -- wrk --------------------------------------------------------------------------
# Lets the wrk in wrk_pid run until it exits, SECONDS pass or COMMAND (tried
# every STEP s) succeeds, then stops it with SIGINT (it prints its figures).
wrk_until() { # SECONDS STEP COMMAND...
  local deadline=$((SECONDS + $1)) step=$2
  shift 2
  while kill -0 "$wrk_pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep "$step"
    "$@" && break
  done
  kill_wait "$wrk_pid" INT 5
  wrk_pid=""
}
# Time as wrk prints it (123.45us, 1.23ms, 1.02s, 1.50m, 2.00h) -> ms.
to_ms() {
  awk -v t="$1" 'BEGIN{ n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0 || t == "") print "n/a"; else printf "%.3f", n * f }'
}
# Figures from wrk's text output (--latency): W_RPS W_REQS W_P50 W_P99 (ms)
# W_NON2XX (0 when wrk printed no such line) W_SOCK (empty when it printed no
# socket errors); fails unless requests/s, requests and both latencies are there.
parse_wrk() { # FILE
  local f=$1 p50 p99
  W_RPS="$(awk '/^Requests\/sec:/ {print $2}' "$f")"
  W_REQS="$(awk '/ requests in / {print $1; exit}' "$f")"
  p50="$(awk '/Latency Distribution/ {d = 1; next} d && $1 == "50%" {print $2; exit}' "$f")"
  p99="$(awk '/Latency Distribution/ {d = 1; next} d && $1 == "99%" {print $2; exit}' "$f")"
  W_P50="$(to_ms "$p50")" W_P99="$(to_ms "$p99")"
  W_NON2XX="$(awk -F: '/Non-2xx or 3xx responses:/ {gsub(/ /, "", $2); print $2}' "$f")"
  W_NON2XX="${W_NON2XX:-0}"
  W_SOCK="$(sed -n 's/^ *Socket errors: //p' "$f" | tr -d ',')"
  [[ -n "$W_RPS" && -n "$W_REQS" && "$W_P50" != n/a && "$W_P99" != n/a ]]
}
# R_KEY_rps R_KEY_p50 R_KEY_p99 from W_RPS W_P50 W_P99, R_KEY_errs = ERRS.
keep_figures() { # KEY ERRS
  printf -v "R_$1_rps" '%s' "$W_RPS"
  printf -v "R_$1_p50" '%s' "$W_P50"
  printf -v "R_$1_p99" '%s' "$W_P99"
  printf -v "R_$1_errs" '%s' "$2"
}

# -- the proxy benchmarks' upstream and HAProxy ------------------------------------
# Both add the pid of what they start to the script's `procs` array (which
# its stop_all stops on exit).
# nginx in $tmp/upstream, 1 worker, keep-alive, answering every path with
# 200 "ok", on a free port (3 tries); ends the run if it does not start.
start_ok_upstream() { # -> UP_PORT UP_PID
  local dir="$tmp/upstream"
  mkdir -p "$dir" && chmod 755 "$dir"
  for _ in 1 2 3; do
    UP_PORT="$(free_port)"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  default_type text/plain;
  server { listen 127.0.0.1:$UP_PORT; location / { return 200 "ok"; } }
}
CONF
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    UP_PID=$!
    procs+=("$UP_PID")
    wait_ok "http://127.0.0.1:$UP_PORT/" 5 "$UP_PID" ok && return 0
    kill_wait "$UP_PID" TERM 5
    forget_pid procs "$UP_PID"
  done
  die "the upstream nginx did not start"
}
# HAProxy (Debian's, 2.6 on bookworm) in front of 127.0.0.1:UP_PORT: mode
# http, nbthread 1, keep-alive on both sides, http-reuse always; on a free
# port (3 tries). Prints its log and fails if it does not start.
start_haproxy() { # -> HA_PORT HA_PID
  local cfg="$tmp/haproxy.cfg"
  for _ in 1 2 3; do
    HA_PORT="$(free_port)"
    sed -e "s/@PORT@/$HA_PORT/" -e "s/@UPSTREAM_PORT@/$UP_PORT/" \
      "$root/tests/bench/haproxy.cfg.in" >"$cfg"
    haproxy -c -q -f "$cfg" >"$tmp/haproxy-check.log" 2>&1 ||
      { cat "$tmp/haproxy-check.log" >&2; return 1; }
    haproxy -db -f "$cfg" >"$tmp/haproxy.log" 2>&1 &
    HA_PID=$!
    procs+=("$HA_PID")
    wait_ok "http://127.0.0.1:$HA_PORT/" 5 "$HA_PID" ok && return 0
    cat "$tmp/haproxy.log" >&2
    kill_wait "$HA_PID" TERM 5
    forget_pid procs "$HA_PID"
    HA_PID=""
  done
  return 1
}
