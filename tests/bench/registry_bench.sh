#!/usr/bin/env bash
# Registry benchmark: registrations and resolves per second over
# HTTP, against nginx measured in the same run on the same machine, plus the
# memory cost of one registered instance.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every loop is bounded, and everything this script starts is
# stopped on exit (the whole run stops itself after MAX_SECONDS).
#
#   tests/bench/registry_bench.sh
#   BENCH_LOCK=/tmp/valmesh-bench.lock tests/bench/registry_bench.sh
#   DURATION=5s T1=0 tests/bench/registry_bench.sh
#
# Steps (one run, one valmesh node alive at a time):
#   1. node A (fresh): wrk -tTHREADS POSTs unique instances of `bench` for
#      DURATION -> registrations/s. With T1=1, node A1 (fresh) the same
#      with wrk -t1. nginx answers the same POSTs (same Lua script) with
#      `return 201` and a body as large as valmesh's -> peer figures.
#   2. node B (fresh): exactly INSTANCES (10,000) instances, then wrk GETs
#      /api/services/bench/resolve?strategy=round-robin for DURATION; nginx
#      serves a static file as large as one resolve body -> peer figures.
#   3. node C (fresh): VmRSS, exactly MEM_INSTANCES (100,000) instances,
#      VmRSS again: (after - before) / instances = bytes per instance.
# Nodes B and C are filled by wrk too (per-thread quota, then SIGINT).
#
# The instances point at 127.0.0.1:CHECK_PORT where nothing listens, so each
# one's first health check (due within 1 s of registering) fails at once with
# a refused connect. NODE_ARGS defaults to `--health-interval 1h` so no
# second round of checks (30 s later by default) lands inside a measurement;
# NODE_ARGS= measures with the defaults.
#
# Environment (defaults in brackets):
#   DURATION [10s]  THREADS [2]  CONNS [32]  T1 [1]  INSTANCES [10000]
#   MEM_INSTANCES [100000]  NGINX_WORKERS [1]  NODE_ARGS [--health-interval 1h]
#   FILL_TIMEOUT [40] seconds per fill pass  IDLE_TIMEOUT [20] seconds to wait
#   for a node to go idle (< IDLE_PCT [20] % of a core) after a fill  MAX_SECONDS [170] for the whole run
#   VALMESH [build/valmesh]  KEEP_TMP [0]
#   BENCH_LOCK [unset]: when set (e.g. /tmp/valmesh-bench.lock), wait (up to
#     10 min) until no build or test process runs, create that file for the
#     run, delete it on exit.
#
# Helpers shared with the other benchmarks (tools, cleanup, watchdog, ports,
# polling): tests/bench/lib.sh.
set -euo pipefail

bench_name=bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
T1="${T1:-1}"
INSTANCES="${INSTANCES:-10000}"
MEM_INSTANCES="${MEM_INSTANCES:-100000}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
NODE_ARGS="${NODE_ARGS---health-interval 1h}"
FILL_TIMEOUT="${FILL_TIMEOUT:-40}"
IDLE_TIMEOUT="${IDLE_TIMEOUT:-20}"
IDLE_PCT="${IDLE_PCT:-20}"
MAX_SECONDS="${MAX_SECONDS:-170}"
BENCH_LOCK="${BENCH_LOCK:-}"
# Processes whose presence makes a measurement worthless; check_quiet (lib.sh)
# notes every sighting, so busy_seen may name a TAG:PROCS twice.
BUSY_RE='cc1plus|cc1|collect2|ld|ld.gold|ninja|make|cmake|ctest'
busy_note=every

# -- tools ------------------------------------------------------------------
install_tools --strict wrk nginx jq curl
require_tools wrk nginx jq curl ss
require_built "$VALMESH"

# -- cleanup ----------------------------------------------------------------
node_pids=() nginx_pid="" finished=0 notes=()
stop_all() { # RC
  ((finished)) || summary "INCOMPLETE (stopped early, rc=$1)" || true
  [[ -n "$watchdog_pid" ]] && kill "$watchdog_pid" 2>/dev/null || true
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  [[ -n "$nginx_pid" ]] && kill_wait "$nginx_pid" QUIT 3
  for p in "${node_pids[@]}"; do kill_wait "$p" TERM 3; done
  wait 2>/dev/null || true
  ((lock_taken)) && rm -f "$BENCH_LOCK"
}
bench_setup valmesh-bench

# -- lock (optional) ----------------------------------------------------------
if [[ -n "$BENCH_LOCK" ]]; then
  quiet=0
  for ((i = 0; i < 300 && quiet < 3; i++)); do
    if busy_procs | grep -q .; then quiet=0; else quiet=$((quiet + 1)); fi
    ((quiet < 3)) && sleep 2
  done
  ((quiet >= 3)) || die "build/test processes still running after 10 min"
  : >"$BENCH_LOCK"
  lock_taken=1
  started_at=$SECONDS
  log "took $BENCH_LOCK"
fi
# The run stops itself after MAX_SECONDS whatever happens.
start_watchdog "$MAX_SECONDS" "[bench] MAX_SECONDS=$MAX_SECONDS reached, stopping"

# -- wrk scripts --------------------------------------------------------------
cat >"$tmp/stats.lua" <<'EOF'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTAT requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
EOF
# Unique ids per thread: bench-TAG-THREAD-N. Args: TAG PORT [QUOTA per thread].
# With a quota, ids wrap (re-registration = update) and the thread stops once
# QUOTA registrations succeeded, so exactly THREADS*QUOTA ids exist.
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
    "{\"name\":\"bench\",\"id\":\"bench-%s-%d-%d\",\"host\":\"127.0.0.1\",\"port\":%d}",
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

# Runs wrk; keeps its output in $tmp/NAME.out and its figures in R_NAME_*.
run_wrk() { # NAME THREADS URL SCRIPT [ARGS...]
  local name=$1 t=$2 url=$3 script=$4 key=${1//-/_}
  shift 4
  check_quiet "$name"
  wrk -t"$t" -c"$CONNS" -d"$DURATION" --timeout 5s --latency -s "$script" \
    "$url" ${1:+--} "$@" >"$tmp/$name.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  check_quiet "$name"
  parse_wrkstat "$tmp/$name.out" || { cat "$tmp/$name.out" >&2; die "wrk $name failed"; }
  log "$name: $(printf '%.0f' "$W_RPS") ok/s, p50 $(ms "$W_P50") p99 $(ms "$W_P99"), $W_ERRS"
  keep_figures "$key" "$W_ERRS"
}
parse_wrkstat() { # FILE: the WRKSTAT line of stats.lua -> W_RPS W_P50 W_P99 (us) W_ERRS
  local line requests duration_us status connect read write timeout p50_us p99_us
  line="$(grep -m1 '^WRKSTAT' "$1")" || return 1
  # The line is ours: "WRKSTAT key=integer key=integer ...".
  [[ "$line" =~ ^WRKSTAT(\ [a-z0-9_]+=[0-9]+)+$ ]] || return 1
  local ${line#WRKSTAT }
  W_P50=$p50_us W_P99=$p99_us
  # Successful (2xx/3xx) responses per second.
  W_RPS="$(awk -v r="$requests" -v s="$status" -v d="$duration_us" 'BEGIN{printf "%.1f", (r-s)/(d/1e6)}')"
  W_ERRS="non2xx=$status connect=$connect read=$read write=$write timeout=$timeout"
}
ms() { [[ -n "$1" ]] && awk -v u="$1" 'BEGIN{printf "%.2fms", u/1000}' || echo "n/a"; }
num() { [[ -n "$1" ]] && printf '%.0f' "$1" || echo "n/a"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "" && b > 0) printf "%.2f", a/b; else print "n/a" }'; }

# -- valmesh nodes ------------------------------------------------------------
start_node() { # NAME -> NODE_PID NODE_PORT
  local name=$1
  # shellcheck disable=SC2086 # NODE_ARGS is a list of flags
  "$VALMESH" agent --node-name "bench-$name" --http 127.0.0.1:0 \
    --cluster 127.0.0.1:0 --dev $NODE_ARGS >"$tmp/node-$name.log" 2>&1 &
  NODE_PID=$!
  node_pids+=("$NODE_PID")
  wait_log_port "$tmp/node-$name.log" "$NODE_PID" "$AGENT_STARTED"
  NODE_PORT=$PORT
  [[ -n "$NODE_PORT" ]] || { cat "$tmp/node-$name.log" >&2; die "node $name did not start"; }
  curl -fsS "http://127.0.0.1:$NODE_PORT/health" >/dev/null || die "node $name not ready"
}
stop_node() { # NAME PID: SIGTERM, 3 s, then SIGKILL
  KILLED=0
  kill_wait "$2" TERM 3
  ((KILLED)) && { notes+=("node $1 did not stop within 3 s of SIGTERM (killed)");
                  log "node $1 killed after 3 s"; } || true
  forget_pid node_pids "$2"
}
rss_bytes() { awk '/^VmRSS:/{print $2 * 1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU of PID over the next SECONDS, in % of one core.
cpu_pct() { # PID SECONDS
  local a b
  a="$(cpu_ticks "$1")"
  sleep "$2"
  b="$(cpu_ticks "$1")"
  echo $(((b - a) * 100 / (HZ * $2)))
}
# Waits until PID uses < IDLE_PCT% of one core over 1 s, at most IDLE_TIMEOUT s.
# (With 10,000 instances an otherwise idle node was seen using ~11%.)
wait_idle() { # NAME PID
  local t0=$SECONDS pct=100
  while ((SECONDS - t0 < IDLE_TIMEOUT)); do
    pct="$(cpu_pct "$2" 1)"
    ((pct < IDLE_PCT)) && { IDLE_AFTER=$((SECONDS - t0)); return 0; }
  done
  IDLE_AFTER=""
  notes+=("node $1 still busy ${IDLE_TIMEOUT}s after its fill (last second: ${pct}% of a core)")
  log "node $1 still busy after ${IDLE_TIMEOUT}s"
  return 1
}
# Registers instances until PORT holds at least TARGET of `bench`.
fill_to() { # NAME PORT TARGET
  local name=$1 port=$2 target=$3 have pass=0 quota t0=$SECONDS
  have="$(instance_count "$port")"
  while ((have < target)); do
    ((++pass <= 3)) || die "fill $name: only $have of $target instances"
    quota=$(((target - have + THREADS - 1) / THREADS))
    wrk -t"$THREADS" -c"$CONNS" -d"${FILL_TIMEOUT}s" --timeout 5s -s "$tmp/fill.lua" \
      "http://127.0.0.1:$port/api/services" -- "$name$pass" "$CHECK_PORT" "$quota" \
      >"$tmp/fill-$name-$pass.out" 2>&1 &
    wrk_pid=$!
    wrk_until $((FILL_TIMEOUT + 5)) 0.5 holds "$port" "$target"
    if parse_wrkstat "$tmp/fill-$name-$pass.out"; then
      [[ "$W_ERRS" == "non2xx=0 connect=0 read=0 write=0 timeout=0" ]] ||
        notes+=("fill $name pass $pass: $W_ERRS")
    fi
    have="$(instance_count "$port")"
  done
  FILLED=$have
  FILL_SECONDS=$((SECONDS - t0))
  log "node $name holds $have instances (fill took ${FILL_SECONDS}s)"
}

# -- nginx --------------------------------------------------------------------
start_nginx() { # RESOLVE_BODY_FILE REGISTER_BODY
  local body=$2
  [[ "$body" != *"'"* && "$body" != *'\'* && "$body" != *'$'* ]] ||
    die "register body cannot be quoted for nginx"
  mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs"
  # The workers (user nobody) read the file.
  chmod 755 "$tmp" "$tmp/nginx" "$tmp/nginx/www"
  cp "$1" "$tmp/nginx/www/resolve.json"
  chmod 644 "$tmp/nginx/www/resolve.json"
  NGINX_PORT="$(free_port)"
  cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $tmp/nginx/www;
    location = /api/services {
      add_header Location /api/services/bench/bench-1;
      return 201 '$body';
    }
  }
}
EOF
  nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" \
    >"$tmp/nginx/stdout.log" 2>&1 &
  nginx_pid=$!
  poll 50 0.1 "$nginx_pid" curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/resolve.json" 2>/dev/null &&
    return 0
  cat "$tmp/nginx/logs/error.log" "$tmp/nginx/stdout.log" >&2 2>/dev/null || true
  kill_wait "$nginx_pid" QUIT 3
  nginx_pid=""
  return 1
}

# -- summary --------------------------------------------------------------------
binary_info="$(describe_binary "$VALMESH")"
summary() { # [TITLE SUFFIX]
  local row='%-26s %-16s %-16s %s\n' k v
  echo
  echo "registry benchmark${1:+ $1}"
  echo "$(nproc) cores, wrk -c$CONNS -d$DURATION, same run, ${SECONDS_USED:-$((SECONDS - started_at))}s"
  echo "valmesh binary: $binary_info; node flags: --dev ${NODE_ARGS:-(none)}; 1 HTTP + 2 actor threads (defaults)"
  echo "resolves: node with ${B_COUNT:-?} instances of 'bench' (${B_IDLE_PCT:-?}% of a core before, with no load); nginx ($NGINX_WORKERS worker): static ${RESOLVE_BYTES:-?}-byte file"
  echo "registers: unique ids into a fresh node; nginx: return 201 with a ${REGISTER_BYTES:-?}-byte body"
  printf "$row" "" "valmesh" "nginx" "ratio"
  printf "$row" "resolve ok/s (wrk -t$THREADS)" "$(num "${R_res_vm_rps:-}")" "$(num "${R_res_ng_rps:-}")" "$(ratio "${R_res_vm_rps:-}" "${R_res_ng_rps:-}")"
  printf "$row" "resolve p50/p99 (-t$THREADS)" "$(ms "${R_res_vm_p50:-}")/$(ms "${R_res_vm_p99:-}")" "$(ms "${R_res_ng_p50:-}")/$(ms "${R_res_ng_p99:-}")" ""
  if ((T1)); then
    printf "$row" "resolve ok/s (wrk -t1)" "$(num "${R_res_vm_t1_rps:-}")" "$(num "${R_res_ng_t1_rps:-}")" "$(ratio "${R_res_vm_t1_rps:-}" "${R_res_ng_t1_rps:-}")"
    printf "$row" "resolve p50/p99 (-t1)" "$(ms "${R_res_vm_t1_p50:-}")/$(ms "${R_res_vm_t1_p99:-}")" "$(ms "${R_res_ng_t1_p50:-}")/$(ms "${R_res_ng_t1_p99:-}")" ""
  fi
  printf "$row" "register ok/s (wrk -t$THREADS)" "$(num "${R_reg_vm_rps:-}")" "$(num "${R_reg_ng_rps:-}")" "$(ratio "${R_reg_vm_rps:-}" "${R_reg_ng_rps:-}")"
  printf "$row" "register p50/p99 (-t$THREADS)" "$(ms "${R_reg_vm_p50:-}")/$(ms "${R_reg_vm_p99:-}")" "$(ms "${R_reg_ng_p50:-}")/$(ms "${R_reg_ng_p99:-}")" ""
  if ((T1)); then
    printf "$row" "register ok/s (wrk -t1)" "$(num "${R_reg_vm_t1_rps:-}")" "$(num "${R_reg_ng_t1_rps:-}")" "$(ratio "${R_reg_vm_t1_rps:-}" "${R_reg_ng_t1_rps:-}")"
    printf "$row" "register p50/p99 (-t1)" "$(ms "${R_reg_vm_t1_p50:-}")/$(ms "${R_reg_vm_t1_p99:-}")" "$(ms "${R_reg_ng_t1_p50:-}")/$(ms "${R_reg_ng_t1_p99:-}")" ""
  fi
  if [[ -n "${MEM_SETTLED:-}" ]]; then
    awk -v n="$C_COUNT" -v r0="$C_RSS0" -v r1="$C_RSS1" -v r2="$C_RSS2" \
        -v settled="$MEM_SETTLED" -v fill="$C_FILL_SECONDS" 'BEGIN{
      printf "memory: %d instances (filled in %ds): +%.1f MiB RSS (%.1f -> %.1f MiB) = %d bytes/instance, %s\n",
        n, fill, (r2-r0)/1048576, r0/1048576, r2/1048576, (r2-r0)/n, settled
      printf "        RSS right after the fill: %.1f MiB = %d bytes/instance\n", r1/1048576, (r1-r0)/n }'
  else
    echo "memory: not measured"
  fi
  echo "wrk errors (non-2xx, socket):"
  for k in res_vm res_ng res_vm_t1 res_ng_t1 reg_vm reg_ng reg_vm_t1 reg_ng_t1; do
    v="R_${k}_errs"
    [[ -n "${!v:-}" ]] && printf '  %-10s %s\n' "$k" "${!v}"
  done
  [[ -n "${A_COUNT:-}" ]] && echo "node A held $A_COUNT instances after its register run (every POST it accepted, in-flight ones included)"
  for v in "${notes[@]}"; do echo "note: $v"; done
  [[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during measurements ($busy_seen): numbers are suspect"
  return 0
}

# The instances' health endpoint: a port where nothing listens.
CHECK_PORT="$(free_port)"

# -- 1. registrations ---------------------------------------------------------
register_probe() { # PORT -> $tmp/register.json
  curl -fsS -o "$tmp/register.json" -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"id\":\"bench-probe-0-0\",\"host\":\"127.0.0.1\",\"port\":$CHECK_PORT}" \
    "http://127.0.0.1:$1/api/services"
}
log "node A: registrations for $DURATION (wrk -t$THREADS -c$CONNS)"
start_node a
a_pid=$NODE_PID a_port=$NODE_PORT
register_probe "$a_port"
run_wrk reg-vm "$THREADS" "http://127.0.0.1:$a_port/api/services" "$tmp/register.lua" rate "$CHECK_PORT"
A_COUNT="$(instance_count "$a_port" || echo '?')"
stop_node a "$a_pid"
if ((T1)); then
  log "node A1: registrations for $DURATION (wrk -t1 -c$CONNS)"
  start_node a1
  a1_pid=$NODE_PID a1_port=$NODE_PORT
  run_wrk reg-vm-t1 1 "http://127.0.0.1:$a1_port/api/services" "$tmp/register.lua" rate "$CHECK_PORT"
  stop_node a1 "$a1_pid"
fi

# -- 2. resolves ----------------------------------------------------------------
log "node B: $INSTANCES instances, then resolves"
start_node b
b_pid=$NODE_PID b_port=$NODE_PORT
fill_to b "$b_port" "$INSTANCES"
B_COUNT=$FILLED
wait_idle b "$b_pid" && log "node B idle after ${IDLE_AFTER}s" || true
B_IDLE_PCT="$(cpu_pct "$b_pid" 2)"
log "node B uses ${B_IDLE_PCT}% of a core with no requests"
resolve_url="http://127.0.0.1:$b_port/api/services/bench/resolve?strategy=round-robin"
curl -fsS -o "$tmp/resolve.json" "$resolve_url"
RESOLVE_BYTES="$(stat -c %s "$tmp/resolve.json")"
REGISTER_BYTES="$(stat -c %s "$tmp/register.json")"
run_wrk res-vm "$THREADS" "$resolve_url" "$tmp/stats.lua"
((T1)) && run_wrk res-vm-t1 1 "$resolve_url" "$tmp/stats.lua"
b_final="$(instance_count "$b_port")"
((b_final == B_COUNT)) || notes+=("node B went from $B_COUNT to $b_final instances during the resolves")
stop_node b "$b_pid"

for try in 1 2 3; do
  start_nginx "$tmp/resolve.json" "$(cat "$tmp/register.json")" && break
  ((try < 3)) || die "nginx did not start"
done
nginx_base="http://127.0.0.1:$NGINX_PORT"
[[ "$(curl -fsS "$nginx_base/resolve.json" | wc -c)" == "$RESOLVE_BYTES" ]] ||
  die "nginx static body size differs"
[[ "$(curl -fsS -X POST -d '{}' "$nginx_base/api/services" | wc -c)" == "$REGISTER_BYTES" ]] ||
  die "nginx register body size differs"
run_wrk res-ng "$THREADS" "$nginx_base/resolve.json" "$tmp/stats.lua"
((T1)) && run_wrk res-ng-t1 1 "$nginx_base/resolve.json" "$tmp/stats.lua"
run_wrk reg-ng "$THREADS" "$nginx_base/api/services" "$tmp/register.lua" rate "$CHECK_PORT"
((T1)) && run_wrk reg-ng-t1 1 "$nginx_base/api/services" "$tmp/register.lua" rate "$CHECK_PORT"
kill_wait "$nginx_pid" QUIT 3
nginx_pid=""

# -- 3. memory --------------------------------------------------------------------
log "node C (fresh): $MEM_INSTANCES instances for memory"
start_node c
c_pid=$NODE_PID c_port=$NODE_PORT
sleep 0.5
C_RSS0="$(rss_bytes "$c_pid")"
check_quiet fill-c
fill_to c "$c_port" "$MEM_INSTANCES"
check_quiet fill-c
C_COUNT=$FILLED C_FILL_SECONDS=$FILL_SECONDS
C_RSS1="$(rss_bytes "$c_pid")"
if wait_idle c "$c_pid"; then
  MEM_SETTLED="read once the node was idle (${IDLE_AFTER}s after the fill)"
else
  MEM_SETTLED="read while the node was still busy, ${IDLE_TIMEOUT}s after the fill"
fi
C_RSS2="$(rss_bytes "$c_pid")"
stop_node c "$c_pid"

SECONDS_USED=$((SECONDS - started_at))
summary
finished=1
exit 0
