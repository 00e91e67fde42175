#!/usr/bin/env bash
# Configures and builds valmesh into BUILD_DIR (default: build). Extra
# arguments go to cmake, e.g. -DVALMESH_BUILD_BENCH=ON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DVALMESH_WERROR=ON "$@"
cmake --build "$build_dir" -j "$jobs"
