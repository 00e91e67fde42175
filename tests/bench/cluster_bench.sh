#!/usr/bin/env bash
# Cluster benchmark: five valmesh nodes on this machine, against a
# three-member etcd cluster for write propagation.
#
# Runs on demand only, never in the timed suite. Everything listens on
# 127.0.0.1, every wait is bounded, and everything this script starts is
# stopped on exit. It exits 0 whatever the figures are (it fails only when
# it cannot set a run up).
#
#   tests/bench/cluster_bench.sh
#   PARTS="detection catchup" tests/bench/cluster_bench.sh
#   DURATION=2 ROUNDS=1 HOG_SECONDS=5 CATCHUP_N=500 MEM_N=2000 IDLE_SECONDS=5 \
#     tests/bench/cluster_bench.sh                       # a smoke run
#   BENCH_LOCK= tests/bench/cluster_bench.sh             # no lock protocol
#
# Nodes: `valmesh agent --node-name nK --http 127.0.0.1:PORT --cluster
# 127.0.0.1:PORT --data-dir DIR --config CFG [--join n1] $NODE_ARGS`, durable
# (data dirs under the run's tmp dir), on fixed free loopback ports so that a
# restarted node comes back at its own address. n1 starts alone, n2..n5 join
# it; a restarted node joins all the others. CFG (NODE_CONFIG) turns the
# health checks' interval to 1h and never removes critical instances: every
# registered instance points at a closed port, and with the defaults (30 s,
# removed 60 s after turning critical) the catalog would shrink under the
# catch-up and memory parts. The client side (load, SSE and etcd watchers,
# pollers) is tests/bench/cluster_bench.py (Python 3 standard library).
#
# Parts (PARTS, in this order; each can be left out):
#   propagation  ROUNDS rounds, each a valmesh round then an etcd round, each
#                on a fresh cluster with only that system running. valmesh:
#                5 fresh nodes; RATE/s registrations for DURATION s into n1
#                over CONNS keep-alive connections, paced; n2..n5 watched on
#                GET /api/events. etcd (Debian etcd-server): 3 members
#                started here (--initial-cluster, own data dirs, WAL fsync as
#                shipped); the same rate of PUTs through the v3 JSON gateway
#                (POST /v3/kv/put) on e1, e2 and e3 watched with POST
#                /v3/watch on the key prefix. Per write: the time from its
#                ack (the 201 / 200 read by the client) to its event having
#                arrived on EVERY watched node; p50, p99, max, the write rate
#                achieved, and the per-round p99 ratio valmesh/etcd with its
#                mean and 95% interval (Student's t). Acks mean different
#                things: valmesh answers once the write is durable on n1;
#                etcd once a quorum has committed it.
#   idle         a fresh 5-node cluster, IDLE_SECONDS after a 5 s settle:
#                CPU of each node (utime+stime, % of one core) and its RSS.
#   detection    on that cluster, /api/cluster/members of every other node
#                polled every POLL_MS ms: kill -9 n5 until every other says
#                dead, restart it until every other says alive; SIGSTOP n4
#                until dead, SIGCONT until alive; SIGTERM n3 until left,
#                restart it until alive. Then the CPU hog: n2's threads pinned
#                to CPU HOG_CPU, HOGS busy loops pinned there too (nice
#                HOG_NICE) for HOG_SECONDS, every node's SSE stream recorded
#                through the hog and 10 s after it; every member_suspect and
#                member_dead is false (all five stay up), counted by the
#                member it names.
#   catchup      n4 stopped with SIGTERM; CATCHUP_N instances over
#                CATCHUP_SERVICES services registered into n1 over 16
#                connections; once n1, n2, n3, n5 hold the same catalog, n4
#                restarted on its data dir and polled until its catalog
#                equals theirs (the sorted name/id@revision of every instance
#                of every service, fingerprinted).
#   memory       MEM_N instances over MEM_SERVICES services into n1 over 16
#                connections; the time until every node counts them all;
#                each node's RSS before and after, its CPU over the next
#                MEM_SETTLE s.
#
# Lock protocol (BENCH_LOCK, default /tmp/valmesh-bench.lock; empty = off):
# before each phase (a propagation round of one system, idle, each failure
# of the detection part, the hog, the catch-up, the fill, the settle) wait
# (poll 2 s, up to LOCK_WAIT s) until no compiler, build tool or test binary
# (BUSY_RE in lib.sh) runs and the lock file is absent, create it
# (noclobber), delete it at the end of the phase or on exit. A watchdog
# stops the run if one phase passes LOCK_MAX s (it runs with the lock
# protocol off too). The cluster stays up between phases of one part.
#
# Environment (defaults in brackets):
#   PARTS ["propagation idle detection catchup memory"]
#   RATE [1000] writes/s  DURATION [10] s  ROUNDS [3]  CONNS [32]
#   DRAIN [30] s to wait for the last events
#   POLL_MS [20]  DETECT_TIMEOUT [30] s per transition
#   HOG_SECONDS [60]  HOGS [2]  HOG_NICE [-5]  HOG_CPU [the last CPU]
#   CATCHUP_N [10000]  CATCHUP_SERVICES [10]
#   IDLE_SECONDS [30]
#   MEM_N [100000]  MEM_SERVICES [1000]  MEM_SETTLE [10] s  MEM_FILL_MAX [100] s
#   NODE_CONFIG [{"health":{"interval":"1h","deregisterCriticalAfter":"0s"}}];
#     empty: no --config
#   NODE_ARGS [] extra agent flags, e.g. --dev
#   ETCD_ARGS [] extra etcd flags
#   VALMESH [build/valmesh]  KEEP_TMP [0]
#   BENCH_LOCK [/tmp/valmesh-bench.lock]  LOCK_WAIT [900] s  LOCK_MAX [170] s
#
# Helpers shared with the other benchmarks (tools, cleanup, lock protocol,
# CPU ticks, ports, polling): tests/bench/lib.sh.
set -euo pipefail

bench_name=cluster-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
helper="$root/tests/bench/cluster_bench.py"
VALMESH="${VALMESH:-${BUILD_DIR:-$root/build}/valmesh}"
PARTS="${PARTS:-propagation idle detection catchup memory}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-32}"
DRAIN="${DRAIN:-30}"
POLL_MS="${POLL_MS:-20}"
DETECT_TIMEOUT="${DETECT_TIMEOUT:-30}"
HOG_SECONDS="${HOG_SECONDS:-60}"
HOGS="${HOGS:-2}"
HOG_NICE="${HOG_NICE:--5}"
CORES="$(nproc)"
HOG_CPU="${HOG_CPU:-$((CORES - 1))}"
CATCHUP_N="${CATCHUP_N:-10000}"
CATCHUP_SERVICES="${CATCHUP_SERVICES:-10}"
IDLE_SECONDS="${IDLE_SECONDS:-30}"
MEM_N="${MEM_N:-100000}"
MEM_SERVICES="${MEM_SERVICES:-1000}"
MEM_SETTLE="${MEM_SETTLE:-10}"
MEM_FILL_MAX="${MEM_FILL_MAX:-100}"
default_config='{"health":{"interval":"1h","deregisterCriticalAfter":"0s"}}'
NODE_CONFIG="${NODE_CONFIG-$default_config}"
NODE_ARGS="${NODE_ARGS:-}"
ETCD_ARGS="${ETCD_ARGS:-}"
BENCH_LOCK="${BENCH_LOCK-/tmp/valmesh-bench.lock}"
NODES=5

for v in RATE DURATION ROUNDS CONNS DRAIN POLL_MS DETECT_TIMEOUT HOG_SECONDS HOGS \
         CATCHUP_N CATCHUP_SERVICES IDLE_SECONDS MEM_N MEM_SERVICES MEM_SETTLE MEM_FILL_MAX; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a whole number above 0, not '${!v}'"
done
[[ "$HOG_NICE" =~ ^-?[0-9]+$ ]] || die "HOG_NICE must be a whole number"
if ! [[ "$HOG_CPU" =~ ^[0-9]+$ ]] || ((HOG_CPU >= CORES)); then die "HOG_CPU must be a CPU below $CORES"; fi
for p in $PARTS; do
  [[ " propagation idle detection catchup memory " == *" $p "* ]] ||
    die "unknown part '$p' (propagation idle detection catchup memory)"
done
has_part() { [[ " $PARTS " == *" $1 "* ]]; }
((HOG_SECONDS + 40 <= LOCK_MAX)) || die "HOG_SECONDS=$HOG_SECONDS needs LOCK_MAX >= $((HOG_SECONDS + 40))"
((MEM_FILL_MAX + 60 <= LOCK_MAX)) || die "MEM_FILL_MAX=$MEM_FILL_MAX needs LOCK_MAX >= $((MEM_FILL_MAX + 60))"
# The command with every setting spelled out.
command_line=""
[[ "$PARTS" == "propagation idle detection catchup memory" ]] || command_line="PARTS=\"$PARTS\" "
for v in RATE DURATION ROUNDS CONNS DRAIN POLL_MS DETECT_TIMEOUT HOG_SECONDS HOGS HOG_NICE \
         HOG_CPU CATCHUP_N CATCHUP_SERVICES IDLE_SECONDS MEM_N MEM_SERVICES MEM_SETTLE MEM_FILL_MAX; do
  if [[ "${!v}" =~ ^[-A-Za-z0-9_.,]*$ ]]; then
    command_line+="$v=${!v} "
  else
    printf -v command_line '%s%s=%q ' "$command_line" "$v" "${!v}"
  fi
done
[[ "$NODE_CONFIG" == "$default_config" ]] || printf -v command_line '%sNODE_CONFIG=%q ' "$command_line" "$NODE_CONFIG"
[[ -z "$NODE_ARGS" ]] || printf -v command_line '%sNODE_ARGS=%q ' "$command_line" "$NODE_ARGS"
[[ -z "$ETCD_ARGS" ]] || printf -v command_line '%sETCD_ARGS=%q ' "$command_line" "$ETCD_ARGS"
command_line+="tests/bench/cluster_bench.sh"

# -- tools ------------------------------------------------------------------
tools=(curl jq ss pgrep taskset python3)
has_part propagation && tools+=(etcd)
install_tools "${tools[@]}"
require_tools "${tools[@]}"
require_built "$VALMESH"
[[ -r "$helper" ]] || die "$helper missing"

# -- cleanup ------------------------------------------------------------------
# Nodes nK (K = 1..5): N_PID N_HTTP N_CLUS N_DIR (index K). etcd members eK:
# E_PID E_CLIENT E_PEER. Helpers and busy loops: py_pid, bg_pids, hog_pids.
N_PID=() N_HTTP=() N_CLUS=() N_DIR=() E_PID=() E_CLIENT=() E_PEER=()
py_pid="" bg_pids=() hog_pids=() notes=() cluster_up=0
# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
stop_all() { # RC
  local p
  [[ -n "$py_pid" ]] && kill_wait "$py_pid" TERM 3
  for p in "${hog_pids[@]}" "${bg_pids[@]}"; do kill_wait "$p" TERM 3; done
  for p in "${N_PID[@]}" "${E_PID[@]}"; do
    [[ -n "$p" ]] || continue
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${N_PID[@]}" "${E_PID[@]}"; do [[ -n "$p" ]] && kill_wait "$p" TERM 12; done
  lock_release
}
bench_setup valmesh-cluster-bench
cfg_flags=()
if [[ -n "$NODE_CONFIG" ]]; then
  echo "$NODE_CONFIG" >"$tmp/node.json"
  cfg_flags=(--config "$tmp/node.json")
fi

# -- helpers ----------------------------------------------------------------------
# Runs cluster_bench.py in the background (so that a signal to this script is
# handled at once), its JSON to OUT and its stderr to py.log; fails when it does.
py() { # OUT ARGS...
  local out=$1 rc=0
  shift
  python3 "$helper" "$@" >"$out" 2>>"$tmp/py.log" &
  py_pid=$!
  # (2>/dev/null: bash's notice of a node the helper killed with SIGKILL.)
  { wait "$py_pid"; } 2>/dev/null || rc=$?
  py_pid=""
  return "$rc"
}
jqr() { jq -r "$1" "$2" 2>/dev/null || echo n/a; } # FILTER FILE
nap() { sleep "$1" & local s=$!; { wait "$s"; } 2>/dev/null; } # interruptible sleep
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN{ printf "%.1f", k / 1024 }'; }
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
pids_ticks() { # PIDS: their utime+stime summed (0 for one that is gone)
  local p x t=0
  for p in "$@"; do [[ -n "$p" ]] && x="$(proc_ticks "$p")" && t=$((t + ${x:-0})); done
  echo "$t"
}
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN{ printf "%.3f", b - a }'; }

# -- valmesh nodes --------------------------------------------------------------------
others() { # K: the HTTP ports of every node but K
  local k out=""
  for ((k = 1; k <= NODES; k++)); do ((k == $1)) || out+="${out:+,}${N_HTTP[k]}"; done
  echo "$out"
}
names() { local k out=""; for ((k = 1; k <= NODES; k++)); do out+="${out:+,}n$k"; done; echo "$out"; }
all_ports() { local k out=""; for ((k = 1; k <= NODES; k++)); do out+="${out:+,}${N_HTTP[k]}"; done; echo "$out"; }
new_ports() { N_HTTP[$1]="$(free_port)"; N_CLUS[$1]="$(free_port)"; }
# Starts node K without waiting. JOIN: "first" (n1's address; n1 itself
# joins nobody) or "all" (every other node's).
node_launch() { # K JOIN
  local k=$1 j joins=()
  if [[ "$2" == all ]]; then
    for ((j = 1; j <= NODES; j++)); do ((j == k)) || joins+=(--join "127.0.0.1:${N_CLUS[j]}"); done
  elif ((k != 1)); then
    joins=(--join "127.0.0.1:${N_CLUS[1]}")
  fi
  mkdir -p "${N_DIR[k]}"
  echo "--- $(date -Is) start: ${joins[*]}" >>"${N_DIR[k]}.log"
  # shellcheck disable=SC2086 # NODE_ARGS is a list of extra agent flags
  "$VALMESH" agent --node-name "n$k" --http "127.0.0.1:${N_HTTP[k]}" \
    --cluster "127.0.0.1:${N_CLUS[k]}" --data-dir "${N_DIR[k]}" "${cfg_flags[@]}" \
    "${joins[@]}" $NODE_ARGS >>"${N_DIR[k]}.log" 2>&1 &
  N_PID[k]=$!
}
node_wait() { wait_ok "http://127.0.0.1:${N_HTTP[$1]}/health" 20 "${N_PID[$1]}"; } # K
# Starts node K and waits for its /health; 3 tries, 1 s apart (a restarted
# node may find its port still held for a moment). FRESH=1: new ports on a
# failed try (only before anyone knows its address).
node_start() { # K JOIN FRESH
  local k=$1
  for _ in 1 2 3; do
    node_launch "$k" "$2"
    node_wait "$k" && return 0
    kill_wait "${N_PID[k]}" TERM 5
    N_PID[k]=""
    nap 1
    [[ "$3" == 1 ]] && new_ports "$k"
  done
  log "n$k did not start; its log ends: $(tail -3 "${N_DIR[k]}.log" | tr '\n' ' ')"
  return 1
}
node_stop() { # K SIGNAL SECONDS
  [[ -n "${N_PID[$1]}" ]] || return 0
  KILLED=0
  kill -CONT "${N_PID[$1]}" 2>/dev/null || true
  kill_wait "${N_PID[$1]}" "$2" "$3"
  ((KILLED)) && notes+=("n$1 did not exit within $3 s of SIG$2 (killed)")
  N_PID[$1]=""
}
# A fresh cluster with data dirs under DIR: n1, then n2..n5 joining it, then
# until every node sees all five alive (30 s).
cluster_start() { # DIR
  local k
  for ((k = 1; k <= NODES; k++)); do new_ports "$k"; N_DIR[k]="$1/n$k"; done
  node_start 1 first 1 || return 1
  for ((k = 2; k <= NODES; k++)); do node_launch "$k" first; done
  for ((k = 2; k <= NODES; k++)); do
    node_wait "$k" || { node_stop "$k" TERM 5; node_start "$k" first 0 || return 1; }
  done
  cluster_formed "$1.formed.json"
}
cluster_formed() { # OUT
  py "$1" formed --ports "$(all_ports)" --names "$(names)" --timeout 30 && return 0
  log "the cluster did not form within 30 s: $(cut -c1-600 "$1")"
  return 1
}
cluster_stop() {
  local k
  for ((k = 1; k <= NODES; k++)); do
    alive "${N_PID[k]}" || continue
    kill -CONT "${N_PID[k]}" 2>/dev/null || true
    kill -TERM "${N_PID[k]}" 2>/dev/null || true
  done
  for ((k = 1; k <= NODES; k++)); do node_stop "$k" TERM 15; done
}
# The cluster of the later parts: started once, nodes that are down started
# again, then until it has formed.
ensure_cluster() {
  local k
  if ((!cluster_up)); then
    cluster_start "$tmp/main" || return 1
    cluster_up=1
    return 0
  fi
  for ((k = 1; k <= NODES; k++)); do
    alive "${N_PID[k]}" || { notes+=("n$k was down before a part: started again"); node_start "$k" all 0 || return 1; }
  done
  cluster_formed "$tmp/main.formed.json"
}

# -- etcd ----------------------------------------------------------------------------
etcd_start() { # DIR TOKEN
  local k ic=""
  for k in 1 2 3; do E_CLIENT[k]="$(free_port)"; E_PEER[k]="$(free_port)"; done
  for k in 1 2 3; do ic+="${ic:+,}e$k=http://127.0.0.1:${E_PEER[k]}"; done
  for k in 1 2 3; do
    mkdir -p "$1/e$k"
    # shellcheck disable=SC2086 # ETCD_ARGS is a list of extra etcd flags
    etcd --name "e$k" --data-dir "$1/e$k" \
      --listen-client-urls "http://127.0.0.1:${E_CLIENT[k]}" \
      --advertise-client-urls "http://127.0.0.1:${E_CLIENT[k]}" \
      --listen-peer-urls "http://127.0.0.1:${E_PEER[k]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${E_PEER[k]}" \
      --initial-cluster "$ic" --initial-cluster-state new --initial-cluster-token "$2" \
      --logger zap --log-level warn $ETCD_ARGS >"$1/e$k.log" 2>&1 &
    E_PID[k]=$!
  done
  for k in 1 2 3; do
    wait_ok "http://127.0.0.1:${E_CLIENT[k]}/health" 30 "${E_PID[k]}" '{"health":"true"}' && continue
    log "etcd e$k did not become healthy: $(tail -3 "$1/e$k.log" | tr '\n' ' ')"
    return 1
  done
}
etcd_stop() {
  local k
  for k in 1 2 3; do alive "${E_PID[k]:-}" && { kill -TERM "${E_PID[k]}" 2>/dev/null || true; }; done
  for k in 1 2 3; do [[ -n "${E_PID[k]:-}" ]] && kill_wait "${E_PID[k]}" TERM 10; E_PID[k]=""; done
  E_PID=()
}

# -- 1. propagation ----------------------------------------------------------------
# One line per round and system in prop.txt: SYSTEM ROUND RATE ACK_P50 ACK_P99
# P50 P99 MAX MISSING ERRORS NEGATIVE CPU_MS (ms; n/a when the round failed).
# CPU_MS: the CPU time (utime+stime) of every process of the system (5 nodes,
# 3 etcd members) over the round's client run, warm-up and drain included,
# per acknowledged write: a cost that holds on a noisy machine, where
# latencies do not.
prop_record() { # SYSTEM ROUND JSON TICKS
  if [[ -s "$3" ]] && jq -e '.p99 != null' "$3" >/dev/null 2>&1; then
    jq -r --arg r "$2" --arg t "$4" --arg hz "$HZ" '[.kind, $r, .rate, .ack_p50, .ack_p99, .p50, .p99, .max, .missing,
      ((.errors | add) // 0), .negative,
      (if .acked > 0 and ($t | length) > 0 then (($t | tonumber) * 1000 / ($hz | tonumber) / .acked * 1000 | round) / 1000 else "n/a" end)]
      | map(tostring) | join(" ")' "$3" >>"$tmp/prop.txt"
    jq -r '.watchers[] | select((.lagged // 0) > 0 or .ended or .error or .canceled) |
      "watcher on port \(.port): \(del(.port, .events) | tostring)"' "$3" 2>/dev/null |
      while read -r l; do echo "$1 round $2: $l"; done >>"$tmp/prop-notes.txt"
    log "$1 round $2: $(jq -c '{rate, ack_p50, p50, p99, max, missing, errors}' "$3"), cpu ticks $4"
  else
    echo "$1 $2 n/a n/a n/a n/a n/a n/a n/a n/a n/a n/a" >>"$tmp/prop.txt"
    echo "$1 round $2 failed: $(cut -c1-400 "$3" 2>/dev/null) $(tail -2 "$tmp/py.log" 2>/dev/null | tr '\n' ' ')" >>"$tmp/prop-notes.txt"
    log "$1 round $2 failed: $(cut -c1-400 "$3" 2>/dev/null)"
  fi
}
prop_valmesh() { # ROUND
  local r=$1 out="$tmp/prop-valmesh-$1.json" k watch="" t0 ticks=""
  lock_acquire "propagation-valmesh-$r"
  if cluster_start "$tmp/prop-$r"; then
    for ((k = 2; k <= NODES; k++)); do watch+="${watch:+,}${N_HTTP[k]}"; done
    check_quiet "propagation-valmesh-$r"
    t0="$(pids_ticks "${N_PID[@]}")"
    py "$out" propagate --kind valmesh --port "${N_HTTP[1]}" --watch "$watch" --rate "$RATE" \
      --duration "$DURATION" --conns "$CONNS" --tag "r$r" --drain "$DRAIN" || true
    ticks=$(($(pids_ticks "${N_PID[@]}") - t0))
    check_quiet "propagation-valmesh-$r"
  else
    echo '{"error": "the cluster did not start"}' >"$out"
  fi
  for ((k = 1; k <= NODES; k++)); do alive "${N_PID[k]}" || [[ -z "${N_PID[k]}" ]] ||
    notes+=("propagation round $r: n$k exited"); done
  cluster_stop
  lock_release
  prop_record valmesh "$r" "$out" "$ticks"
}
prop_etcd() { # ROUND
  local r=$1 out="$tmp/prop-etcd-$1.json" leader t0 ticks=""
  lock_acquire "propagation-etcd-$r"
  if etcd_start "$tmp/etcd-$r" "valmesh-bench-$r-$$"; then
    leader="$(curl -s --max-time 5 -X POST -d '{}' "http://127.0.0.1:${E_CLIENT[1]}/v3/maintenance/status" |
      jq -r 'if .leader == .header.member_id then "yes" else "no" end' 2>/dev/null || echo "?")"
    etcd_leader+="$leader "
    check_quiet "propagation-etcd-$r"
    t0="$(pids_ticks "${E_PID[@]}")"
    py "$out" propagate --kind etcd --port "${E_CLIENT[1]}" --watch "${E_CLIENT[2]},${E_CLIENT[3]}" \
      --rate "$RATE" --duration "$DURATION" --conns "$CONNS" --tag "r$r" --drain "$DRAIN" || true
    ticks=$(($(pids_ticks "${E_PID[@]}") - t0))
    check_quiet "propagation-etcd-$r"
  else
    echo '{"error": "etcd did not start"}' >"$out"
  fi
  etcd_stop
  lock_release
  prop_record etcd "$r" "$out" "$ticks"
}

# -- 2. failure detection --------------------------------------------------------------
# Rows of detect.txt: LABEL|FIRST|ALL|SUSPECT|NOTE (seconds from the signal or
# the restart: the first observer to see it, every observer, the first
# observer to say suspect).
detect_row() { # LABEL JSON
  local first all sus note=""
  first="$(jqr '.first // "n/a"' "$2")" all="$(jqr '.all // "n/a"' "$2")"
  sus="$(jqr '.suspect_first // "-"' "$2")"
  [[ "$(jqr '.done' "$2")" == true ]] ||
    note="not within ${DETECT_TIMEOUT}s; last seen: $(jq -c '.last_seen_status' "$2" 2>/dev/null)"
  echo "$1|$first|$all|$sus|$note" >>"$tmp/detect.txt"
  log "$1: all observers after ${all}s${note:+ ($note)}"
}
watch_members() { # OUT K SIGNAL WANT [T0]: py members about node K
  py "$1" members --signal "$3" --pid "${N_PID[$2]:-0}" --t0 "${5:-0}" --subject "n$2" \
    --want "$4" --observers "$(others "$2")" --timeout "$DETECT_TIMEOUT" --poll-ms "$POLL_MS" || true
}
# Restarts node K on its data dir and ports, and times it to alive on every
# other node.
restart_timed() { # K LABEL
  local k=$1 t0 out="$tmp/detect-restart-$1.json"
  t0="$(now)"
  node_launch "$k" all
  watch_members "$out" "$k" none alive "$t0"
  detect_row "$2" "$out"
  if ! node_wait "$k"; then
    notes+=("n$k did not come back on its ports after $2: $(tail -2 "${N_DIR[k]}.log" | tr '\n' ' ')")
    node_stop "$k" TERM 5
    node_start "$k" all 0 || true
  fi
}
detection() {
  local out sse
  lock_acquire detection-kill
  ensure_cluster || { notes+=("detection: the cluster did not form; skipped"); lock_release; return; }
  # n1's SSE stream through the transitions below: the membership events it
  # carries (checks the path the hog's count relies on).
  python3 "$helper" sselog --port "${N_HTTP[1]}" --out "$tmp/detect-sse-n1.log" \
    --seconds $((6 * DETECT_TIMEOUT + 120)) 2>>"$tmp/py.log" &
  sse=$!
  bg_pids+=("$sse")
  nap 0.5
  out="$tmp/detect-kill.json"
  watch_members "$out" 5 KILL dead
  wait "${N_PID[5]}" 2>/dev/null || true
  N_PID[5]=""
  detect_row "kill -9 n5 -> dead" "$out"
  restart_timed 5 "restart n5 -> alive"
  lock_release

  lock_acquire detection-stop
  cluster_formed "$tmp/main.formed.json" || notes+=("before SIGSTOP: not every node saw all five alive")
  out="$tmp/detect-stop.json"
  watch_members "$out" 4 STOP dead
  detect_row "SIGSTOP n4 -> dead" "$out"
  out="$tmp/detect-cont.json"
  watch_members "$out" 4 CONT alive
  detect_row "SIGCONT n4 -> alive" "$out"
  lock_release

  lock_acquire detection-term
  cluster_formed "$tmp/main.formed.json" || notes+=("before SIGTERM: not every node saw all five alive")
  out="$tmp/detect-term.json"
  watch_members "$out" 3 TERM left
  detect_row "SIGTERM n3 -> left" "$out"
  node_stop 3 TERM 15
  restart_timed 3 "restart n3 -> alive"
  nap 1
  kill_wait "$sse" TERM 3
  forget_pid bg_pids "$sse"
  lock_release

  hog
}
# n2 and HOGS busy loops pinned to HOG_CPU for HOG_SECONDS; the SSE streams
# of all five nodes recorded meanwhile and 10 s after.
hog() {
  local k c0 c1 t0 t1 all_cpus="0-$((CORES - 1))"
  lock_acquire hog
  ensure_cluster || { notes+=("hog: the cluster did not form; skipped"); lock_release; return; }
  for ((k = 1; k <= NODES; k++)); do
    python3 "$helper" sselog --port "${N_HTTP[k]}" --out "$tmp/hog-sse-n$k.log" \
      --seconds $((HOG_SECONDS + 25)) 2>>"$tmp/py.log" &
    bg_pids+=($!)
  done
  nap 1
  taskset -a -p -c "$HOG_CPU" "${N_PID[2]}" >/dev/null
  c0="$(proc_ticks "${N_PID[2]}")" t0="$(now)"
  for ((k = 0; k < HOGS; k++)); do
    taskset -c "$HOG_CPU" nice -n "$HOG_NICE" bash -c 'while :; do :; done' &
    hog_pids+=($!)
  done
  log "hog: n2 (pid ${N_PID[2]}) and $HOGS busy loops on CPU $HOG_CPU (nice $HOG_NICE) for ${HOG_SECONDS}s"
  nap "$HOG_SECONDS"
  for k in "${hog_pids[@]}"; do kill_wait "$k" TERM 3; done
  hog_pids=()
  c1="$(proc_ticks "${N_PID[2]}")" t1="$(now)"
  hog_cpu="$(pct $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" 1)"
  alive "${N_PID[2]}" && taskset -a -p -c "$all_cpus" "${N_PID[2]}" >/dev/null
  nap 10
  for k in "${bg_pids[@]}"; do kill_wait "$k" TERM 3; done
  bg_pids=()
  for ((k = 1; k <= NODES; k++)); do alive "${N_PID[k]}" || notes+=("hog: n$k exited"); done
  lock_release
  # EVENT SUBJECT OBSERVER per membership event heard during the hog.
  for ((k = 1; k <= NODES; k++)); do
    [[ -s "$tmp/hog-sse-n$k.log" ]] || { notes+=("hog: no SSE record from n$k"); continue; }
    awk -v o="n$k" '$2 ~ /^member_(suspect|dead|left|alive|joined)$/ {
      n = $0; sub(/.*"name":"/, "", n); sub(/".*/, "", n); print $2, n, o }' "$tmp/hog-sse-n$k.log"
  done >"$tmp/hog-events.txt"
  hog_ran=1
}

# -- 3. catch-up --------------------------------------------------------------------------
catchup() {
  lock_acquire catchup
  ensure_cluster || { notes+=("catch-up: the cluster did not form; skipped"); lock_release; return; }
  node_stop 4 TERM 15
  py "$tmp/catchup-fill.json" fill --port "${N_HTTP[1]}" --n "$CATCHUP_N" \
    --services "$CATCHUP_SERVICES" --prefix cu --conns 16 --timeout 45 || true
  log "catch-up fill: $(cat "$tmp/catchup-fill.json")"
  py "$tmp/catchup-ref.json" catalog --ports "${N_HTTP[1]},${N_HTTP[2]},${N_HTTP[3]},${N_HTTP[5]}" \
    --wait-equal --timeout 30 || notes+=("catch-up: n1, n2, n3 and n5 still differed after 30 s: $(jq -c .nodes "$tmp/catchup-ref.json")")
  local sha count t0
  sha="$(jqr '.ref.sha // .nodes[(keys[0])].sha' "$tmp/catchup-ref.json")"
  count="$(jqr '.ref.count // .nodes[(keys[0])].count' "$tmp/catchup-ref.json")"
  t0="$(now)"
  node_launch 4 all
  py "$tmp/catchup.json" catchup --port "${N_HTTP[4]}" --t0 "$t0" --sha "$sha" \
    --count "${count/n\/a/0}" --others "$(others 4)" --timeout 60 --poll-ms 100 || true
  log "catch-up: $(cat "$tmp/catchup.json")"
  node_wait 4 || notes+=("catch-up: n4 did not come back: $(tail -2 "${N_DIR[4]}.log" | tr '\n' ' ')")
  catchup_ran=1
  lock_release
}

# -- 4. idle cost and memory ---------------------------------------------------------------
# IDLE_CPU[K] IDLE_RSS[K] (KiB) of each node over IDLE_SECONDS.
idle() {
  local k t0 t1 c0=() c1=()
  lock_acquire idle
  ensure_cluster || { notes+=("idle: the cluster did not form; skipped"); lock_release; return; }
  nap 5
  check_quiet idle
  t0="$(now)"
  for ((k = 1; k <= NODES; k++)); do c0[k]="$(proc_ticks "${N_PID[k]}")"; done
  nap "$IDLE_SECONDS"
  for ((k = 1; k <= NODES; k++)); do c1[k]="$(proc_ticks "${N_PID[k]}")"; done
  t1="$(now)"
  check_quiet idle
  for ((k = 1; k <= NODES; k++)); do
    IDLE_CPU[k]="$(pct $((c1[k] - c0[k])) "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" 1)"
    IDLE_RSS[k]="$(rss_kib "${N_PID[k]}")"
  done
  log "idle cpu%: ${IDLE_CPU[*]}"
  lock_release
}
counts_equal() { # TARGET: every node counts TARGET instances
  py "$tmp/mem-count.json" count --ports "$(all_ports)" || return 1
  jq -e --argjson t "$1" '[.[]] | all(. == $t)' "$tmp/mem-count.json" >/dev/null
}
memory() {
  local k base target t0 c0=() c1=() s0 s1
  lock_acquire memory-fill
  ensure_cluster || { notes+=("memory: the cluster did not form; skipped"); lock_release; return; }
  py "$tmp/mem-count.json" count --ports "${N_HTTP[1]}" || true
  base="$(jqr '[.[]][0] // 0' "$tmp/mem-count.json")"
  for ((k = 1; k <= NODES; k++)); do MEM_RSS0[k]="$(rss_kib "${N_PID[k]}")"; done
  check_quiet memory
  t0="$(now)"
  py "$tmp/mem-fill.json" fill --port "${N_HTTP[1]}" --n "$MEM_N" --services "$MEM_SERVICES" \
    --prefix mem --conns 16 --timeout "$MEM_FILL_MAX" || true
  log "memory fill: $(cat "$tmp/mem-fill.json")"
  target=$((base + $(jqr '.acked // 0' "$tmp/mem-fill.json")))
  mem_replicated="n/a"
  for _ in $(seq 40); do
    if counts_equal "$target"; then mem_replicated="$(secs_since "$t0")"; break; fi
    nap 1
  done
  [[ "$mem_replicated" != n/a ]] ||
    notes+=("memory: not every node held $target instances 40 s after the fill: $(cat "$tmp/mem-count.json")")
  check_quiet memory
  lock_release
  lock_acquire memory-settle
  s0="$(now)"
  for ((k = 1; k <= NODES; k++)); do c0[k]="$(proc_ticks "${N_PID[k]}")"; done
  nap "$MEM_SETTLE"
  for ((k = 1; k <= NODES; k++)); do c1[k]="$(proc_ticks "${N_PID[k]}")"; done
  s1="$(now)"
  for ((k = 1; k <= NODES; k++)); do
    MEM_CPU[k]="$(pct $((c1[k] - c0[k])) "$(awk -v a="$s0" -v b="$s1" 'BEGIN{print b - a}')" 1)"
    MEM_RSS1[k]="$(rss_kib "${N_PID[k]}")"
  done
  mem_added=$((target - base))
  memory_ran=1
  lock_release
}

# -- run ---------------------------------------------------------------------------------
IDLE_CPU=() IDLE_RSS=() MEM_RSS0=() MEM_RSS1=() MEM_CPU=()
etcd_leader="" hog_ran=0 hog_cpu="n/a" catchup_ran=0 memory_ran=0 mem_added=0 mem_replicated="n/a"
: >"$tmp/prop.txt"
: >"$tmp/prop-notes.txt"
: >"$tmp/detect.txt"
binary_info="$(describe_binary "$VALMESH" || echo "$VALMESH (version unknown)")"
log "valmesh: $binary_info; parts: $PARTS"
if has_part propagation; then
  for ((r = 1; r <= ROUNDS; r++)); do
    prop_valmesh "$r"
    prop_etcd "$r"
  done
fi
has_part idle && idle
has_part detection && detection
has_part catchup && catchup
has_part memory && memory
if ((cluster_up)); then cluster_stop; fi

# -- summary -------------------------------------------------------------------------------
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
cpu_model="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
mem_total="$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
cat <<EOF

cluster benchmark, $(date -Is), $((SECONDS - started_at))s
machine: $CORES cores (${cpu_model:-unknown CPU}), $mem_total, Linux $(uname -r); tmp on $(df -T "$tmp" | awk 'NR == 2 {print $2}')
commit: $commit; valmesh: $binary_info
nodes: --data-dir (durable)${NODE_CONFIG:+ --config $NODE_CONFIG}${NODE_ARGS:+ $NODE_ARGS}
command: $command_line
EOF

if has_part propagation; then
  etcd_version="$(etcd --version 2>/dev/null | awk '/^etcd Version/ {print $3}')"
  cat <<EOF

1. propagation: $RATE writes/s for ${DURATION}s over $CONNS connections, ROUNDS=$ROUNDS (valmesh, then etcd, alternating)
   valmesh: 5 nodes, POST /api/services into n1, GET /api/events on n2..n5
   etcd ${etcd_version:-?}: 3 members, POST /v3/kv/put on e1 (leader in each round: ${etcd_leader% }), POST /v3/watch on e2, e3
   latency = the event's arrival on the LAST watched node - the client's read of the write's ack (ms)
EOF
  echo "   cpu = utime+stime of all the system's processes over the round (warm-up and drain included) per acked write (ms)"
  row() { printf '%-8s %5s %9s %9s %9s %9s %9s %9s %8s %7s %7s\n' "$@"; }
  row system round writes/s "ack p50" "ack p99" "p50" "p99" "max" missing errors "cpu ms"
  while read -r s r rate ap50 ap99 p50 p99 mx miss errs _ cpu _; do
    row "$s" "$r" "$rate" "$ap50" "$ap99" "$p50" "$p99" "$mx" "$miss" "$errs" "${cpu:-n/a}"
  done <"$tmp/prop.txt"
  # Means per system over the rounds that produced figures; the per-round
  # ratio valmesh/etcd of p99 (each pair run back to back) with its mean and
  # a 95% confidence interval (Student's t), since the machine drifts from
  # round to round more than within one.
  awk '$7 != "n/a" { n[$1]++; rate[$1] += $3; p50[$1] += $6; p99[$1] += $7; mx[$1] += $8 }
    $1 == "valmesh" { v[$2] = $7 } $1 == "etcd" { e[$2] = $7 } $2 > maxr { maxr = $2 }
  END {
    for (s in n) printf "mean     %5s %9.1f %9s %9s %9.3f %9.3f %9.3f  (%s, rounds: %d)\n", "", rate[s] / n[s], "", "", p50[s] / n[s], p99[s] / n[s], mx[s] / n[s], s, n[s]
    if (n["valmesh"] && n["etcd"]) {
      vm = p50["valmesh"] / n["valmesh"]; em = p50["etcd"] / n["etcd"]
      printf "valmesh / etcd, ratio of the means: p50 %s, p99 %.2f, max %.2f\n",
        (em > 0 ? sprintf("%.2f", vm / em) : "n/a"), (p99["valmesh"] / n["valmesh"]) / (p99["etcd"] / n["etcd"]),
        (mx["valmesh"] / n["valmesh"]) / (mx["etcd"] / n["etcd"])
    }
    for (r = 1; r <= maxr; r++)
      if ((r in v) && (r in e) && v[r] != "n/a" && e[r] != "n/a" && e[r] > 0) {
        q[++k] = v[r] / e[r]; line = line sprintf(" r%d %.2f", r, q[k]) }
    if (k < 1) exit
    printf "per-round p99 ratio valmesh/etcd:%s\n", line
    if (k < 2) exit
    for (i = 1; i <= k; i++) m += q[i] / k
    for (i = 1; i <= k; i++) var += (q[i] - m) ^ 2 / (k - 1)
    # t(0.975, k - 1) for k - 1 = 1..30, and 1.96 past that.
    split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09 2.08 2.07 2.07 2.06 2.06 2.06 2.05 2.05 2.05 2.04", t, " ")
    h = (k - 1 <= 30 ? t[k - 1] : 1.96) * sqrt(var / k)
    printf "per-round p99 ratio: mean %.2f, 95%% interval %.2f to %.2f (%d pairs)\n", m, m - h, m + h, k
  }' "$tmp/prop.txt"
  while read -r l; do echo "note: $l"; done <"$tmp/prop-notes.txt"
fi

if has_part detection; then
  cat <<EOF

2. failure detection (valmesh, 5 nodes; /api/cluster/members of every other node polled every ${POLL_MS} ms; seconds)
EOF
  row() { printf '%-24s %10s %10s %14s  %s\n' "$@"; }
  row transition "first node" "all nodes" "first suspect" ""
  while IFS='|' read -r label first all sus note; do
    row "$label" "$first" "$all" "$sus" "$note"
  done <"$tmp/detect.txt"
  if [[ -s "$tmp/detect-sse-n1.log" ]]; then
    awk '$2 ~ /^member_/ { c[$2]++ } END {
      printf "events on n1'"'"'s SSE stream over these transitions:"
      for (k in c) printf " %s %d", k, c[k]
      print (length(c) ? "" : " none")
      if (!c["member_dead"]) print "WARNING: no member_dead on n1'"'"'s SSE stream: the hog'"'"'s count below cannot be trusted" }' \
      "$tmp/detect-sse-n1.log"
  fi
  if ((hog_ran)); then
    echo "CPU hog: n2's threads and $HOGS busy loops (nice $HOG_NICE) on CPU $HOG_CPU for ${HOG_SECONDS}s; n2 got ${hog_cpu}% of a core"
    echo "membership events on the 5 SSE streams during the hog and 10 s after (all five nodes stayed up, so every suspect and dead is false):"
    awk '{ k = $1 " about " $2; c[k]++; if (index(o[k], " " $3) == 0) o[k] = o[k] " " $3
           if ($1 == "member_dead") d++; if ($1 == "member_suspect") s++ }
      END { if (!length(c)) print "  none"
            for (k in c) printf "  %-28s %4d (heard on%s)\n", k, c[k], o[k]
            printf "false suspect: %d, false dead: %d (aim: no false dead: %s)\n", s + 0, d + 0,
              (d + 0 == 0 ? "met" : "MISSED") }' "$tmp/hog-events.txt"
  fi
fi

if has_part catchup && ((catchup_ran)); then
  cat <<EOF

3. catch-up (n4 stopped with SIGTERM, $CATCHUP_N instances over $CATCHUP_SERVICES services into n1, n4 restarted on its data dir)
fill: $(jqr '"\(.acked) acked of \(.planned) in \(.seconds) s (\(.rate)/s), errors \(.errors | tostring)"' "$tmp/catchup-fill.json")
n1, n2, n3, n5 equal: $(jqr '"\(.equal) after \(.seconds) s, \(.ref.count // "n/a") instances"' "$tmp/catchup-ref.json")
n4 restart -> HTTP answering: $(jqr '.http_up // "n/a"' "$tmp/catchup.json") s
n4 restart -> catalog equal:  $(jqr 'if .done then "\(.seconds) s (polled every 100 ms; the matching poll took \(.poll_seconds) s)" else "not within 60 s (last: \(.last | tostring))" end + (if (.ref_moved // 0) > 0 then "; the others'"'"' catalog moved \(.ref_moved) times meanwhile" else "" end)' "$tmp/catchup.json")
EOF
fi

if has_part idle || has_part memory; then
  echo
  echo "4. idle cost and memory (cpu: utime+stime, % of one core; RSS: VmRSS, MiB)"
  [[ "$memory_ran" == 1 ]] &&
    echo "fill: $(jqr '"\(.acked) of \(.planned) instances over \(.services) services into n1 in \(.seconds) s (\(.rate)/s), errors \(.errors | tostring)"' "$tmp/mem-fill.json"); every node held them $mem_replicated s after the fill began"
  row() { printf '%-5s %14s %13s %15s %15s %15s %16s\n' "$@"; }
  row node "idle cpu% (${IDLE_SECONDS}s)" "idle RSS" "RSS before fill" "RSS after fill" "bytes/instance" "cpu% after (${MEM_SETTLE}s)"
  for ((k = 1; k <= NODES; k++)); do
    per="n/a"
    if [[ "$memory_ran" == 1 ]] && ((mem_added > 0)); then
      per="$(awk -v a="${MEM_RSS0[k]}" -v b="${MEM_RSS1[k]}" -v n="$mem_added" 'BEGIN{ printf "%.0f", (b - a) * 1024 / n }')"
    fi
    row "n$k" "${IDLE_CPU[k]:-n/a}" "$([[ -n "${IDLE_RSS[k]:-}" ]] && mib "${IDLE_RSS[k]}" || echo n/a)" \
      "$([[ -n "${MEM_RSS0[k]:-}" ]] && mib "${MEM_RSS0[k]}" || echo n/a)" \
      "$([[ -n "${MEM_RSS1[k]:-}" ]] && mib "${MEM_RSS1[k]}" || echo n/a)" "$per" "${MEM_CPU[k]:-n/a}"
  done
fi

echo
for v in "${notes[@]}"; do echo "note: $v"; done
[[ -n "$busy_seen" ]] && echo "WARNING: build/test processes ran during a measurement ($busy_seen): numbers are suspect"
log "done in $((SECONDS - started_at))s"
exit 0
