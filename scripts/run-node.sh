#!/usr/bin/env bash
# Starts a working valmesh node from a clean checkout: installs what is
# missing, builds, starts one valmesh-echo for each service of the original
# system (mcp-universal 6000, ollama-mcp 6002, groq-api 6003,
# qwen-valencia-api 3000), then runs the agent with examples/valmesh.json in
# the foreground (HTTP API on 127.0.0.1:8700). Ctrl-C stops everything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"

"$root/scripts/build.sh" >/dev/null
echo "built $BUILD_DIR/valmesh"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

for svc in mcp-universal:6000 ollama-mcp:6002 groq-api:6003 qwen-valencia-api:3000; do
  name="${svc%%:*}" port="${svc##*:}"
  "$BUILD_DIR/examples/valmesh-echo" --port "$port" --name "$name" &
  pids+=("$!")
done

echo "try: curl -s http://127.0.0.1:8700/api/services"
echo "     $BUILD_DIR/valmesh services"
"$BUILD_DIR/valmesh" agent --config "$root/examples/valmesh.json" "$@" &
agent=$!
pids+=("$agent")
# Forward Ctrl-C / SIGTERM to the agent for a graceful stop.
trap 'kill -TERM "$agent" 2>/dev/null || true' INT TERM
wait "$agent" || true
