#!/usr/bin/env bash
# Starts a three-node valmesh cluster on this machine from a clean checkout:
# installs what is missing, builds, starts the example upstreams, then three
# agents (HTTP 8700, 8710, 8720; cluster 8701, 8711, 8721; data in
# ./valmesh-cluster/<node>). The first registers the example services; the
# other two join it. Ctrl-C leaves the cluster gracefully and stops all.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
data="${DATA_DIR:-$PWD/valmesh-cluster}"

"$root/scripts/build.sh" >/dev/null
echo "built $BUILD_DIR/valmesh"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for svc in mcp-universal:6000 ollama-mcp:6002 groq-api:6003 qwen-valencia-api:3000; do
  name="${svc%%:*}" port="${svc##*:}"
  "$BUILD_DIR/examples/valmesh-echo" --port "$port" --name "$name" &
  pids+=("$!")
done

start_node() {  # NAME HTTP_PORT CLUSTER_PORT [FLAGS...]
  local name=$1 http=$2 cluster=$3
  shift 3
  mkdir -p "$data/$name"
  "$BUILD_DIR/valmesh" agent --node-name "$name" --http "127.0.0.1:$http" \
    --cluster "127.0.0.1:$cluster" --data-dir "$data/$name" "$@" &
  pids+=("$!")
}

start_node node-a 8700 8701 --config "$root/examples/valmesh.json"
start_node node-b 8710 8711 --join 127.0.0.1:8701
start_node node-c 8720 8721 --join 127.0.0.1:8701

echo "try: $BUILD_DIR/valmesh members"
echo "     $BUILD_DIR/valmesh services --addr http://127.0.0.1:8720"
echo "     $BUILD_DIR/valmesh actors --all"
wait "${pids[@]}"
