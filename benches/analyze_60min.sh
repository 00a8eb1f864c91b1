#!/usr/bin/env bash
# Wall time and peak memory of `knip analyze`, whole process, on simulated 2-channel (pelvic +
# abdominal EMG) 2 kHz recordings of 60 minutes (the `long` protocol) and of the ~3-minute `mixed`
# session, to show that memory does not grow with length.
#
# Run from the repository root: bash benches/analyze_60min.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
knip=target/release/knip
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-10s %10s %12s %12s %10s %14s\n' recording minutes samples wall_s peak_MB Msamples_per_s
for protocol in mixed long; do
  out=$("$knip" simulate --protocol "$protocol" --seed 1 --channels pfm_emg,abd_emg --out "$work/$protocol.csv")
  samples=$(echo "$out" | sed -E 's/.*\(([0-9]+) samples, ([0-9.]+) s\).*/\1/')
  seconds=$(echo "$out" | sed -E 's/.*\(([0-9]+) samples, ([0-9.]+) s\).*/\2/')
  best_wall=999999; peak_kb=0
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %M' -o "$work/time" "$knip" analyze "$work/$protocol.csv" --out "$work/report_$protocol" >/dev/null
    read -r wall kb < "$work/time"
    best_wall=$(awk -v a="$wall" -v b="$best_wall" 'BEGIN{print (a<b)?a:b}')
    peak_kb=$(awk -v a="$kb" -v b="$peak_kb" 'BEGIN{print (a>b)?a:b}')
  done
  awk -v p="$protocol" -v s="$seconds" -v n="$samples" -v w="$best_wall" -v k="$peak_kb" \
    'BEGIN{printf "%-10s %10.1f %12d %12.2f %10.1f %14.1f\n", p, s/60, n, w, k/1024, n/w/1e6}'
done
