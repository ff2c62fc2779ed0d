#!/usr/bin/env bash
# Runs every libFuzzer target of build-fuzz for RUNS executions, JOBS at a time, each on a
# scratch copy of its committed corpus (new inputs stay out of the repository), and prints one
# results line per target: name, executions, seconds, new corpus size, findings.
#
#   tests/fuzz/run_fuzzers.sh [BUILD_DIR [RUNS [JOBS [TARGET...]]]]
#   defaults: build-fuzz 1000000 2 (all targets)
# Crash/leak/timeout inputs land in $WORK/<target>/artifacts/; logs in $WORK/<target>.log.
set -u
BUILD=${1:-build-fuzz}
RUNS=${2:-1000000}
JOBS=${3:-2}
shift 3 2>/dev/null || shift $#
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/cowtree-fuzz-XXXXXX)}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  for f in "$ROOT"/tests/fuzz/*_fuzz.cc; do
    n=$(basename "$f" _fuzz.cc)
    TARGETS+=("$n")
  done
fi

# -max_len per target: the kFuzzTargets table in fuzz_targets.h.
max_len() {
  sed -n "s/.*{\"$1\", Fuzz[A-Za-z]*, \([0-9]*\)}.*/\1/p" "$ROOT/tests/fuzz/fuzz_targets.h"
}

run_one() {
  local t=$1 dir="$WORK/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$dir/corpus/" 2>/dev/null
  local start=$(date +%s)
  "$ROOT/$BUILD/fuzz_$t" -runs="$RUNS" -max_len="$(max_len "$t")" -timeout=30 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
      "$dir/corpus" >"$WORK/$t.log" 2>&1
  local rc=$? end=$(date +%s)
  local execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
  local files=$(ls "$dir/corpus" | wc -l)
  local found=$(ls "$dir/artifacts" | wc -l)
  printf '%-16s execs=%-9s secs=%-6s corpus=%-6s artifacts=%s rc=%s\n' \
      "$t" "${execs:-?}" "$((end - start))" "$files" "$found" "$rc"
}

echo "work dir: $WORK"
running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
