#!/usr/bin/env bash
# libFuzzer targets of every parser (tests/fuzz, docs/TESTING.md).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]   fuzz TARGET (default: all, one
#                                            after the other) for SECONDS
#                                            each (default 60)
#   FUZZ_RUNS=N scripts/fuzz.sh ...          stop each target after N
#                                            executions (or SECONDS)
#   scripts/fuzz.sh --regress [SECONDS]      what the test command runs: every
#                                            target over its seed corpus, then
#                                            SECONDS (default 10) of fuzzing
#
# Builds with clang++ into BUILD_DIR (default build-fuzz), -O1 and NDEBUG
# as the product is built (Boost's own assertions are off there too). A long run keeps
# its growing corpus in BUILD_DIR/corpus/TARGET (seeded from the
# repository's tests/fuzz/corpus/TARGET) and writes crash, leak and timeout
# inputs to BUILD_DIR/findings/TARGET; add each to the repository's corpus
# once fixed. A regression run leaves the repository's corpus untouched and
# fails on any finding.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build-fuzz}"
jobs="${JOBS:-2}"

regress=false
if [ "${1:-}" = "--regress" ]; then
  regress=true
  shift
  target=all
  seconds="${1:-10}"
else
  target="${1:-all}"
  seconds="${2:-60}"
fi

"$root/scripts/install-deps.sh"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
  -DVALMESH_FUZZ=ON -DVALMESH_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs" --target fuzzers

targets=()
if [ "$target" = all ]; then
  for f in "$root"/tests/fuzz/*_fuzz.cpp; do
    targets+=("$(basename "$f" .cpp)")
  done
else
  targets=("$target")
fi

# Crashes, ASan and UBSan reports, leaks, timeouts (10 s per input) and
# out-of-memory (2 GiB) are findings.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/sanitizers/ubsan.supp"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

failed=()
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  findings="$build_dir/findings/$t"
  mkdir -p "$findings"
  if $regress; then
    work="$(mktemp -d)"
    cp -r "$seeds/." "$work/"
    corpus=("$work")
  else
    work="$build_dir/corpus/$t"
    mkdir -p "$work"
    corpus=("$work" "$seeds")
  fi
  echo "== $t: ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}"
  start=$(date +%s)
  if ! "$build_dir/tests/fuzz/$t" "${corpus[@]}" -max_total_time="$seconds" \
      ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" \
      -print_final_stats=1 >"$findings/last-run.log" 2>&1; then
    failed+=("$t")
    tail -n 60 "$findings/last-run.log"
  fi
  execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
    "$findings/last-run.log" | grep -o '[0-9]*$' || echo "?")
  echo "   $execs executions in $(( $(date +%s) - start ))s"
  if $regress; then rm -rf "$work"; fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs in $build_dir/findings/)" >&2
  exit 1
fi
echo "fuzz: no findings"
