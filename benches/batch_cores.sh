#!/usr/bin/env bash
# Wall time of `knip batch` on 1 core vs 2 cores, over the real recordings (../shared/data/real,
# else data/real) plus a folder of simulated sessions with one deliberately broken file.
# Usage: bash benches/batch_cores.sh [SESSIONS] [RUNS]   (defaults 16 sessions, 3 runs; median)
# On a machine shared with other work, Linux's autogroup scheduler gives each session the same CPU
# share however many threads it runs, so 2 jobs cannot get more than 1 would. As root, run it in
# its own session with a raised autogroup weight to measure what the cores give:
#   setsid bash -c 'echo -19 > /proc/self/autogroup; bash benches/batch_cores.sh 24 3'
# (NICE=-19 additionally raises the batch within that session.)
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${1:-16}
RUNS=${2:-3}
cargo build --release --quiet --bin knip
KNIP=target/release/knip
WORK=target/batch-bench
rm -rf "$WORK"
mkdir -p "$WORK/in/simulated"
REAL=../shared/data/real
[ -d "$REAL" ] || REAL=data/real
cp -r "$REAL" "$WORK/in/real"
protocols=(identify strength mixed)
for i in $(seq 1 "$SESSIONS"); do
  p=${protocols[$(( (i - 1) % 3 ))]}
  "$KNIP" simulate --protocol "$p" --seed "$i" --out "$WORK/in/simulated/${p}_$i.csv" >/dev/null
done
# Broken: a recording cut off by hand with text in a number field.
head -n 2000 "$WORK/in/simulated/identify_1.csv" > "$WORK/in/simulated/broken.csv"
echo "12.3456,abc,1.0,2.0" >> "$WORK/in/simulated/broken.csv"
cp "$WORK/in/simulated/identify_1.json" "$WORK/in/simulated/broken.json"
du -sh "$WORK/in"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # $1 label, rest: command
  local label=$1; shift
  local times=() cpus=()
  for r in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/out"
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$WORK/cpu_$label.txt" "$@" > "$WORK/last_$label.txt"
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
    cpus+=("$(awk '{print $1 + $2}' "$WORK/cpu_$label.txt")")
  done
  printf '%s\n' "${times[@]}" | median > "$WORK/median_$label.txt"
  echo "$label: wall ${times[*]} s (median $(cat "$WORK/median_$label.txt") s); CPU (user+sys) ${cpus[*]} s"
}
NICE=${NICE:-0}
run one_core nice -n "$NICE" taskset -c 0 "$KNIP" batch "$WORK/in" --out "$WORK/out" --jobs 1
run two_cores nice -n "$NICE" taskset -c 0,1 "$KNIP" batch "$WORK/in" --out "$WORK/out" --jobs 2
head -1 "$WORK/last_two_cores.txt"
grep "skipped " "$WORK/last_two_cores.txt" | cut -c1-160
echo "speed-up: $(echo "scale=2; $(cat "$WORK/median_one_core.txt") / $(cat "$WORK/median_two_cores.txt")" | bc)"
echo "load average before: $LOAD0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
