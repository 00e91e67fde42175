#!/usr/bin/env bash
# The whole test suite from a clean checkout: installs what is missing,
# builds with warnings as errors, and runs every test with ctest. The
# hardening runs (docs/TESTING.md) follow when HARDENING names them:
#   asan  the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan  ThreadSanitizer over the tests that run threads (rebuilds CAF with
#         -fsanitize=thread once per machine)
#   fuzz  a short regression run of every fuzzer over its seed corpus
# e.g. HARDENING="asan fuzz" scripts/test.sh. By default none runs: their
# cost from a fresh machine is not yet measured against the time CI allows.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
hardening="${HARDENING-}"

"$root/scripts/build.sh" "$@"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${JOBS:-2}" --timeout 300)

# Each in its own build dir (build-asan, build-tsan, build-fuzz).
for run in $hardening; do
  echo "== hardening: $run"
  case "$run" in
    asan) BUILD_DIR="$root/build-asan" "$root/scripts/sanitize.sh" asan ;;
    tsan) BUILD_DIR="$root/build-tsan" "$root/scripts/sanitize.sh" tsan ;;
    fuzz) BUILD_DIR="$root/build-fuzz" "$root/scripts/fuzz.sh" --regress \
      "${FUZZ_SECONDS:-10}" ;;
    *) echo "unknown hardening run: $run" >&2; exit 2 ;;
  esac
done
