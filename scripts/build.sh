#!/usr/bin/env bash
# Configures and builds valmesh into BUILD_DIR (default: build). Extra
# arguments go to cmake, e.g. -DVALMESH_BUILD_BENCH=ON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"

"$root/scripts/install-deps.sh"
# RelWithDebInfo with line tables only (-g1): backtraces, perf and
# callgrind still name files and lines, and each file compiles in two
# thirds of the time full debug info (-g) takes.
cmake -S "$root" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DVALMESH_WERROR=ON "$@"
cmake --build "$build_dir" -j "$jobs"
