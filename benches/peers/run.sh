#!/usr/bin/env bash
# knip against NeuroKit2, BioSPPy and a scipy pipeline, in one run, on the same recordings:
# simulated 10- and 60-minute 2-channel 2 kHz sessions (with ground truth) and the raw-EMG real
# recordings in data/real/. Wall time, samples/s and peak memory of each whole process
# (/usr/bin/time), F1 against the simulated truth, agreement with each other on real data.
#
# Run by hand from anywhere (not in CI; ~12 minutes, most of it NeuroKit2 on the 60-minute file —
# `--nk-60-span-s 600` runs it on the first 10 minutes only and compares per sample):
#   bash benches/peers/run.sh [--repeat 3] [--nk-60-span-s 600] [--skip neurokit2 ...]
# The tables go to stdout and to results.md (+ .json) in the working folder (KNIP_PEERS_WORK to
# choose it; default a new temporary folder).
#
# Onset timing on real EMG with onsets known by construction (onsets.py; ~3 minutes): real rest
# and real activity of each data/real/ raw-EMG recording composed into seeded test files, knip and
# the peers run on the same files, F1 / onset error / knip's decision latency per source:
#   bash benches/peers/run.sh --onsets [--files 5] [--bursts 12] [--seed 1] [--skip scipy ...]
# Tables to stdout and to onsets.md (+ onsets.csv, onsets_bursts.csv) in the working folder.
set -euo pipefail
onsets=0
if [ "${1:-}" = "--onsets" ]; then
  onsets=1
  shift
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
(cd "$root" && cargo build --release --quiet)
knip="$root/target/release/knip"
work=${KNIP_PEERS_WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "working in $work" >&2

if [ "$onsets" = 1 ]; then
  # The peers' processes without the OpenBLAS settings, as in the timing run (not timed here).
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$here/onsets.py" --knip "$knip" \
    --work "$work" --real "$root/data/real" "$@"
  exit 0
fi

# The 60-minute recording (protocol `long`, seed 1) and its first 10 minutes.
if [ ! -f "$work/sim60.csv" ]; then
  "$knip" simulate --protocol long --seed 1 --channels pfm_emg,abd_emg --out "$work/sim60.csv" >&2
fi
awk -F, 'NR == 1 || $1 < 600' "$work/sim60.csv" > "$work/sim10.csv"
cp "$work/sim60.json" "$work/sim10.json"
awk -F, 'NR == 1 || $2 < 600' "$work/sim60.truth.csv" > "$work/sim10.truth.csv"

"$venv/bin/python" "$here/peers.py" compare --knip "$knip" --work "$work" --real "$root/data/real" \
  --out "$work/results.md" "$@"
