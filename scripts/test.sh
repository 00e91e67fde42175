#!/usr/bin/env bash
# The whole test suite from a clean checkout: installs what is missing,
# builds with warnings as errors, and runs every test with ctest. Then the
# hardening runs (docs/TESTING.md), each in its own build dir:
#   asan  the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan  the integration tests against nodes built with ThreadSanitizer
#         (rebuilds CAF with -fsanitize=thread once per machine)
#   fuzz  a short regression run of every fuzzer over its seed corpus
# HARDENING picks them (default: all three; HARDENING= runs none), e.g.
# HARDENING="asan" scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
hardening="${HARDENING-asan tsan fuzz}"

"$root/scripts/build.sh" "$@"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${JOBS:-2}" --timeout 300)

# Each in its own build dir (build-asan, build-tsan, build-fuzz).
for run in $hardening; do
  echo "== hardening: $run"
  case "$run" in
    asan) BUILD_DIR="$root/build-asan" "$root/scripts/sanitize.sh" asan ;;
    tsan) PLAIN_BUILD_DIR="$BUILD_DIR" BUILD_DIR="$root/build-tsan" \
      "$root/scripts/sanitize.sh" tsan ;;
    fuzz) BUILD_DIR="$root/build-fuzz" "$root/scripts/fuzz.sh" --regress \
      "${FUZZ_SECONDS:-10}" ;;
    *) echo "unknown hardening run: $run" >&2; exit 2 ;;
  esac
done
