#!/usr/bin/env bash
# The test suite under the sanitizers (docs/TESTING.md, "Sanitizers").
#
#   scripts/sanitize.sh asan    AddressSanitizer + UndefinedBehaviorSanitizer
#                               (and LeakSanitizer) over the whole suite
#   scripts/sanitize.sh tsan    ThreadSanitizer over the integration tests
#                               (TSAN_TESTS), against CAF rebuilt with
#                               -fsanitize=thread (see below)
#
# Each builds valmesh in its own dir (build-asan, build-tsan; BUILD_DIR
# overrides), runs ctest there with the valmesh processes the tests start
# instrumented too, and fails on any failed test or any sanitizer report:
# every process writes its reports to BUILD_DIR/sanitizer-logs, and a
# report there fails the run even when the test that caused it passed.
# Extra arguments go to ctest (e.g. -R integration.overload).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="${1:-}"
shift || true
jobs="${JOBS:-2}"

case "$kind" in
  asan) build_dir="${BUILD_DIR:-$root/build-asan}"; sanitize=address ;;
  tsan) build_dir="${BUILD_DIR:-$root/build-tsan}"; sanitize=thread ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan [ctest arguments]" >&2
    exit 2
    ;;
esac

"$root/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# -O1 with line tables: the sanitizers' recommended optimisation, and
# cheaper to compile than -O2 -g; NDEBUG as in the product's build, so that
# the code under test is the code that ships.
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DVALMESH_SANITIZE="$sanitize" \
  -DVALMESH_BUILD_TESTS=ON -DVALMESH_WERROR=ON "${launcher[@]}" >/dev/null

logs="$build_dir/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
supp="$root/tests/sanitizers"

ctest_args=(--output-on-failure -j "${CTEST_JOBS:-$jobs}" --timeout 600)
if [ "$kind" = asan ]; then
  cmake --build "$build_dir" -j "$jobs"
  export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:abort_on_error=0"
  export UBSAN_OPTIONS="halt_on_error=0:print_stacktrace=1:log_path=$logs/ubsan:suppressions=$supp/ubsan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp"
else
  # ThreadSanitizer sees synchronisation only in instrumented code, and
  # Debian's libcaf_core is not: every message through CAF's lock-free
  # mailboxes would look like a race. So CAF 0.17.6 is rebuilt with
  # -fsanitize=thread from Debian's own source package, once per machine
  # (cached in VALMESH_TSAN_CAF), and the tests load it through
  # LD_LIBRARY_PATH in place of the system's (same version, same
  # build_config.hpp, so the same ABI).
  caf_dir="$("$root/scripts/build-tsan-caf.sh")"
  cmake --build "$build_dir" -j "$jobs" --target valmesh valmesh-echo \
    valmesh_integration_tests
  export LD_LIBRARY_PATH="$caf_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$supp/tsan.supp"
  # The tests whose processes run threads that share state: the real node,
  # where CAF's workers and the asio loops meet. The unit tests and the
  # actor suites (CAF's deterministic test scheduler) run on one thread.
  ctest_args+=(-R "${TSAN_TESTS:-^integration\.}")
fi

cd "$build_dir"
status=0
ctest "${ctest_args[@]}" "$@" || status=$?

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "== sanitizer reports ($kind):"
  for f in $reports; do
    echo "-- $f"
    cat "$f"
  done
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "sanitize: $kind: every test passed, no reports"
fi
exit "$status"
