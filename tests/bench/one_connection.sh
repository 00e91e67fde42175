# shellcheck shell=bash
# Shared by proxy_callgrind.sh and proxy_syscalls.sh, which count what one
# agent does per proxied request (exact counts, no timing, no bench lock):
# one `valmesh-echo` registered as service SVC, an agent in front of it
# (health checks once an hour), and keep-alive GETs to
# /proxy/SVC/items/42?q=1 on one connection. Source it after setting
# `name` (the log prefix) and `SVC`; it sets `root`, `tmp`, BUILD, N, WARM,
# AGENT_ARGS and KEEP_TMP, and removes $tmp on exit (KEEP_TMP=1 keeps it).
# A script that starts a process of its own adds its pid to `extra_pids`,
# which are stopped first, with SIGINT (lib.sh's kill_wait).

: "${name:?set name before sourcing one_connection.sh}"
: "${SVC:?set SVC before sourcing one_connection.sh}"
bench_name="$name"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # kill_wait
root="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$root/build}"
N="${N:-1000}"
WARM="${WARM:-200}"
AGENT_ARGS="${AGENT_ARGS:-}"
KEEP_TMP="${KEEP_TMP:-0}"
log() { echo "[$name] $*" >&2; }
die() { echo "[$name] error: $*" >&2; exit 1; }

tmp="$(mktemp -d)"
echo_pid="" agent_pid="" extra_pids=()
cleanup() {
  local p
  # SIGINT, then SIGKILL after 10 s (HAProxy under valgrind has been seen
  # to stay in epoll_wait after SIGINT).
  for p in "${extra_pids[@]}"; do kill_wait "$p" INT 10; done
  [[ -n "$agent_pid" ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [[ -n "$echo_pid" ]] && kill "$echo_pid" 2>/dev/null && wait "$echo_pid" 2>/dev/null
  if ((KEEP_TMP)); then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# wait_line FILE REGEX SECONDS: waits until FILE has a line matching REGEX.
wait_line() {
  local deadline=$((SECONDS + $3))
  until grep -Eq "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || die "no line /$2/ in $1 after $3 s: $(tail -5 "$1")"
    sleep 0.1
  done
}

# start_agent SECONDS COMMAND...: starts the echo, then COMMAND (the agent,
# or a tool running it) with the agent's arguments appended; waits up to
# SECONDS for the agent to start and for its proxy to answer 200. Sets
# agent_pid and url.
start_agent() {
  local seconds=$1 port echo_port
  shift
  "$BUILD/examples/valmesh-echo" --port 0 --name "$SVC-0" >"$tmp/echo.log" 2>&1 &
  echo_pid=$!
  wait_line "$tmp/echo.log" 'listening on [^ ]+:[0-9]+' 10
  echo_port="$(grep -Eo 'listening on [^ ]+:[0-9]+' "$tmp/echo.log" | grep -Eo '[0-9]+$')"
  cat >"$tmp/cfg.json" <<JSON
{"services": [{"name": "$SVC", "id": "$SVC-0", "host": "127.0.0.1", "port": $echo_port}]}
JSON
  # shellcheck disable=SC2086 # AGENT_ARGS is a list of flags
  "$@" agent --dev --http 127.0.0.1:0 --cluster 127.0.0.1:0 \
    --config "$tmp/cfg.json" --health-interval 1h $AGENT_ARGS \
    >"$tmp/agent.log" 2>&1 &
  agent_pid=$!
  wait_line "$tmp/agent.log" 'valmesh agent started: .* http=127\.0\.0\.1:[0-9]+' "$seconds"
  port="$(grep -Eo 'http=127\.0\.0\.1:[0-9]+' "$tmp/agent.log" | head -1 | grep -Eo '[0-9]+$')"
  url="http://127.0.0.1:$port/proxy/$SVC/items/42?q=1"
  local deadline=$((SECONDS + 60))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 200 ]]; do
    ((SECONDS < deadline)) || die "the proxy never answered 200"
    sleep 0.2
  done
}

# requests K: K keep-alive GETs on one connection (one curl); fails unless
# every one answered 200.
requests() {
  local k=$1 i
  : >"$tmp/curl.cfg"
  for ((i = 0; i < k; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$tmp/curl.cfg"
  done
  local codes
  codes="$(curl -s -K "$tmp/curl.cfg" -w '%{http_code}\n' | sort | uniq -c)"
  [[ "$codes" =~ ^\ *$k\ 200$ ]] || die "not $k answers 200: $codes"
}
