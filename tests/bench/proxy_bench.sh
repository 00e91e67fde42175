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
#   CHART= tests/bench/proxy_bench.sh               # chart: docs/proxy-latency.png
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
#            `bench`; wrk on /proxy/bench/ once that answers 200 (tracing on,
#            the default)
#   valmesh --no-tracing   the same agent with --no-tracing
# "cpu" is the target's processes' utime+stime (/proc/PID/stat, nginx: master
# and workers) over the measured run, in % of one core; for `direct` it is
# the upstream's own. "cpu µs/req" is that CPU time over the requests wrk
# completed. Requests/s is wrk's figure (all answers); the non-2xx
# and socket error counts are printed next to it. The efficiency ratio
# valmesh/HAProxy is requests per CPU-second of each, that is HAProxy's CPU
# per request over valmesh's; it is printed beside the throughput ratio, for
# tracing on and off. One pass: for the median of interleaved rounds, see
# proxy_cost_bench.sh.
#
# Latency percentiles: each measured run also reports p50, p75, p90, p99,
# p99.9 and p99.99 (a wrk Lua `done` hook; it defines no per-request function,
# so wrk keeps its static request path). They are printed as a table and drawn
# with gnuplot (Debian `gnuplot-nox`, installed if missing) as a PNG: one panel
# per connection count, latency (log scale) against percentile, a line per
# target. The script prints where the chart went:
#   CHART unset     $tmp/proxy-latency.png (removed on exit unless KEEP_TMP=1)
#   CHART=          docs/proxy-latency.png in the checkout
#   CHART=FILE      FILE
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before each target's phase wait (poll 2 s, up to LOCK_WAIT s) until no
# compiler, build tool or test binary (BUSY_RE in lib.sh) runs and the lock file
# is absent, create it (noclobber), delete it
# at the end of the phase or on exit. A watchdog stops the run if one phase
# passes LOCK_MAX s (it runs with the lock protocol off too).
#
# Environment (defaults in brackets):
#   D [10s]  WARM [2s]  CONNS ["64 8"]  THREADS [2]  PROXY_WORKERS [1]
#   AGENT_ARGS [] extra agent flags, e.g. --http-threads 2
#   CHART [unset] where the latency chart goes (above)
#   VALMESH [build/valmesh of this checkout]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
#
# Helpers shared with the other benchmarks (tools, cleanup, lock protocol,
# CPU ticks, ports, polling, wrk output): tests/bench/lib.sh.
set -euo pipefail

bench_name=proxy-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
VALMESH="${VALMESH:-$root/build/valmesh}"
D="${D:-10s}"
WARM="${WARM:-2s}"
CONNS="${CONNS:-64 8}"
THREADS="${THREADS:-2}"
PROXY_WORKERS="${PROXY_WORKERS:-1}"
AGENT_ARGS="${AGENT_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
CORES="$(nproc)"

[[ "$D" =~ ^[1-9][0-9]*s?$ ]] || die "D must be whole seconds, like 10s"
[[ "$WARM" =~ ^[0-9]+s?$ ]] || die "WARM must be whole seconds, like 2s"

# -- tools ------------------------------------------------------------------
install_tools wrk nginx haproxy curl ss pgrep gnuplot
require_tools wrk nginx curl ss pgrep
require_built "$VALMESH"
chart_in_tmp=0
if [[ -z "${CHART+set}" ]]; then
  chart_in_tmp=1
elif [[ -z "$CHART" ]]; then
  CHART="$root/docs/proxy-latency.png"
fi

# -- cleanup ------------------------------------------------------------------
procs=() notes=()
stop_proc() { # PID: SIGTERM, 5 s, SIGKILL; forgets it
  [[ -n "$1" ]] || return 0
  kill_wait "$1" TERM 5
  forget_pid procs "$1"
}
stop_all() { # RC
  local p
  [[ -n "$wrk_pid" ]] && kill_wait "$wrk_pid" INT 3
  # Newest first: agent / proxies before the upstream.
  for ((p = ${#procs[@]} - 1; p >= 0; p--)); do kill_wait "${procs[p]}" TERM 5; done
  lock_release
}
bench_setup valmesh-proxy-bench
chmod 755 "$tmp"  # nginx workers (user nobody) create their temp dirs below
((chart_in_tmp)) && CHART="$tmp/proxy-latency.png"

# The percentiles of the table and the chart, and the wrk hook that prints
# them (in microseconds) when a run ends.
PCTS=(50 75 90 99 99.9 99.99)
cat >"$tmp/percentiles.lua" <<LUA
done = function(summary, latency, requests)
  for _, p in ipairs({$(IFS=,; echo "${PCTS[*]}")}) do
    io.write(string.format("percentile %g %d\\n", p, latency:percentile(p)))
  end
end
LUA

# -- helpers ----------------------------------------------------------------------
# utime+stime of a process and its children (nginx: master and workers).
tree_ticks() {
  local p s=0 t
  for p in "$1" $(pgrep -P "$1" || true); do
    t="$(proc_ticks "$p")"
    s=$((s + ${t:-0}))
  done
  echo "$s"
}

# -- wrk ------------------------------------------------------------------------
# Warm-up, then the measured run. Sets R_<TARGET>_<CONNS>_{rps,p50,p99,cpu,errs}.
run_wrk() { # TARGET CONNS URL PID_FOR_CPU
  local target=$1 c=$2 url=$3 pid=$4 out="$tmp/wrk-$1-$2.out" c0 c1 t0 t1 key="$1_$2"
  wrk -t"$THREADS" -c"$c" -d"$WARM" "$url" >"$tmp/wrk-$target-$c-warm.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  check_quiet "$target-$c"
  c0="$(tree_ticks "$pid")" t0="$(now)"
  wrk -t"$THREADS" -c"$c" -d"$D" --latency -s "$tmp/percentiles.lua" "$url" >"$out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
  c1="$(tree_ticks "$pid")" t1="$(now)"
  check_quiet "$target-$c"
  if ! parse_wrk "$out"; then
    notes+=("wrk $target -c$c: output not understood: $(tr '\n' ' ' <"$out" | cut -c1-300)")
    return 0
  fi
  W_SOCK="${W_SOCK:-none}"
  keep_figures "$key" "non2xx=$W_NON2XX socket: $W_SOCK"
  printf -v "R_${key}_cpu" '%s' "$(pct $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")"
  printf -v "R_${key}_us" '%s' "$(awk -v t=$((c1 - c0)) -v n="$W_REQS" -v hz="$HZ" 'BEGIN{printf "%.1f", 1e6 * t / hz / n}')"
  awk '$1 == "percentile" {printf "%s %.3f\n", $2, $3 / 1000}' "$out" >"$tmp/pct-$key"
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
# Adds PID (just started) to procs and waits up to SECONDS for URL to answer
# 200 "ok" while it runs; if it does not, prints LOGS and stops PID.
await_start() { # PID URL SECONDS LOGS...
  local pid=$1 url=$2 secs=$3
  shift 3
  procs+=("$pid")
  wait_ok "$url" "$secs" "$pid" ok && return 0
  cat "$@" >&2 2>/dev/null || true
  stop_proc "$pid"
  return 1
}
run_nginx() { # NAME CONF_FILE PORT -> NGINX_PID (empty on failure)
  local dir="$tmp/$1"
  nginx -p "$dir" -c "$2" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  await_start "$NGINX_PID" "http://127.0.0.1:$3/" 5 "$dir/error.log" "$dir/stdout.log" && return 0
  NGINX_PID=""
  return 1
}
# An nginx in $tmp/NAME on a free port (3 tries): WORKERS worker processes,
# the common settings, and in its http block what SERVER PORT prints.
start_nginx() { # NAME WORKERS SERVER -> NGINX_PORT NGINX_PID
  local dir="$tmp/$1"
  mkdir -p "$dir"
  chmod 755 "$dir"
  for _ in 1 2 3; do
    NGINX_PORT="$(free_port)"
    { echo "worker_processes $2;"; nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      "$3" "$NGINX_PORT"
      echo "}"
    } >"$dir/nginx.conf"
    run_nginx "$1" "$dir/nginx.conf" "$NGINX_PORT" && return 0
  done
  return 1
}
upstream_server() { # PORT
  cat <<EOF
  default_type text/plain;
  server {
    listen 127.0.0.1:$1;
    location / { return 200 "ok"; }
  }
EOF
}
proxy_server() { # PORT
  cat <<EOF
  upstream up {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
EOF
}
start_upstream() { # -> UP_PORT UP_PID
  start_nginx upstream 1 upstream_server || die "upstream nginx did not start"
  UP_PORT=$NGINX_PORT UP_PID=$NGINX_PID
}
start_nginx_proxy() { # -> NX_PORT NX_PID
  start_nginx nginx-proxy "$PROXY_WORKERS" proxy_server || return 1
  NX_PORT=$NGINX_PORT NX_PID=$NGINX_PID
}
start_agent() { # [FLAGS] -> VM_PORT VM_PID
  local cfg="$tmp/valmesh.json" flags="${1:-}"
  printf '{"services":[{"name":"bench","id":"bench-upstream","host":"127.0.0.1","port":%s}]}\n' \
    "$UP_PORT" >"$cfg"
  for _ in 1 2 3; do
    VM_PORT="$(free_port)"
    # shellcheck disable=SC2086 # flags and AGENT_ARGS are lists of agent flags
    "$VALMESH" agent --dev --http "127.0.0.1:$VM_PORT" --cluster 127.0.0.1:0 --config "$cfg" \
      --node-name proxy-bench --drain-timeout 2s $flags $AGENT_ARGS >"$tmp/agent.log" 2>&1 &
    VM_PID=$!
    # The first health check (due within about a second) makes it routable.
    await_start "$VM_PID" "http://127.0.0.1:$VM_PORT/proxy/bench/" 20 "$tmp/agent.log" && return 0
    VM_PID=""
  done
  return 1
}

# -- run --------------------------------------------------------------------------------
binary_info="$(describe_binary "$VALMESH")"
commit_info="$(git -C "$root" log -1 --format='commit %h' 2>/dev/null || true)"
haproxy_info="$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}' || true)"
nginx_info="$(nginx -v 2>&1 | sed 's/.*nginx\///')"
TARGETS=(direct haproxy nginx valmesh valmesh_nt)
declare -A LABEL=([direct]="direct" [haproxy]="HAProxy ${haproxy_info%%-*}"
                  [nginx]="nginx proxy" [valmesh]="valmesh"
                  [valmesh_nt]="valmesh no-trace")

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
if start_agent --no-tracing; then
  log "valmesh agent --no-tracing on 127.0.0.1:$VM_PORT (pid $VM_PID)"
  measure valmesh_nt "http://127.0.0.1:$VM_PORT/proxy/bench/" "$VM_PID"
  stop_proc "$VM_PID"
else
  notes+=("the valmesh agent (--no-tracing) did not answer 200 on /proxy/bench/: not measured")
fi
stop_proc "$UP_PID"

# -- summary -------------------------------------------------------------------------------
fig() { local v="R_$1_$2_$3"; echo "${!v:-n/a}"; }
cat <<EOF

proxy benchmark: wrk -t$THREADS -dD --latency, D=$D after a $WARM warm-up, $CORES cores, $((SECONDS - started_at))s
upstream: nginx $nginx_info, 1 worker, return 200 "ok"; nginx proxy: $PROXY_WORKERS worker, keepalive 64; HAProxy ${haproxy_info:-n/a}, nbthread 1
valmesh: $binary_info, flags: --dev ${AGENT_ARGS:-(no extra flags)}
checkout: ${commit_info:-not a git checkout}; run at $(date -u '+%Y-%m-%d %H:%M UTC')
EOF
row='%-16s %5s %12s %10s %10s %6s %11s  %s\n'
printf "$row" target conns requests/s "p50 ms" "p99 ms" "cpu%" "cpu µs/req" errors
for c in $CONNS; do
  for t in "${TARGETS[@]}"; do
    printf "$row" "${LABEL[$t]}" "$c" "$(fig "$t" "$c" rps)" "$(fig "$t" "$c" p50)" \
      "$(fig "$t" "$c" p99)" "$(fig "$t" "$c" cpu)" "$(fig "$t" "$c" us)" "$(fig "$t" "$c" errs)"
  done
done
for c in $CONNS; do
  for t in valmesh valmesh_nt; do
    awk -v v="$(fig "$t" "$c" rps)" -v h="$(fig haproxy "$c" rps)" -v vu="$(fig "$t" "$c" us)" \
      -v hu="$(fig haproxy "$c" us)" -v label="${LABEL[$t]}" -v c="$c" 'BEGIN{
      printf "%s / HAProxy at %s connections: requests/s ", label, c
      if (v != "n/a" && h != "n/a" && h > 0) printf "%.2f", v / h; else printf "n/a"
      printf ", efficiency (requests per CPU-second) "
      if (vu != "n/a" && hu != "n/a" && vu > 0) printf "%.2f\n", hu / vu; else print "n/a" }'
  done
done
awk -v d="$(fig direct 8 p50)" -v h="$(fig haproxy 8 p50)" -v v="$(fig valmesh 8 p50)" 'BEGIN{
  ok = (d != "n/a")
  ha = (ok && h != "n/a") ? h - d : "n/a"; va = (ok && v != "n/a") ? v - d : "n/a"
  printf "added p50 over direct at 8 connections: HAProxy %s ms, valmesh %s ms, valmesh/HAProxy ",
    (ha == "n/a") ? ha : sprintf("%+.3f", ha), (va == "n/a") ? va : sprintf("%+.3f", va)
  if (ha != "n/a" && va != "n/a" && ha > 0) printf "%.2f\n", va / ha; else print "n/a" }'
echo "cpu% = the target's processes over the measured run, % of one core (direct: the upstream nginx)"

# Latency percentiles of each measured run, in ms.
pct_of() { # KEY PERCENTILE
  awk -v p="$2" '$1 == p {print $2; f = 1} END {if (!f) print "n/a"}' "$tmp/pct-$1"
}
echo
printf '%-16s %5s' "latency ms" conns
for p in "${PCTS[@]}"; do printf ' %9s' "p$p"; done
echo
for c in $CONNS; do
  for t in "${TARGETS[@]}"; do
    [[ -s "$tmp/pct-${t}_$c" ]] || continue
    printf '%-16s %5s' "${LABEL[$t]}" "$c"
    for p in "${PCTS[@]}"; do printf ' %9s' "$(pct_of "${t}_$c" "$p")"; done
    echo
  done
done

# The chart: a panel per connection count, a line per target; x is the
# percentile on the usual latency-by-percentile scale, -log10(1 - p).
xpos() { awk -v p="$1" 'BEGIN{printf "%.4f", -log(1 - p / 100) / log(10)}'; }
draw_chart() {
  local c t p panels=0 plots dat xtics=""
  for p in "${PCTS[@]}"; do xtics+="${xtics:+, }\"p$p\" $(xpos "$p")"; done
  for c in $CONNS; do
    for t in "${TARGETS[@]}"; do
      if [[ -s "$tmp/pct-${t}_$c" ]]; then panels=$((panels + 1)); break; fi
    done
  done
  ((panels > 0)) || { echo "chart: no latency figures, not drawn"; return 0; }
  {
    echo "set terminal pngcairo size $((520 * panels + 80)),560 font 'sans,11'"
    echo "set output '$CHART'"
    echo "set multiplot layout 1,$panels title \"valmesh /proxy against HAProxy, nginx and the upstream direct: wrk -t$THREADS -d$D, $CORES cores, $(date -u +%Y-%m-%d), ${commit_info:-unknown commit}\" font 'sans,12'"
    echo "set logscale y"
    echo "set format y '%g'"
    echo "set ytics add (0.02, 0.05, 0.2, 0.5, 2, 5, 20, 50)"
    echo "set xtics ($xtics)"
    echo "set xrange [0.2:4.2]"
    echo "set grid xtics ytics mytics"
    echo "set xlabel 'percentile'"
    echo "set ylabel 'latency (ms, log scale)'"
    echo "set key top left box opaque Left reverse"
    for c in $CONNS; do
      plots=""
      for t in "${TARGETS[@]}"; do
        [[ -s "$tmp/pct-${t}_$c" ]] || continue
        dat="$tmp/chart-${t}_$c.dat"
        while read -r p v; do echo "$(xpos "$p") $v"; done <"$tmp/pct-${t}_$c" >"$dat"
        plots+="${plots:+, }'$dat' using 1:2 with linespoints lw 2 pt 7 ps 0.8 title '${LABEL[$t]}'"
      done
      [[ -n "$plots" ]] || continue
      echo "set title '$c connections'"
      echo "plot $plots"
    done
    echo "unset multiplot"
  } >"$tmp/chart.gp"
  if ! command -v gnuplot >/dev/null; then
    echo "chart: gnuplot is not installed (apt-get install gnuplot-nox failed), not drawn"
  elif mkdir -p "$(dirname "$CHART")" && gnuplot "$tmp/chart.gp" 2>"$tmp/gnuplot.err"; then
    if ((chart_in_tmp)) && [[ "$KEEP_TMP" != 1 ]]; then
      echo "chart: $CHART (removed on exit; keep it with KEEP_TMP=1 or CHART=FILE)"
    else
      echo "chart: $CHART"
    fi
  else
    echo "chart: gnuplot failed: $(head -3 "$tmp/gnuplot.err" | tr '\n' ' ')"
  fi
}
echo
draw_chart
[[ -n "${VM_THREADS:-}" ]] && echo "valmesh agent: $VM_THREADS threads; $VM_LOG_LINES log lines over the run"
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
