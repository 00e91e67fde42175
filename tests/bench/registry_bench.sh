#!/usr/bin/env bash
# Registry benchmark (issue 2): registrations and resolves per second over
# HTTP, against nginx measured in the same run on the same machine, plus the
# memory cost of one registered instance.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1 and everything this script starts is stopped on exit.
#
#   tests/bench/registry_bench.sh
#   DURATION=5s THREADS=2 CONNS=32 tests/bench/registry_bench.sh
#
# Steps (one run):
#   1. node A (fresh): wrk POSTs unique instances of `bench` for DURATION
#      -> registrations/s (then node A is stopped); nginx answers the same
#      POSTs with a static 201 body as large as valmesh's -> peer figure.
#   2. node B (fresh): exactly INSTANCES (10,000) instances; wrk GETs
#      /api/services/bench/resolve?strategy=round-robin for DURATION;
#      nginx serves a static file as large as one resolve body -> peer figure.
#   3. node C (fresh): VmRSS; exactly MEM_INSTANCES (100,000) instances; VmRSS
#      again; (after - before) / instances = bytes per instance.
# Nodes B and C are filled by wrk too (per-thread quota, then SIGINT).
# With T1=1 (default) the resolve and register runs are repeated with wrk -t1.
#
# Environment (defaults in brackets):
#   DURATION [10s]  THREADS [2]  CONNS [32]  T1 [1]  INSTANCES [10000]
#   MEM_INSTANCES [100000]  NGINX_WORKERS [1]  FILL_TIMEOUT [90]
#   MAX_SECONDS [170]: the whole run is stopped after this many seconds
#   VALMESH [build/valmesh]  KEEP_TMP [0]
#   BENCH_LOCK [unset]: when set (e.g. /tmp/valmesh-bench.lock), wait until
#     no compiler (cc1plus) runs, create that file for the run, delete it on exit.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
VALMESH="${VALMESH:-$root/build/valmesh}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
T1="${T1:-1}"
INSTANCES="${INSTANCES:-10000}"
MEM_INSTANCES="${MEM_INSTANCES:-100000}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
FILL_TIMEOUT="${FILL_TIMEOUT:-90}"
MAX_SECONDS="${MAX_SECONDS:-170}"
KEEP_TMP="${KEEP_TMP:-0}"
BENCH_LOCK="${BENCH_LOCK:-}"

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

# -- tools ------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  # policy-rc.d on this image keeps apt from starting the system nginx.
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    { [[ " ${need[*]} " == *" nginx-light "* ]] &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
fi
for t in wrk nginx jq curl; do command -v "$t" >/dev/null || die "$t missing"; done
[[ -x "$VALMESH" ]] || die "$VALMESH not built"

# -- cleanup ----------------------------------------------------------------
tmp="$(mktemp -d /tmp/valmesh-bench.XXXXXX)"
node_pids=() nginx_pid="" wrk_pid="" watchdog_pid="" lock_taken=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$watchdog_pid" ]] && kill "$watchdog_pid" 2>/dev/null || true
  [[ -n "$wrk_pid" ]] && kill -INT "$wrk_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}" $nginx_pid $wrk_pid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  ((lock_taken)) && rm -f "$BENCH_LOCK"
  if [[ "$KEEP_TMP" == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# -- lock (optional) ----------------------------------------------------------
if [[ -n "$BENCH_LOCK" ]]; then
  for ((i = 0; i < 300; i++)); do
    pgrep -x cc1plus >/dev/null || break
    sleep 2
  done
  pgrep -x cc1plus >/dev/null && die "a compiler is still running after 10 min"
  : >"$BENCH_LOCK"
  lock_taken=1
fi
# The run stops itself after MAX_SECONDS whatever happens.
( trap 'kill "$sp" 2>/dev/null; wait "$sp"; exit 0' TERM
  sleep "$MAX_SECONDS" & sp=$!
  wait "$sp"
  echo "[bench] MAX_SECONDS=$MAX_SECONDS reached, stopping" >&2
  kill -TERM $$ ) 2>/dev/null &
watchdog_pid=$!
started_at=$SECONDS
compiler_seen=0
check_quiet() { pgrep -x cc1plus >/dev/null && compiler_seen=1 || true; }

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
# Unique ids per thread: bench-TAG-THREAD-N. Args: TAG [QUOTA per thread].
# With a quota, ids wrap (re-registration = update) and the thread stops once
# QUOTA registrations succeeded, so exactly THREADS*QUOTA ids exist.
register_common='
local threads = {}
local counter, ok, quota, tag = 0, 0, 0, "r"
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  tag = args[1] or "r"
  quota = tonumber(args[2] or "0") or 0
end
function request()
  local n = counter
  counter = counter + 1
  if quota > 0 then n = n % quota end
  local body = string.format(
    "{\"name\":\"bench\",\"id\":\"bench-%s-%d-%d\",\"host\":\"127.0.0.1\",\"port\":6000}",
    tag, tid, n)
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

# Runs wrk; stores its output in $tmp/NAME.out and its stats in W_* globals.
run_wrk() { # NAME THREADS URL SCRIPT [ARGS...]
  local name=$1 t=$2 url=$3 script=$4
  shift 4
  check_quiet
  wrk -t"$t" -c"$CONNS" -d"$DURATION" --timeout 5s --latency -s "$script" \
    "$url" ${1:+--} "$@" >"$tmp/$name.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  check_quiet
  parse_wrk "$tmp/$name.out" || { cat "$tmp/$name.out" >&2; die "wrk $name failed"; }
  log "$name: $(printf '%.0f' "$W_RPS") req/s ok, p50 $(ms "$W_P50") p99 $(ms "$W_P99"), errors: $W_ERRS"
  eval "R_${name//-/_}_rps=\$W_RPS R_${name//-/_}_p50=\$W_P50 R_${name//-/_}_p99=\$W_P99 R_${name//-/_}_errs=\"\$W_ERRS\""
}
parse_wrk() {
  local line requests duration_us status connect read write timeout p50_us p99_us
  line="$(grep -m1 '^WRKSTAT' "$1")" || return 1
  # The line is ours: "WRKSTAT key=integer key=integer ...".
  [[ "$line" =~ ^WRKSTAT(\ [a-z0-9_]+=[0-9]+)+$ ]] || return 1
  local ${line#WRKSTAT }
  W_P50=$p50_us W_P99=$p99_us
  # Successful (2xx/3xx) responses per second.
  W_RPS="$(awk -v r="$requests" -v s="$status" -v d="$duration_us" 'BEGIN{printf "%.1f", (r-s)/(d/1e6)}')"
  W_OK=$((requests - status))
  W_ERRS="non2xx=$status connect=$connect read=$read write=$write timeout=$timeout"
}
ms() { awk -v u="$1" 'BEGIN{printf "%.2fms", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }

# -- valmesh nodes ------------------------------------------------------------
start_node() { # NAME -> NODE_PID NODE_PORT
  local name=$1
  "$VALMESH" agent --node-name "bench-$name" --http 127.0.0.1:0 \
    --cluster 127.0.0.1:0 --dev >"$tmp/node-$name.log" 2>&1 &
  NODE_PID=$!
  node_pids+=("$NODE_PID")
  NODE_PORT=""
  for _ in $(seq 100); do
    NODE_PORT="$(grep -o 'valmesh agent started: .* http=127\.0\.0\.1:[0-9]*' \
      "$tmp/node-$name.log" | grep -o '[0-9]*$' || true)"
    [[ -n "$NODE_PORT" ]] && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$NODE_PORT" ]] || { cat "$tmp/node-$name.log" >&2; die "node $name did not start"; }
  curl -fsS "http://127.0.0.1:$NODE_PORT/health" >/dev/null || die "node $name not ready"
}
stop_node() { # PID
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
rss_bytes() { awk '/^VmRSS:/{print $2 * 1024}' "/proc/$1/status"; }
instance_count() { # PORT
  curl -fsS "http://127.0.0.1:$1/api/services" |
    jq '[.services[] | select(.name == "bench") | .instanceCount] | add // 0'
}
# Registers instances until PORT holds at least TARGET of `bench`.
fill_to() { # NAME PORT TARGET
  local name=$1 port=$2 target=$3 have pass=0 quota deadline
  have="$(instance_count "$port")"
  while ((have < target)); do
    ((++pass <= 3)) || die "fill $name: only $have of $target instances"
    quota=$(((target - have + THREADS - 1) / THREADS))
    wrk -t"$THREADS" -c"$CONNS" -d"${FILL_TIMEOUT}s" --timeout 5s -s "$tmp/fill.lua" \
      "http://127.0.0.1:$port/api/services" -- "$name$pass" "$quota" \
      >"$tmp/fill-$name-$pass.out" 2>&1 &
    wrk_pid=$!
    deadline=$((SECONDS + FILL_TIMEOUT + 5))
    while kill -0 "$wrk_pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.5
      (($(instance_count "$port") >= target)) && break
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    wrk_pid=""
    if parse_wrk "$tmp/fill-$name-$pass.out"; then
      [[ "$W_ERRS" == "non2xx=0 connect=0 read=0 write=0 timeout=0" ]] ||
        log "fill $name pass $pass: $W_ERRS"
    fi
    have="$(instance_count "$port")"
  done
  FILLED=$have
}

# -- nginx --------------------------------------------------------------------
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
  done
  die "no free port"
}
start_nginx() { # RESOLVE_BODY_FILE REGISTER_BODY
  local body=$2
  [[ "$body" != *"'"* && "$body" != *'\'* && "$body" != *'$'* ]] ||
    die "register body cannot be quoted for nginx"
  mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs"
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
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/resolve.json" 2>/dev/null && return
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/nginx/logs/error.log" "$tmp/nginx/stdout.log" >&2 2>/dev/null || true
  die "nginx did not start"
}

# -- 1. registrations ---------------------------------------------------------
log "node A: registrations for $DURATION (wrk -t$THREADS -c$CONNS)"
start_node a
a_pid=$NODE_PID a_port=$NODE_PORT
a_url="http://127.0.0.1:$a_port/api/services"
curl -fsS -o "$tmp/register.json" -X POST -H 'Content-Type: application/json' \
  -d '{"name":"bench","id":"bench-probe-0-0","host":"127.0.0.1","port":6000}' "$a_url"
run_wrk reg-vm "$THREADS" "$a_url" "$tmp/register.lua" "rate"
((T1)) && run_wrk reg-vm-t1 1 "$a_url" "$tmp/register.lua" "rate1"
a_after_rate="$(instance_count "$a_port")"
log "node A holds $a_after_rate instances after the register runs"
stop_node "$a_pid"

# -- 2. resolves ----------------------------------------------------------------
log "node B: $INSTANCES instances, then resolves"
start_node b
b_pid=$NODE_PID b_port=$NODE_PORT
fill_to b "$b_port" "$INSTANCES"
b_count=$FILLED
resolve_url="http://127.0.0.1:$b_port/api/services/bench/resolve?strategy=round-robin"
curl -fsS -o "$tmp/resolve.json" "$resolve_url"
resolve_bytes="$(stat -c %s "$tmp/resolve.json")"
register_bytes="$(stat -c %s "$tmp/register.json")"
start_nginx "$tmp/resolve.json" "$(cat "$tmp/register.json")"
nginx_base="http://127.0.0.1:$NGINX_PORT"
[[ "$(curl -fsS "$nginx_base/resolve.json" | wc -c)" == "$resolve_bytes" ]] ||
  die "nginx static body size differs"
[[ "$(curl -fsS -X POST -d '{}' "$nginx_base/api/services" | wc -c)" == "$register_bytes" ]] ||
  die "nginx register body size differs"

run_wrk res-vm "$THREADS" "$resolve_url" "$tmp/stats.lua"
run_wrk res-ng "$THREADS" "$nginx_base/resolve.json" "$tmp/stats.lua"
if ((T1)); then
  run_wrk res-vm-t1 1 "$resolve_url" "$tmp/stats.lua"
  run_wrk res-ng-t1 1 "$nginx_base/resolve.json" "$tmp/stats.lua"
fi
run_wrk reg-ng "$THREADS" "$nginx_base/api/services" "$tmp/register.lua" "rate"
((T1)) && run_wrk reg-ng-t1 1 "$nginx_base/api/services" "$tmp/register.lua" "rate1"
b_final="$(instance_count "$b_port")"
((b_final == b_count)) || log "warning: node B changed from $b_count to $b_final instances"
stop_node "$b_pid"

# -- 3. memory --------------------------------------------------------------------
log "node C (fresh): $MEM_INSTANCES instances for memory"
start_node c
c_pid=$NODE_PID c_port=$NODE_PORT
sleep 0.5
c_rss0="$(rss_bytes "$c_pid")"
fill_to c "$c_port" "$MEM_INSTANCES"
c_count=$FILLED
sleep 1
c_rss1="$(rss_bytes "$c_pid")"
stop_node "$c_pid"
mem_delta=$((c_rss1 - c_rss0))
per_instance=$((mem_delta / c_count))

# -- summary ------------------------------------------------------------------------
elapsed=$((SECONDS - started_at))
row() { printf '%-24s %-14s %-14s %s\n' "$@"; }
lat() { echo "$(ms "$1")/$(ms "$2")"; }
echo
echo "registry benchmark ($(nproc) cores, wrk -c$CONNS -d$DURATION, same run, ${elapsed}s)"
echo "resolves: node with $b_count instances of 'bench'; nginx: static ${resolve_bytes}-byte file"
echo "registers: unique ids into a fresh node; nginx: return 201 with a ${register_bytes}-byte body"
echo "nginx: $NGINX_WORKERS worker(s); valmesh: default threads (1 HTTP, 2 actor)"
row "" "valmesh" "nginx" "ratio"
row "resolve req/s -t$THREADS" "$(printf '%.0f' "$R_res_vm_rps")" "$(printf '%.0f' "$R_res_ng_rps")" "$(ratio "$R_res_vm_rps" "$R_res_ng_rps")"
row "resolve p50/p99 -t$THREADS" "$(lat "$R_res_vm_p50" "$R_res_vm_p99")" "$(lat "$R_res_ng_p50" "$R_res_ng_p99")"
if ((T1)); then
  row "resolve req/s -t1" "$(printf '%.0f' "$R_res_vm_t1_rps")" "$(printf '%.0f' "$R_res_ng_t1_rps")" "$(ratio "$R_res_vm_t1_rps" "$R_res_ng_t1_rps")"
  row "resolve p50/p99 -t1" "$(lat "$R_res_vm_t1_p50" "$R_res_vm_t1_p99")" "$(lat "$R_res_ng_t1_p50" "$R_res_ng_t1_p99")"
fi
row "register req/s -t$THREADS" "$(printf '%.0f' "$R_reg_vm_rps")" "$(printf '%.0f' "$R_reg_ng_rps")" "$(ratio "$R_reg_vm_rps" "$R_reg_ng_rps")"
row "register p50/p99 -t$THREADS" "$(lat "$R_reg_vm_p50" "$R_reg_vm_p99")" "$(lat "$R_reg_ng_p50" "$R_reg_ng_p99")"
if ((T1)); then
  row "register req/s -t1" "$(printf '%.0f' "$R_reg_vm_t1_rps")" "$(printf '%.0f' "$R_reg_ng_t1_rps")" "$(ratio "$R_reg_vm_t1_rps" "$R_reg_ng_t1_rps")"
  row "register p50/p99 -t1" "$(lat "$R_reg_vm_t1_p50" "$R_reg_vm_t1_p99")" "$(lat "$R_reg_ng_t1_p50" "$R_reg_ng_t1_p99")"
fi
awk -v n="$c_count" -v d="$mem_delta" -v p="$per_instance" -v r0="$c_rss0" -v r1="$c_rss1" 'BEGIN{
  printf "memory: %d instances: +%.1f MiB RSS (%.1f -> %.1f MiB) = %d bytes/instance\n",
    n, d/1048576, r0/1048576, r1/1048576, p }'
echo "wrk errors (non-2xx, socket):"
for k in res_vm res_ng res_vm_t1 res_ng_t1 reg_vm reg_ng reg_vm_t1 reg_ng_t1; do
  v="R_${k}_errs"
  [[ -n "${!v:-}" ]] && printf '  %-10s %s\n' "$k" "${!v}"
done
echo "node A held $a_after_rate instances after the register runs (every POST it accepted, in-flight ones included)"
((compiler_seen)) && echo "WARNING: a compiler (cc1plus) ran during the measurements; numbers are suspect"
exit 0
