#!/usr/bin/env bash
# The whole test suite from a clean checkout: installs what is missing,
# builds with warnings as errors, and runs every test with ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"

"$root/scripts/build.sh" "$@"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${JOBS:-2}" --timeout 300
