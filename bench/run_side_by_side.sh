#!/usr/bin/env bash
# Runs the side-by-side benchmark (build/side_by_side: cowtree vs LMDB, RocksDB, SQLite, GNU
# pb_ds, raw fdatasync; issue 8's workloads), >= 3 interleaved rounds, then renders the PNGs
# with gnuplot (installed here if missing: it is needed only by this script, not by the build):
#   ingest_rate.png  ingest rate over time, 10 M random int64 into one tree (round 1)
#   query_cdf.png    latency CDF of warm random select / rank at 10 M entries (all rounds)
# Usage: bench/run_side_by_side.sh [--build DIR] [--out DIR] [--plot-only] [side_by_side options...]
#   --plot-only: re-render the PNGs from the CSV files already in --out (no run)
#   e.g. bench/run_side_by_side.sh --rounds=3                    (the issue's sizes, ~30 min)
#        bench/run_side_by_side.sh --trees=10000 --entries=200000 (a quick look)
# Outputs in --out (default bench/results): side_by_side.csv, summary.csv, ingest_series.csv,
# query_cdf.csv, the PNGs and run.txt (the printed table). Stores go under $TMPDIR (or /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
out=bench/results
args=()
plot_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --plot-only) plot_only=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
mkdir -p "$out"
if [ $plot_only -eq 0 ]; then
  cmake --build "$build" --target side_by_side >/dev/null
  has_rounds=0
  for a in "${args[@]}"; do case "$a" in --rounds=*) has_rounds=1 ;; esac; done
  [ $has_rounds -eq 1 ] || args+=(--rounds=3)
  "$build/side_by_side" --out="$out" "${args[@]}" | tee "$out/run.txt"
fi

if ! command -v gnuplot >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq gnuplot-nox >/dev/null
fi

# Ingest rate: keys/s over ~20 windows of the run, per system, round 1.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -F, -v dir="$tmp" 'NR > 1 && $1 == 1 { n[$2]++; t[$2, n[$2]] = $3; k[$2, n[$2]] = $4 }
  END {
    for (s in n) {
      f = dir "/rate_" s ".dat"; step = int(n[s] / 20); if (step < 1) step = 1
      pt = 0; pk = 0
      for (i = step; i <= n[s]; i += step) {
        dt = t[s, i] - pt
        if (dt > 0) printf "%.3f %.4f\n", t[s, i], (k[s, i] - pk) / dt / 1e6 > f
        pt = t[s, i]; pk = k[s, i]
      }
    }
  }' "$out/ingest_series.csv"
awk -F, -v dir="$tmp" 'NR > 1 { print $5, $4 > (dir "/cdf_" $2 "_" $3 "_" $1 ".dat") }' \
  "$out/query_cdf.csv"

plot=""
for f in "$tmp"/rate_*.dat; do
  [ -e "$f" ] || continue
  s=$(basename "$f" .dat); s=${s#rate_}
  plot+="${plot:+, }'$f' using 1:2 with linespoints lw 2 title '$s'"
done
if [ -n "$plot" ]; then
  gnuplot <<GP
set terminal pngcairo size 900,500
set output '$out/ingest_rate.png'
set title 'Ingest of random int64 into one tree, 10 k keys per commit (round 1)'
set xlabel 'elapsed seconds'
set ylabel 'million keys per second'
set key outside right
set grid
plot $plot
GP
fi

plot=""
declare -A colour=()
next_colour=1
for f in "$tmp"/cdf_*.dat; do
  [ -e "$f" ] || continue
  s=$(basename "$f" .dat); s=${s#cdf_}
  series=${s%_*}  # system_op (the round is the last field)
  title="notitle"
  if [ -z "${colour[$series]:-}" ]; then
    colour[$series]=$next_colour; next_colour=$((next_colour + 1)); title="title '${series//_/ }'"
  fi
  plot+="${plot:+, }'$f' using 1:2 with lines lw 2 lc ${colour[$series]} $title"
done
if [ -n "$plot" ]; then
  gnuplot <<GP
set terminal pngcairo size 900,500
set output '$out/query_cdf.png'
set title 'Warm random select / rank latency per call, 10 M entries (every round)'
set xlabel 'ns per call (log scale; includes about 20 ns of clock reads)'
set xrange [100:100000]
set ylabel 'fraction of calls'
set logscale x
set key outside right
set grid
plot $plot
GP
fi
echo "wrote $out/{side_by_side.csv,summary.csv,ingest_series.csv,query_cdf.csv,*.png}"
