"""Load knip's outputs in Python: a recording (CSV + sidecar), its EDF+/BDF+ export (pyedflib and
MNE) and the report tables (pandas). Run from a folder holding session.csv/.json/.edf and report/:
    python load_knip.py
"""
import json

import mne
import numpy as np
import pandas as pd
import pyedflib

# 1. The recording: one row per tick of the fastest channel; a slower channel's cell is empty
#    where it has no sample. Each channel's own samples are its non-empty cells.
rec = pd.read_csv("session.csv")
side = json.load(open("session.json"))
for ch in side["channels"]:
    x = rec[ch["name"]].dropna()
    print(f"csv  {ch['name']:8} {ch['rate_hz']:6.0f} Hz {ch['unit']:6} n={len(x)} mean={x.mean():.3f}")
print("sidecar:", side["device"], side["protocol"], side["started_at"],
      "notch", side["analysis"]["conditioning"]["notch_hz"])

# 2. The EDF+ export in pyedflib: each channel at its own rate, annotations with durations.
with pyedflib.EdfReader("session.edf") as f:
    for i, label in enumerate(f.getSignalLabels()):
        x = f.readSignal(i)
        print(f"edf  {label:8} {f.getSampleFrequency(i):6.0f} Hz {f.getPhysicalDimension(i):6} n={len(x)} mean={x.mean():.3f}")
    onsets, durations, texts = f.readAnnotations()
    ann = pd.DataFrame({"onset_s": onsets, "duration_s": durations, "text": texts})
print(ann[ann.text.str.startswith("contraction pfm_emg")].head(3).to_string(index=False))
print("annotation kinds:", ann.text.str.split(" ").str[0].value_counts().to_dict())

# 3. The same file in MNE. MNE keeps one rate per Raw object: it resamples the 100 Hz pressure
#    to 2000 Hz on reading (with a warning); read it with pyedflib to keep its own rate.
raw = mne.io.read_raw_edf("session.edf", preload=True, verbose="error")
print("mne:", raw.info["sfreq"], "Hz", raw.ch_names, "annotations:", len(raw.annotations))
squeezes = raw.annotations[[d.startswith("contraction pfm_emg") for d in raw.annotations.description]]
print("mne first squeeze:", squeezes[0]["onset"], squeezes[0]["duration"])

# 4. The report tables.
con = pd.read_csv("report/contractions.csv")
# summary.csv: some units contain a comma ("count (index > 3, not validated)"), so split each
# line at its first three commas instead of using read_csv.
lines = [l.rstrip("\n").split(",", 3) for l in open("report/summary.csv")]
summ = pd.DataFrame(lines[1:], columns=lines[0])
print(con.groupby("channel").duration_s.describe()[["count", "mean", "max"]])
print(summ[summ.metric.isin(["contractions", "holds_5s_or_longer"])].to_string(index=False))
