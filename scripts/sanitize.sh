#!/usr/bin/env bash
# The test suite under the sanitizers (docs/TESTING.md, "Sanitizers").
#
#   scripts/sanitize.sh asan    AddressSanitizer + UndefinedBehaviorSanitizer
#                               (and LeakSanitizer) over the whole suite
#   scripts/sanitize.sh tsan    ThreadSanitizer: the integration tests
#                               (TSAN_TESTS) against nodes built with TSan
#                               and CAF rebuilt with -fsanitize=thread
#                               (see below)
#
# Each builds valmesh in its own dir (build-asan, build-tsan; BUILD_DIR
# overrides). ASan runs ctest there, test binaries and the valmesh
# processes they start all instrumented. TSan instruments what runs the
# threads that meet (the node, `valmesh`, and `valmesh-echo`) and runs the
# plain build's integration tests (PLAIN_BUILD_DIR, default build; built
# first if missing) against them through VALMESH_BIN and VALMESH_ECHO_BIN.
# Both fail on any failed test or any sanitizer report:
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
configure() {
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DVALMESH_SANITIZE="$sanitize" -DVALMESH_WERROR=ON "${launcher[@]}" "$@" \
    >/dev/null
}

logs="$build_dir/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
supp="$root/tests/sanitizers"

# A test that fails gets one more try: the instrumented build runs 2 to 15
# times slower, and a few tests bound real time (a detection within
# seconds). A sanitizer report fails the run whether or not its test
# passed, on either try (below).
ctest_args=(--output-on-failure -j "${CTEST_JOBS:-$jobs}" --timeout 600
  --repeat until-pass:2)
run_dir="$build_dir"
if [ "$kind" = asan ]; then
  configure -DVALMESH_BUILD_TESTS=ON
  cmake --build "$build_dir" -j "$jobs"
  export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:abort_on_error=0"
  export UBSAN_OPTIONS="halt_on_error=0:print_stacktrace=1:log_path=$logs/ubsan:suppressions=$supp/ubsan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp"
else
  # ThreadSanitizer sees synchronisation only in instrumented code, and
  # Debian's libcaf_core is not: every message through CAF's lock-free
  # mailboxes would look like a race. So CAF 0.17.6 is rebuilt with
  # -fsanitize=thread from Debian's own source package, once per machine
  # (cached in VALMESH_TSAN_CAF). The node links against it in its own
  # build and finds it through its run path (RPATH), in place of the
  # system's: same version, same build_config.hpp, so the same ABI.
  # The run path is written as DT_RPATH (--disable-new-dtags), which the
  # loader searches before LD_LIBRARY_PATH: a DT_RUNPATH comes after it, so
  # an environment whose LD_LIBRARY_PATH names the system's library dir
  # would load Debian's uninstrumented CAF instead.
  caf_dir="$("$root/scripts/build-tsan-caf.sh")"
  configure -DVALMESH_BUILD_TESTS=OFF -DCMAKE_BUILD_RPATH="$caf_dir/lib" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags"
  cmake --build "$build_dir" -j "$jobs" --target valmesh valmesh-echo
  # ldd's output is read whole before it is searched (`ldd | grep -q` would
  # let grep's early exit kill ldd with SIGPIPE, a failed pipeline under
  # pipefail), and shown if the check fails.
  libs="$(ldd "$build_dir/valmesh" 2>&1)" || true
  if ! grep -q "$caf_dir/lib/libcaf_core" <<<"$libs"; then
    echo "sanitize: $build_dir/valmesh does not load the TSan build of CAF" \
      "($caf_dir/lib); LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}; ldd says:" >&2
    echo "$libs" >&2
    exit 1
  fi
  # The test binaries are the plain build's: the threads that meet are the
  # node's (CAF's workers, the asio loops, the bridge between them), and the
  # tests only drive it from outside.
  run_dir="${PLAIN_BUILD_DIR:-$root/build}"
  if [ ! -x "$run_dir/tests/valmesh_integration_tests" ]; then
    BUILD_DIR="$run_dir" "$root/scripts/build.sh"
  fi
  export VALMESH_BIN="$build_dir/valmesh"
  export VALMESH_ECHO_BIN="$build_dir/examples/valmesh-echo"
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$supp/tsan.supp"
  # Every test that starts a node. The unit tests and the actor suites
  # (plain classes; CAF's deterministic test scheduler) run on one thread.
  # The allocation and read counts (integration.proxy_alloc,
  # integration.proxy_reads) are left out: they start the plain node on
  # purpose (TSan replaces malloc and wants its runtime preloaded first), so
  # here they would only count it again, beside instrumented nodes that
  # load the machine, which is not the steady state they bound.
  ctest_args+=(-R "${TSAN_TESTS:-^integration\.}" -E "${TSAN_EXCLUDE:-^integration\.proxy_(alloc|reads|clock)\.}")
fi

cd "$run_dir"
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
