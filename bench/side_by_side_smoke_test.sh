#!/usr/bin/env bash
# Smoke test of build/side_by_side (ctest bench.side_by_side_smoke, label unit): tiny sizes,
# every system, one round. Asserts that every expected row is present with a sane value (no
# timing assertion). Usage: side_by_side_smoke_test.sh PATH/TO/side_by_side
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" --rounds=1 --out="$work/out" --dir="$work/db" --trees=300 --rocksdb-trees=50 \
  --trees-per-batch=100 --entries=30000 --keys-per-commit=1000 --queries=2000 \
  --latency-samples=500 --strict-seconds=0.2 --strict-threads=4 >"$work/log" 2>&1 ||
  { cat "$work/log"; echo "FAIL: side_by_side exited non-zero"; exit 1; }
grep -q '!!' "$work/log" && { cat "$work/log"; echo "FAIL: a child failed"; exit 1; }
rows=$work/out/side_by_side.csv
fail=0
# expect WORKLOAD SYSTEM METRIC MIN MAX: one row whose value is in [MIN, MAX].
expect() {
  local v
  v=$(awk -F, -v w="$1" -v s="$2" -v m="$3" '$2 == w && $3 == s && $4 == m { print $5 }' "$rows")
  if [ -z "$v" ]; then echo "FAIL: no row $1,$2,$3"; fail=1; return; fi
  if ! awk -v v="$v" -v lo="$4" -v hi="$5" 'BEGIN { exit !(v >= lo && v <= hi) }'; then
    echo "FAIL: $1,$2,$3 = $v not in [$4, $5]"; fail=1
  fi
}
for s in cowtree lmdb rocksdb sqlite; do
  expect trees "$s" us_per_tree 0 1e7
  expect trees "$s" disk_bytes_per_tree 1 1e9
  expect reopen "$s" open_to_first_query_s 0 600
  expect reopen "$s" rss_after_open_bytes 1e5 1e11
done
for s in cowtree lmdb lmdb-1txn rocksdb sqlite pbds; do
  expect ingest "$s" us_per_key 0 1e6
  expect ingest "$s" peak_rss_bytes 1e5 1e11
done
for s in cowtree lmdb lmdb-1txn rocksdb sqlite; do expect ingest "$s" disk_bytes_per_entry 1 1e6; done
for s in cowtree pbds; do
  expect query "$s" select_us 0 1e5
  expect query "$s" rank_us 0 1e5
  expect query "$s" rss_per_entry_bytes 0 1e7
done
for s in cowtree lmdb rocksdb raw-fdatasync raw-fdatasync-append; do
  expect strict_t4 "$s" commits 1 1e9
  expect strict_t4 "$s" commit_p50_us 0 1e7
  expect strict_t4 "$s" commits_per_fdatasync 0.5 4  # <= 4 committers share one fdatasync
done
# The series reach the full count; the CDF has a quantile 1 row for each (system, op).
awk -F, 'NR > 1 && $4 == 30000 { seen[$2] = 1 } END { exit !(length(seen) == 6) }' \
  "$work/out/ingest_series.csv" || { echo "FAIL: ingest_series.csv lacks final rows"; fail=1; }
[ "$(awk -F, 'NR > 1 && $3 != "commit" && $4 == 1 { n++ } END { print n }' \
  "$work/out/query_cdf.csv")" = 4 ] || { echo "FAIL: query_cdf.csv lacks the 4 query CDFs"; fail=1; }
[ "$(awk -F, 'NR > 1 && $3 == "commit" && $4 == 1 { n++ } END { print n }' \
  "$work/out/query_cdf.csv")" = 5 ] || { echo "FAIL: query_cdf.csv lacks the 5 commit CDFs"; fail=1; }
grep -q '^workload,metric,system,median' "$work/out/summary.csv" || { echo "FAIL: summary"; fail=1; }
[ $fail -eq 0 ] && echo "side_by_side smoke: OK ($(wc -l <"$rows") rows)"
exit $fail
