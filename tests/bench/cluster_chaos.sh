#!/usr/bin/env bash
# Cluster chaos run: three valmesh nodes, each in its own Linux network
# namespace, while one node at a time is killed, hung or cut off and clients
# keep registering, deregistering, heartbeating and calling through /proxy.
#
# Runs on demand only, never in the timed suite. It needs root (it makes
# network namespaces); it touches none of the machine's own interfaces,
# addresses or firewall rules, and it deletes every namespace and stops every
# process it started on exit, Ctrl-C included. It exits 0 whatever the
# figures are (it fails only when it cannot set the run up).
#
#   tests/bench/cluster_chaos.sh
#   SEED=4242 tests/bench/cluster_chaos.sh               # replay a schedule
#   DURATION=20 tests/bench/cluster_chaos.sh             # a smoke run
#   BUILD_DIR=/path/to/build BENCH_LOCK= tests/bench/cluster_chaos.sh
#
# Network: a hub namespace holds a bridge (10.99.0.254/24); node K (1..3)
# lives in namespace nK with a veth pair to that bridge and the address
# 10.99.0.K. The three `valmesh-echo` upstreams (ports 9001..9003) and the
# client side (tests/bench/cluster_chaos.py, Python 3 standard library) run
# in the hub namespace, so the clients reach every node's HTTP port and every
# node reaches every upstream. All names carry this script's pid, so two
# runs never collide.
#
# Nodes: `valmesh agent --node-name nK --http 10.99.0.K:8700 --cluster
# 10.99.0.K:7946 --data-dir DIR --join <the other two cluster addresses>
# --health-interval 1s --config CFG`, CFG = {"health":
# {"deregisterCriticalAfter": "0s"}} so that no instance is ever removed for
# being critical (a removal would read as a lost write). The client first
# registers the three echoes as service `echo` (ids echo-e1..3, checked on
# /health) and waits until every node sees them passing.
#
# Faults: every FAULT_EVERY s from the start of the load (5, 10, ... while
# below DURATION) one node picked at random (bash's RANDOM seeded with SEED,
# printed) gets one of:
#   kill       SIGKILL, restarted on its data dir RESTART_AFTER s later
#   stop       SIGSTOP for STOP_FOR s, then SIGCONT
#   partition  PARTITION_FOR s of nftables rules in its own namespace that
#              drop every packet to and from the other two nodes' addresses
#              (the clients and the upstreams still reach it)
# The faults (node, kind, start, end, restart and answering times) go to
# faults.jsonl; FAULTS="kill stop" picks the kinds.
#
# Load (for DURATION s, spread over the three nodes, each request on a fresh
# connection with a 2 s timeout; a request that gets no answer, a 5xx, or a
# 404 for an instance the client knows is registered is tried on the next
# node): WRITERS threads registering (ttl 20s, checked on the echoes),
# deregistering and heartbeating their own instances of services
# chaos-0..2, and PROXIES threads sending GET /proxy/echo/chaos/N, tried
# once more on another node when the first node fails. Then the client
# waits for the schedule's end and polls every node every 200 ms until all
# three see all three alive and hold equal catalogs (the sorted
# name/id@revision of every instance), at most CONVERGE_MAX s.
#
# Report (a table, then one JSON line): acknowledged writes lost,
# deregistered instances that came back, proxied GETs failed after the
# retry, false `dead` declarations (heard on any node's SSE stream or seen in
# its member list while neither the subject nor, for a partition, the
# observer was under a fault, GRACE s after a fault's end included), the
# echo instances left unchecked longer than the interval (1 s) + DETECT s
# (each echo's GET /control healthChecks count polled every 200 ms), and
# convergence: the time from the last fault's end until every member list
# shows every node alive, and from the load's end until, in one poll, every
# node also holds the same catalog; per fault, the time from its end until
# the faulted node and the others (those not under the next fault) see each
# other alive. Instances that came back are listed with the node log lines
# that name them.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before starting the nodes wait (poll 2 s, up to LOCK_WAIT s) until no
# compiler, build tool or test binary (BUSY_RE in lib.sh) runs and the lock
# file is absent, create it (noclobber), delete it after the convergence
# poll or on exit. A watchdog stops the run if it passes LOCK_MAX s (it
# runs with the lock protocol off too).
#
# Environment (defaults in brackets):
#   DURATION [60] s  FAULT_EVERY [5] s  STOP_FOR [3] s  PARTITION_FOR [5] s
#   RESTART_AFTER [1] s  FAULTS ["kill stop partition"]  SEED [random]
#   WRITERS [4]  PROXIES [2]  CONVERGE_MAX [60] s  DETECT [4] s  GRACE [2] s
#   BUILD_DIR [build]  VALMESH [BUILD_DIR/valmesh] (run from a copy in the
#     tmp dir, taken once it has not changed for 20 s)
#   ECHO [BUILD_DIR/examples/valmesh-echo]  KEEP_TMP [0] (1: keep the logs)
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [DURATION + CONVERGE_MAX + 60] s
#
# Helpers shared with the other benchmarks (tools, cleanup, lock protocol,
# polling): tests/bench/lib.sh.
set -euo pipefail

bench_name=cluster-chaos
user_lock_max="${LOCK_MAX:-}" # lib.sh sets its own default
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
helper="$root/tests/bench/cluster_chaos.py"
BUILD_DIR="${BUILD_DIR:-$root/build}"
VALMESH="${VALMESH:-$BUILD_DIR/valmesh}"
ECHO="${ECHO:-$BUILD_DIR/examples/valmesh-echo}"
DURATION="${DURATION:-60}"
FAULT_EVERY="${FAULT_EVERY:-5}"
STOP_FOR="${STOP_FOR:-3}"
PARTITION_FOR="${PARTITION_FOR:-5}"
RESTART_AFTER="${RESTART_AFTER:-1}"
FAULTS="${FAULTS:-kill stop partition}"
SEED="${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}"
WRITERS="${WRITERS:-4}"
PROXIES="${PROXIES:-2}"
CONVERGE_MAX="${CONVERGE_MAX:-60}"
DETECT="${DETECT:-4}"
GRACE="${GRACE:-2}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
NODES=3
HTTP_PORT=8700
CLUSTER_PORT=7946
NET=10.99.0
HUB_IP="$NET.254"

for v in DURATION FAULT_EVERY STOP_FOR PARTITION_FOR WRITERS PROXIES CONVERGE_MAX DETECT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a whole number above 0, not '${!v}'"
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a whole number, not '$SEED'"
for v in RESTART_AFTER GRACE; do
  [[ "${!v}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$v must be seconds, not '${!v}'"
done
kinds=()
for f in $FAULTS; do
  [[ " kill stop partition " == *" $f "* ]] || die "unknown fault '$f' (kill stop partition)"
  kinds+=("$f")
done
((${#kinds[@]})) || die "FAULTS names no fault"
((STOP_FOR <= FAULT_EVERY && PARTITION_FOR <= FAULT_EVERY)) ||
  die "STOP_FOR and PARTITION_FOR must not pass FAULT_EVERY ($FAULT_EVERY s)"
LOCK_MAX="${user_lock_max:-$((DURATION + CONVERGE_MAX + 60))}"
command_line="SEED=$SEED"
for v in DURATION FAULT_EVERY STOP_FOR PARTITION_FOR RESTART_AFTER WRITERS PROXIES CONVERGE_MAX DETECT GRACE; do
  command_line+=" $v=${!v}"
done
[[ "$FAULTS" == "kill stop partition" ]] || command_line+=" FAULTS=\"$FAULTS\""
command_line+=" tests/bench/cluster_chaos.sh"

# -- tools ------------------------------------------------------------------
install_tools ip nft curl python3
require_tools ip nft curl python3
require_built "$VALMESH" "$ECHO"
[[ -r "$helper" ]] || die "$helper missing"

# -- cleanup ------------------------------------------------------------------
# Namespaces made (hub first), node pids N_PID[K], echo pids, client pid.
ns_made=() N_PID=() echo_pids=() py_pid=""
HUB="vmc$$-hub"
ns_of() { echo "vmc$$-n$1"; } # K
# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
stop_all() { # RC
  local p ns
  [[ -n "$py_pid" ]] && kill_wait "$py_pid" TERM 5
  for p in "${N_PID[@]}"; do
    [[ -n "$p" ]] || continue
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${N_PID[@]}"; do [[ -n "$p" ]] && kill_wait "$p" TERM 12; done
  for p in "${echo_pids[@]}"; do [[ -n "$p" ]] && kill_wait "$p" TERM 3; done
  # Anything still inside a namespace of this run was started by it.
  for ns in "${ns_made[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in "${ns_made[@]}"; do ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"; done
  lock_release
}
bench_setup valmesh-cluster-chaos

nap() { sleep "$1" & local s=$!; { wait "$s"; } 2>/dev/null; } # interruptible sleep
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
hub() { ip netns exec "$HUB" "$@"; }

# The binaries run from a private copy, taken once each has stayed unchanged
# for 20 s: a rebuild of BUILD_DIR during the run (the linker rewriting
# valmesh) must not turn a restart into "Permission denied".
settled() { # FILE
  local i m
  for ((i = 0; i < 60; i++)); do
    m="$(stat -c %Y "$1" 2>/dev/null || echo 0)"
    (($(date +%s) - m >= 20)) && "$1" --help >/dev/null 2>&1 && return 0
    ((i % 6)) || log "$1 is being rebuilt; waiting until it settles"
    nap 10
  done
  die "$1 did not settle within 10 minutes"
}
copy_binaries() {
  settled "$VALMESH"
  settled "$ECHO"
  mkdir -p "$tmp/bin"
  cp "$VALMESH" "$tmp/bin/valmesh"
  cp "$ECHO" "$tmp/bin/valmesh-echo"
  binary_info="$(describe_binary "$VALMESH" || echo "$VALMESH (version unknown)")"
}

# -- network -------------------------------------------------------------------
net_setup() {
  local k ns err
  err="$(ip netns add "$HUB" 2>&1)" ||
    die "ip netns add refused ($err): this run needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
  ns_made+=("$HUB")
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" addr add "$HUB_IP/24" dev br0
  ip -n "$HUB" link set br0 up
  for ((k = 1; k <= NODES; k++)); do
    ns="$(ns_of "$k")"
    ip netns add "$ns" || die "ip netns add $ns failed"
    ns_made+=("$ns")
    ip -n "$ns" link set lo up
    # Made inside the hub with its peer straight in the node's namespace:
    # no interface ever appears in the machine's own namespace.
    ip -n "$HUB" link add "v$k" type veth peer name eth0 netns "$ns"
    ip -n "$HUB" link set "v$k" master br0 up
    ip -n "$ns" addr add "$NET.$k/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}
# nftables rules in node K's namespace dropping everything to and from the
# other nodes (not the hub: clients and upstreams still reach it).
partition() { # K
  local k=$1 j others=""
  for ((j = 1; j <= NODES; j++)); do ((j == k)) || others+="${others:+, }$NET.$j"; done
  ip netns exec "$(ns_of "$k")" nft -f - <<EOF
table inet chaos {
  chain input { type filter hook input priority 0; policy accept; ip saddr { $others } drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr { $others } drop; }
}
EOF
}
heal() { ip netns exec "$(ns_of "$1")" nft delete table inet chaos; } # K

# -- processes -------------------------------------------------------------------
start_echoes() {
  local k
  for k in 1 2 3; do
    hub "$tmp/bin/valmesh-echo" --host "$HUB_IP" --port $((9000 + k)) --name "e$k" >"$tmp/echo-e$k.log" 2>&1 &
    echo_pids[k]=$!
  done
  for k in 1 2 3; do
    poll 50 0.1 "${echo_pids[k]}" hub curl -fsS -o /dev/null --max-time 1 "http://$HUB_IP:$((9000 + k))/health" ||
      die "echo e$k did not start: $(tail -3 "$tmp/echo-e$k.log" | tr '\n' ' ')"
  done
}
node_launch() { # K
  local k=$1 j joins=()
  for ((j = 1; j <= NODES; j++)); do ((j == k)) || joins+=(--join "$NET.$j:$CLUSTER_PORT"); done
  mkdir -p "$tmp/n$k"
  echo "--- $(date -Is) start" >>"$tmp/n$k.log"
  ip netns exec "$(ns_of "$k")" "$tmp/bin/valmesh" agent --node-name "n$k" \
    --http "$NET.$k:$HTTP_PORT" --cluster "$NET.$k:$CLUSTER_PORT" --data-dir "$tmp/n$k" \
    "${joins[@]}" --health-interval 1s --config "$tmp/node.json" >>"$tmp/n$k.log" 2>&1 &
  N_PID[k]=$!
}
node_answers() { hub curl -fsS -o /dev/null --max-time 1 "http://$NET.$1:$HTTP_PORT/health" 2>/dev/null; }
# Waits up to SECONDS for node K's /health; relaunches it once if it exited.
node_wait() { # K SECONDS
  local k=$1 deadline
  deadline="$(awk -v n="$(now)" -v s="$2" 'BEGIN{printf "%.3f", n + s}')"
  while awk -v d="$deadline" -v n="$(now)" 'BEGIN{exit !(n < d)}'; do
    node_answers "$k" && return 0
    if ! alive "${N_PID[k]}"; then
      wait "${N_PID[k]}" 2>/dev/null || true
      log "n$k exited: $(tail -2 "$tmp/n$k.log" | tr '\n' ' '); starting it again"
      notes+=("n$k exited on its own at +$(since_t0)s and was started again")
      nap 0.5
      node_launch "$k"
    fi
    nap 0.1
  done
  return 1
}
since_t0() { awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}'; }
rel() { awk -v a="$t0" -v b="$1" 'BEGIN{printf "%.2f", b - a}'; } # EPOCH -> seconds from t0

# -- run --------------------------------------------------------------------------
notes=()
echo '{"health":{"deregisterCriticalAfter":"0s"}}' >"$tmp/node.json"
net_setup
copy_binaries
log "seed $SEED; valmesh: $binary_info"
log "namespaces: ${ns_made[*]} (hub bridge $HUB_IP, nodes $NET.1-$NODES)"
start_echoes
lock_acquire chaos
check_quiet chaos
t0="$(now)"
for ((k = 1; k <= NODES; k++)); do node_launch "$k"; done
for ((k = 1; k <= NODES; k++)); do node_wait "$k" 20 || die "n$k did not answer: $(tail -5 "$tmp/n$k.log" | tr '\n' ' ')"; done
nodes_arg="" echoes_arg=""
for ((k = 1; k <= NODES; k++)); do nodes_arg+="${nodes_arg:+,}n$k=$NET.$k:$HTTP_PORT"; done
for k in 1 2 3; do echoes_arg+="${echoes_arg:+,}e$k=$HUB_IP:$((9000 + k))"; done
hub python3 "$helper" setup --nodes "$nodes_arg" --echoes "$echoes_arg" --timeout 30 \
  >"$tmp/setup.json" 2>>"$tmp/py.log" || die "the cluster did not form: $(cat "$tmp/setup.json") $(tail -3 "$tmp/py.log")"
log "setup: $(cat "$tmp/setup.json")"

# The load starts at t0; the faults are timed from it.
t0="$(awk -v n="$(now)" 'BEGIN{printf "%.6f", n + 1}')"
: >"$tmp/faults.jsonl"
hub python3 "$helper" run --nodes "$nodes_arg" --echoes "$echoes_arg" --t0 "$t0" \
  --duration "$DURATION" --writers "$WRITERS" --proxies "$PROXIES" --seed "$SEED" \
  --faults "$tmp/faults.jsonl" --converge-max "$CONVERGE_MAX" --detect "$DETECT" \
  --grace "$GRACE" --interval 1 --out "$tmp" >"$tmp/report.txt" 2>>"$tmp/py.log" &
py_pid=$!

RANDOM=$SEED
fault_record() { # NODE KIND START END [RESTART UP]
  printf '{"node":"n%s","kind":"%s","start":%s,"end":%s,"restart":%s,"up":%s}\n' \
    "$1" "$2" "$3" "$4" "${5:-null}" "${6:-null}" >>"$tmp/faults.jsonl"
}
for ((slot = 1; slot * FAULT_EVERY < DURATION; slot++)); do
  sleep_until "$(awk -v a="$t0" -v s=$((slot * FAULT_EVERY)) 'BEGIN{printf "%.6f", a + s}')"
  alive "$py_pid" || break
  k=$((RANDOM % NODES + 1))
  kind="${kinds[RANDOM % ${#kinds[@]}]}"
  # A node that exited on its own since the last fault is started first.
  if ! alive "${N_PID[k]}"; then node_launch "$k"; node_wait "$k" 2 || true; fi
  s="$(now)"
  case $kind in
    kill)
      kill -KILL "${N_PID[k]}" 2>/dev/null || true
      wait "${N_PID[k]}" 2>/dev/null || true
      nap "$RESTART_AFTER"
      r="$(now)"
      node_launch "$k"
      up=null
      node_wait "$k" "$(awk -v e="$FAULT_EVERY" -v r="$RESTART_AFTER" 'BEGIN{printf "%.1f", e - r - 0.3}')" && up="$(now)"
      fault_record "$k" kill "$s" "$([[ $up == null ]] && echo "$r" || echo "$up")" "$r" "$up"
      log "+$(rel "$s")s kill -9 n$k, restarted; answering: $([[ $up == null ]] && echo "not yet" || echo yes)"
      ;;
    stop)
      kill -STOP "${N_PID[k]}"
      nap "$STOP_FOR"
      kill -CONT "${N_PID[k]}"
      fault_record "$k" stop "$s" "$(now)"
      log "+$(rel "$s")s SIGSTOP n$k for ${STOP_FOR}s, SIGCONT"
      ;;
    partition)
      partition "$k"
      nap "$PARTITION_FOR"
      heal "$k"
      fault_record "$k" partition "$s" "$(now)"
      log "+$(rel "$s")s n$k cut off from the other nodes for ${PARTITION_FOR}s, healed"
      ;;
  esac
done
echo finished >"$tmp/faults.jsonl.done"
# Faults are over: a node still not answering (a restart that took longer
# than its slot) gets until the convergence limit.
for ((k = 1; k <= NODES; k++)); do node_wait "$k" 10 || notes+=("n$k did not answer 10 s after the last fault"); done
{ wait "$py_pid"; } 2>/dev/null || notes+=("the client exited with an error: $(tail -3 "$tmp/py.log" | tr '\n' ' ')")
py_pid=""
check_quiet chaos
lock_release

# -- report -------------------------------------------------------------------------
# The commit of the checkout the binaries were built in (BUILD_DIR's).
commit="$(git -C "$(dirname "$VALMESH")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
cpu_model="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
mem_total="$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
cat <<EOF

cluster chaos run, $(date -Is), $((SECONDS - started_at))s, seed $SEED
machine: $(nproc) cores (${cpu_model:-unknown CPU}), $mem_total, Linux $(uname -r)
commit: $commit (of $(dirname "$VALMESH")'s checkout); valmesh: $binary_info
command: $command_line
nodes: 3 in their own network namespaces ($NET.1-3), --health-interval 1s --config $(cat "$tmp/node.json")
EOF
cat "$tmp/report.txt"
# The node log lines about each instance lost or back (the first 8 of each).
python3 "$helper" suspects --details "$tmp/details.json" 2>/dev/null | while read -r what id; do
  echo "node log lines about $id ($what):"
  grep -H -F "$id" "$tmp"/n[0-9].log | sed "s|^$tmp/||" | head -8 | sed 's/^/  /' || true
done
for ((k = 1; k <= NODES; k++)); do
  c="$(grep -c -i -E 'error|fatal|abort' "$tmp/n$k.log" || true)"
  ((c == 0)) || notes+=("n$k's log has $c lines with error/fatal/abort (KEEP_TMP=1 keeps $tmp/n$k.log)")
done
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during the run ($busy_seen): timings are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
