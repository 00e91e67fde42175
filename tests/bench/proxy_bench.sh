#!/usr/bin/env bash
# Proxy benchmark: valmesh's /proxy path against HAProxy and nginx in front of
# the same trivial upstream, and that upstream direct, in one run.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything this script starts is
# stopped on exit.
#
#   tests/bench/proxy_bench.sh
#   D=3s tests/bench/proxy_bench.sh
#   AGENT_ARGS='--http-threads 2' tests/bench/proxy_bench.sh
#   BENCH_LOCK= tests/bench/proxy_bench.sh          # no lock protocol
#
# Upstream: nginx (worker_processes 1, access_log off, keep-alive) answering
# every path with `return 200 "ok"`. Targets, each measured with
# `wrk -t2 -cN -dD --latency` at N = 64 and N = 8 (each run after a WARM s
# warm-up run of the same shape, whose figures are dropped):
#   direct   the upstream itself
#   haproxy  HAProxy (Debian `haproxy`, 2.6 on bookworm): mode http,
#            nbthread 1, http-reuse always, keep-alive to the server
#   nginx    a second nginx (worker_processes PROXY_WORKERS) with proxy_pass to
#            an upstream block with `keepalive 64`, proxy_http_version 1.1 and
#            Connection ""
#   valmesh  `valmesh agent --dev --http 127.0.0.1:PORT --cluster 127.0.0.1:0
#            --config CFG $AGENT_ARGS`, CFG registering the upstream as service
#            `bench`; wrk on /proxy/bench/ once that answers 200
# "cpu" is the target's processes' utime+stime (/proc/PID/stat, nginx: master
# and workers) over the measured run, in % of one core; for `direct` it is
# the upstream's own. Requests/s is wrk's figure (all answers); the non-2xx
# and socket error counts are printed next to it.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before each target's phase wait (poll 2 s, up to LOCK_WAIT s) until no
# compiler, build tool or test binary (BUSY_RE below) runs and the lock file
# is absent, create it (noclobber), delete it
# at the end of the phase or on exit. A watchdog stops the run if one phase
# passes LOCK_MAX s (it runs with the lock protocol off too).
#
# Environment (defaults in brackets):
#   D [10s]  WARM [2s]  CONNS ["64 8"]  THREADS [2]  PROXY_WORKERS [1]
#   AGENT_ARGS [] extra agent flags, e.g. --http-threads 2
#   VALMESH [/work/main/build/valmesh, i.e. build/valmesh]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
VALMESH="${VALMESH:-$root/build/valmesh}"
D="${D:-10s}"
WARM="${WARM:-2s}"
CONNS="${CONNS:-64 8}"
THREADS="${THREADS:-2}"
PROXY_WORKERS="${PROXY_WORKERS:-1}"
AGENT_ARGS="${AGENT_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
LOCK_WAIT="${LOCK_WAIT:-900}"
LOCK_MAX="${LOCK_MAX:-170}"
KEEP_TMP="${KEEP_TMP:-0}"
HZ="$(getconf CLK_TCK)"
CORES="$(nproc)"

started_at=$SECONDS
log() { echo "[proxy-bench +$((SECONDS - started_at))s] $*" >&2; }
die() { echo "[proxy-bench] error: $*" >&2; exit 1; }

[[ "$D" =~ ^[1-9][0-9]*s?$ ]] || die "D must be whole seconds, like 10s"
[[ "$WARM" =~ ^[0-9]+s?$ ]] || die "WARM must be whole seconds, like 2s"

# -- tools ------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  # This image's policy-rc.d keeps apt from starting the system nginx and
  # haproxy services; the script never uses or touches them either way.
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      "${need[@]/nginx-light/nginx}" >/dev/null ||
    log "apt-get install ${need[*]} failed"
fi
for t in wrk nginx curl ss pgrep; do command -v "$t" >/dev/null || die "$t missing"; done
[[ -x "$VALMESH" ]] || die "$VALMESH not built"

# -- cleanup ------------------------------------------------------------------
tmp="$(mktemp -d /tmp/valmesh-proxy-bench.XXXXXX)"
chmod 755 "$tmp"  # nginx workers (user nobody) create their temp dirs below
procs=() wrk_pid="" watchdog_pid="" lock_taken=0 notes=() used_ports=" "
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
stop_proc() { # PID: SIGTERM, 5 s, SIGKILL; forgets it
  local p kept=()
  [[ -n "$1" ]] || return 0
  kill_wait "$1" TERM 5
  for p in "${procs[@]}"; do [[ "$p" == "$1" ]] || kept+=("$p"); done
  procs=("${kept[@]}")
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
  local rc=$? p
  trap - EXIT INT TERM
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  # Newest first: agent / proxies before the upstream.
  for ((p = ${#procs[@]} - 1; p >= 0; p--)); do kill_wait "${procs[p]}" TERM 5; done
  lock_release
  if [[ "$KEEP_TMP" == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# -- lock -----------------------------------------------------------------------
lock_acquire() { # PHASE
  local t0=$SECONDS
  if [[ -n "$BENCH_LOCK" ]]; then
    while :; do
      if [[ -z "$(busy_procs)" && ! -e "$BENCH_LOCK" ]] &&
         (set -o noclobber; echo "proxy_bench.sh pid $$ phase $1 since $(date -Is)" \
            >"$BENCH_LOCK") 2>/dev/null; then
        lock_taken=1
        break
      fi
      ((SECONDS - t0 < LOCK_WAIT)) || die "waited ${LOCK_WAIT}s for $(busy_procs)/ $BENCH_LOCK"
      sleep 2
    done
    log "took $BENCH_LOCK for phase $1 (waited $((SECONDS - t0))s)"
  fi
  # One phase never passes LOCK_MAX seconds.
  ( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$LOCK_MAX" & sp=$!
    wait "$sp"
    echo "[proxy-bench] phase held ${LOCK_MAX}s, stopping" >&2
    kill -TERM $$ ) 2>/dev/null &
  watchdog_pid=$!
}
# Processes whose presence makes a measurement worthless: compilers, the
# linker, build tools and this project's test binaries.
BUSY_RE='cc1plus|cc1|collect2|ld|ld.gold|ninja|make|cmake|ctest|valmesh_.*'
busy_procs() { ps -eo comm= | grep -xE "$BUSY_RE" | sort -u | tr '\n' ' ' || true; }
busy_seen=""
check_quiet() { # TAG: notes busy processes seen around a measurement
  local b
  b="$(busy_procs)"
  [[ -z "$b" || "$busy_seen" == *"$1:${b% } "* ]] || busy_seen+="$1:${b% } "
}

# -- helpers ----------------------------------------------------------------------
# utime+stime of a process (the comm field may hold spaces); 0 once gone.
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
# A process and its children (nginx: master and workers).
tree_ticks() {
  local p s=0 t
  for p in "$1" $(pgrep -P "$1" || true); do
    t="$(proc_ticks "$p")"
    s=$((s + ${t:-0}))
  done
  echo "$s"
}
now() { echo "$EPOCHREALTIME"; }
pct() { awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN{ if (s > 0) printf "%.0f", 100 * t / hz / s; else print "n/a" }'; }

# A port below the ephemeral range that no socket uses, in any state, and
# that this run did not hand out before.
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
# Waits (up to SECONDS) until URL answers 200 with, if given, body BODY.
wait_ok() { # URL SECONDS PID [BODY]
  local k code
  for ((k = 0; k < $2 * 10; k++)); do
    code="$(curl -s -o "$tmp/probe.out" -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)"
    if [[ "$code" == 200 ]] && [[ -z "${4:-}" || "$(cat "$tmp/probe.out")" == "$4" ]]; then
      return 0
    fi
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# -- wrk ------------------------------------------------------------------------
# Time as wrk prints it (123.45us, 1.23ms, 1.02s, 1.50m, 2.00h) -> ms.
to_ms() {
  awk -v t="$1" 'BEGIN{ n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0 || t == "") print "n/a"; else printf "%.3f", n * f }'
}
# Figures from wrk's text output: W_RPS W_REQS W_P50 W_P99 (ms) W_NON2XX W_SOCK.
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
  W_SOCK="${W_SOCK:-none}"
  [[ -n "$W_RPS" && -n "$W_REQS" && "$W_P50" != n/a && "$W_P99" != n/a ]]
}
# Warm-up, then the measured run. Sets R_<TARGET>_<CONNS>_{rps,p50,p99,cpu,errs}.
run_wrk() { # TARGET CONNS URL PID_FOR_CPU
  local target=$1 c=$2 url=$3 pid=$4 out="$tmp/wrk-$1-$2.out" c0 c1 t0 t1 key="$1_$2"
  wrk -t"$THREADS" -c"$c" -d"$WARM" "$url" >"$tmp/wrk-$target-$c-warm.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  check_quiet "$target-$c"
  c0="$(tree_ticks "$pid")" t0="$(now)"
  wrk -t"$THREADS" -c"$c" -d"$D" --latency "$url" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  c1="$(tree_ticks "$pid")" t1="$(now)"
  check_quiet "$target-$c"
  if ! parse_wrk "$out"; then
    notes+=("wrk $target -c$c: output not understood: $(tr '\n' ' ' <"$out" | cut -c1-300)")
    return 0
  fi
  printf -v "R_${key}_rps" '%s' "$W_RPS"
  printf -v "R_${key}_p50" '%s' "$W_P50"
  printf -v "R_${key}_p99" '%s' "$W_P99"
  printf -v "R_${key}_cpu" '%s' "$(pct $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")"
  printf -v "R_${key}_errs" '%s' "non2xx=$W_NON2XX socket: $W_SOCK"
  log "$target -c$c: $W_RPS req/s, p50 ${W_P50} ms, p99 ${W_P99} ms, non-2xx $W_NON2XX, socket errors: $W_SOCK"
}
measure() { # TARGET URL PID
  local c
  lock_acquire "$1"
  for c in $CONNS; do run_wrk "$1" "$c" "$2" "$3"; done
  lock_release
}

# -- targets ------------------------------------------------------------------------
nginx_common() { # DIR
  cat <<EOF
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_http_common() { # DIR
  cat <<EOF
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
EOF
}
run_nginx() { # NAME CONF_FILE PORT -> NGINX_PID (0 on failure)
  local dir="$tmp/$1"
  nginx -p "$dir" -c "$2" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  procs+=("$NGINX_PID")
  if wait_ok "http://127.0.0.1:$3/" 5 "$NGINX_PID" ok; then return 0; fi
  cat "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null || true
  stop_proc "$NGINX_PID"
  NGINX_PID=""
  return 1
}
start_upstream() {
  local dir="$tmp/upstream"
  mkdir -p "$dir"
  chmod 755 "$dir"
  for _ in 1 2 3; do
    UP_PORT="$(free_port)"
    { echo "worker_processes 1;"; nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      cat <<EOF
  default_type text/plain;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { return 200 "ok"; }
  }
}
EOF
    } >"$dir/nginx.conf"
    run_nginx upstream "$dir/nginx.conf" "$UP_PORT" && { UP_PID=$NGINX_PID; return 0; }
  done
  die "upstream nginx did not start"
}
start_nginx_proxy() { # -> NX_PORT NX_PID
  local dir="$tmp/nginx-proxy"
  mkdir -p "$dir"
  chmod 755 "$dir"
  for _ in 1 2 3; do
    NX_PORT="$(free_port)"
    { echo "worker_processes $PROXY_WORKERS;"; nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      cat <<EOF
  upstream up {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$NX_PORT;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
    } >"$dir/nginx.conf"
    run_nginx nginx-proxy "$dir/nginx.conf" "$NX_PORT" && { NX_PID=$NGINX_PID; return 0; }
  done
  return 1
}
start_haproxy() { # -> HA_PORT HA_PID
  local cfg="$tmp/haproxy.cfg"
  for _ in 1 2 3; do
    HA_PORT="$(free_port)"
    cat >"$cfg" <<EOF
global
  nbthread 1
  maxconn 2000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
frontend fe
  bind 127.0.0.1:$HA_PORT
  default_backend be
backend be
  http-reuse always
  server up 127.0.0.1:$UP_PORT
EOF
    haproxy -c -q -f "$cfg" >"$tmp/haproxy-check.log" 2>&1 ||
      { cat "$tmp/haproxy-check.log" >&2; return 1; }
    haproxy -db -f "$cfg" >"$tmp/haproxy.log" 2>&1 &
    HA_PID=$!
    procs+=("$HA_PID")
    wait_ok "http://127.0.0.1:$HA_PORT/" 5 "$HA_PID" ok && return 0
    cat "$tmp/haproxy.log" >&2
    stop_proc "$HA_PID"
    HA_PID=""
  done
  return 1
}
start_agent() { # -> VM_PORT VM_PID
  local cfg="$tmp/valmesh.json"
  printf '{"services":[{"name":"bench","id":"bench-upstream","host":"127.0.0.1","port":%s}]}\n' \
    "$UP_PORT" >"$cfg"
  for _ in 1 2 3; do
    VM_PORT="$(free_port)"
    # shellcheck disable=SC2086 # AGENT_ARGS is a list of extra agent flags
    "$VALMESH" agent --dev --http "127.0.0.1:$VM_PORT" --cluster 127.0.0.1:0 --config "$cfg" \
      --node-name proxy-bench --drain-timeout 2s $AGENT_ARGS >"$tmp/agent.log" 2>&1 &
    VM_PID=$!
    procs+=("$VM_PID")
    # The first health check (due within about a second) makes it routable.
    wait_ok "http://127.0.0.1:$VM_PORT/proxy/bench/" 20 "$VM_PID" ok && return 0
    cat "$tmp/agent.log" >&2
    stop_proc "$VM_PID"
    VM_PID=""
  done
  return 1
}

# -- run --------------------------------------------------------------------------------
binary_info="$(stat -c '%y' "$VALMESH" | cut -d. -f1) ($("$VALMESH" version 2>/dev/null | head -1))"
haproxy_info="$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}' || true)"
nginx_info="$(nginx -v 2>&1 | sed 's/.*nginx\///')"
TARGETS=(direct haproxy nginx valmesh)
declare -A LABEL=([direct]="direct" [haproxy]="HAProxy ${haproxy_info%%-*}"
                  [nginx]="nginx proxy" [valmesh]="valmesh")

start_upstream
log "upstream nginx $nginx_info on 127.0.0.1:$UP_PORT (pid $UP_PID)"
measure direct "http://127.0.0.1:$UP_PORT/" "$UP_PID"

if ! command -v haproxy >/dev/null; then
  notes+=("haproxy is not installed (apt-get install haproxy failed): not measured")
elif start_haproxy; then
  log "HAProxy $haproxy_info on 127.0.0.1:$HA_PORT (pid $HA_PID)"
  measure haproxy "http://127.0.0.1:$HA_PORT/" "$HA_PID"
  stop_proc "$HA_PID"
else
  notes+=("HAProxy did not start: not measured")
fi

if start_nginx_proxy; then
  log "nginx proxy on 127.0.0.1:$NX_PORT (pid $NX_PID)"
  measure nginx "http://127.0.0.1:$NX_PORT/" "$NX_PID"
  stop_proc "$NX_PID"
else
  notes+=("the nginx proxy did not start: not measured")
fi

if start_agent; then
  log "valmesh agent on 127.0.0.1:$VM_PORT (pid $VM_PID, flags: ${AGENT_ARGS:-none})"
  measure valmesh "http://127.0.0.1:$VM_PORT/proxy/bench/" "$VM_PID"
  if kill -0 "$VM_PID" 2>/dev/null; then
    VM_THREADS="$(find "/proc/$VM_PID/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l || true)"
  else
    notes+=("the valmesh agent exited during its phase; its last log lines: $(tail -3 "$tmp/agent.log" | tr '\n' ' ')")
  fi
  stop_proc "$VM_PID"
  VM_LOG_LINES="$(wc -l <"$tmp/agent.log")"
else
  notes+=("the valmesh agent did not answer 200 on /proxy/bench/: not measured")
fi
stop_proc "$UP_PID"

# -- summary -------------------------------------------------------------------------------
fig() { local v="R_$1_$2_$3"; echo "${!v:-n/a}"; }
cat <<EOF

proxy benchmark: wrk -t$THREADS -dD --latency, D=$D after a $WARM warm-up, $CORES cores, $((SECONDS - started_at))s
upstream: nginx $nginx_info, 1 worker, return 200 "ok"; nginx proxy: $PROXY_WORKERS worker, keepalive 64; HAProxy ${haproxy_info:-n/a}, nbthread 1
valmesh: $binary_info, flags: --dev ${AGENT_ARGS:-(no extra flags)}
EOF
row='%-16s %5s %12s %10s %10s %6s  %s\n'
printf "$row" target conns requests/s "p50 ms" "p99 ms" "cpu%" errors
for c in $CONNS; do
  for t in "${TARGETS[@]}"; do
    printf "$row" "${LABEL[$t]}" "$c" "$(fig "$t" "$c" rps)" "$(fig "$t" "$c" p50)" \
      "$(fig "$t" "$c" p99)" "$(fig "$t" "$c" cpu)" "$(fig "$t" "$c" errs)"
  done
done
awk -v v="$(fig valmesh 64 rps)" -v h="$(fig haproxy 64 rps)" 'BEGIN{
  printf "valmesh / HAProxy requests/s at 64 connections: "
  if (v != "n/a" && h != "n/a" && h > 0) printf "%.2f\n", v / h; else print "n/a" }'
awk -v d="$(fig direct 8 p50)" -v h="$(fig haproxy 8 p50)" -v v="$(fig valmesh 8 p50)" 'BEGIN{
  ok = (d != "n/a")
  ha = (ok && h != "n/a") ? h - d : "n/a"; va = (ok && v != "n/a") ? v - d : "n/a"
  printf "added p50 over direct at 8 connections: HAProxy %s ms, valmesh %s ms, valmesh/HAProxy ",
    (ha == "n/a") ? ha : sprintf("%+.3f", ha), (va == "n/a") ? va : sprintf("%+.3f", va)
  if (ha != "n/a" && va != "n/a" && ha > 0) printf "%.2f\n", va / ha; else print "n/a" }'
echo "cpu% = the target's processes over the measured run, % of one core (direct: the upstream nginx)"
[[ -n "${VM_THREADS:-}" ]] && echo "valmesh agent: $VM_THREADS threads; $VM_LOG_LINES log lines over the run"
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
