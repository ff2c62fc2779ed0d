#!/usr/bin/env bash
# Strict commits/s of two cowtree builds (e.g. main's and a branch's build/side_by_side) and of
# the anchors (LMDB, RocksDB, raw 4 KiB fdatasync; run by the AFTER binary), interleaved round
# by round, at 1, 4, 16 and 64 committer threads (side_by_side workload "strict"). Prints the
# median per (threads, system, metric) over the rounds and cowtree's ratios; writes
# OUT/strict_group_commit.csv (binary,round,workload,system,metric,value).
# Usage: bench/run_strict_group_commit.sh BEFORE_BINARY AFTER_BINARY OUT_DIR [ROUNDS] [SECONDS]
#   e.g. bench/run_strict_group_commit.sh /tmp/main-side_by_side build/side_by_side \
#          /tmp/h8-commit-run 3 5
# Stores go under OUT_DIR/db (pass a private directory: the default side_by_side one is shared).
set -euo pipefail
before=$1 after=$2 out=$3 rounds=${4:-3} seconds=${5:-5}
mkdir -p "$out"
orders=(cowtree,lmdb,rocksdb,raw-fdatasync rocksdb,raw-fdatasync,cowtree,lmdb
        lmdb,cowtree,raw-fdatasync,rocksdb raw-fdatasync,rocksdb,lmdb,cowtree)
run() {  # run BINARY SYSTEMS LABEL ROUND
  "$1" --workloads=strict --systems="$2" --rounds=1 --strict-seconds="$seconds" \
    --strict-threads=1,4,16,64 --dir="$out/db" --out="$out/$3-$4" >/dev/null
}
for r in $(seq 1 "$rounds"); do
  order=${orders[$(((r - 1) % 4))]}
  if [ $((r % 2)) -eq 1 ]; then
    run "$before" cowtree before "$r"; run "$after" "$order" after "$r"
  else
    run "$after" "$order" after "$r"; run "$before" cowtree before "$r"
  fi
  echo "round $r done"
done
csv=$out/strict_group_commit.csv
echo "binary,round,workload,system,metric,value" >"$csv"
for r in $(seq 1 "$rounds"); do
  for b in before after; do
    awk -F, -v b="$b" 'NR > 1 { print b "," $0 }' "$out/$b-$r/side_by_side.csv" >>"$csv"
  done
done
awk -F, 'NR > 1 && $5 ~ /^(commits_per_s|commits_per_fdatasync|commit_p50_us|commit_p99_us)$/ {
    s = ($1 == "before") ? "cowtree-before" : $4
    k = $3 SUBSEP $5 SUBSEP s; n[k]++; v[k, n[k]] = $6
  }
  END {
    for (k in n) {
      m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      med[k] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
      split(k, f, SUBSEP); printf "%-11s %-22s %-15s %12.4g\n", f[1], f[2], f[3], med[k]
    }
    for (k in med) {
      split(k, f, SUBSEP)
      if (f[2] == "commits_per_s" && f[3] != "cowtree") {
        c = med[f[1] SUBSEP f[2] SUBSEP "cowtree"]
        if (med[k] > 0) printf "%-11s cowtree/%-14s %12.3g\n", f[1], f[3], c / med[k]
      }
    }
  }' "$csv" | sort
