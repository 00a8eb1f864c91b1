#!/usr/bin/env python3
"""Checks knip's EDF+/BDF+ exports with pyedflib (an independent reader, EDFlib in C).

For several recordings (simulated multi-rate sessions, a constant channel, lost samples, real
recordings from data/real) it runs `knip export` to EDF and BDF and checks, in pyedflib:
  * the file opens; labels, sample rates and physical units are the recording's;
  * every sample is within one quantisation step of the source CSV value;
  * the start date and time are the ones asked for;
  * the annotations hold every event knip's own analysis of the source finds (kind, channel,
    onset within 1 ms, duration within 1 ms), the cues, and a lost-samples annotation where rows
    are missing;
and then reads each export back with knip (`knip analyze FILE.edf`) and checks the same
contractions are found as from the CSV (round trip through knip's own reader). Last, a bipolar
derivation (`--pfm EXG1-EXG2`) of a BDF written by pyedflib is compared with the difference
pyedflib computes from the same file.

Usage: python tests/pyedflib_check.py --knip target/debug/knip --work target/pyedflib-check
Prints one line per check and ends with 'N passed, N failed'.
"""

import argparse
import csv
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys

import pyedflib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = {"passed": 0, "failed": 0}


def check(ok, what):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    return ok


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def read_columns(path):
    """Column name -> list of (row time, value) of the non-empty cells (knip CSV)."""
    cols = {}
    with open(path, newline="") as f:
        rows = (l for l in f if not l.startswith("#"))
        r = csv.reader(rows)
        header = next(r)
        for name in header[1:]:
            cols[name] = []
        for row in r:
            t = float(row[0])
            for name, cell in zip(header[1:], row[1:]):
                if cell.strip():
                    cols[name].append((t, float(cell)))
    return cols


def read_events(report_dir):
    with open(os.path.join(report_dir, "events.csv"), newline="") as f:
        return list(csv.DictReader(f))


def check_export(knip, work, name, csv_path, fmt, start, extra_args, rates, units, expect):
    out = os.path.join(work, f"{name}.{fmt}")
    run([knip, "export", csv_path, "--format", fmt, "--out", out, "--start", start] + extra_args)
    tag = f"{name}.{fmt}"
    mode = os.stat(out).st_mode & 0o777
    check(mode == 0o600, f"{tag}: created owner-only (mode {oct(mode)})")
    f = pyedflib.EdfReader(out)
    try:
        labels = f.getSignalLabels()
        # EDF labels hold 16 characters: longer names are cut.
        check(labels == [k[:16] for k in rates], f"{tag}: labels {labels}")
        for i, (label, rate) in enumerate(rates.items()):
            got = f.getSampleFrequency(i)
            check(abs(got - rate) < 1e-9, f"{tag}: {label} rate {got} Hz (want {rate})")
            unit = f.getPhysicalDimension(i)
            check(unit == units[label], f"{tag}: {label} unit '{unit}' (want '{units[label]}')")
        want_start = dt.datetime.fromisoformat(start.replace("Z", "+00:00")).replace(tzinfo=None)
        # pyedflib 0.1.42's getStartdatetime() divides EDFlib's starttime_subsecond (units of
        # 100 ns) by 100 instead of 10; take whole seconds from it and the fraction from the field.
        got_start = f.getStartdatetime().replace(microsecond=0) + dt.timedelta(
            microseconds=f.starttime_subsecond / 10
        )
        check(
            abs((got_start - want_start).total_seconds()) < 1e-3,
            f"{tag}: start {got_start.isoformat()} (want {want_start.isoformat()})",
        )
        # Values within one quantisation step of the source.
        src = read_columns(csv_path)
        for i, label in enumerate(rates):
            vals = f.readSignal(i)
            step = (f.getPhysicalMaximum(i) - f.getPhysicalMinimum(i)) / (
                f.getDigitalMaximum(i) - f.getDigitalMinimum(i)
            )
            rate = rates[label]
            t0 = src[label][0][0]
            worst = 0.0
            compared = 0
            for t, v in src[label]:
                k = round((t - t0) * rate)
                if k < len(vals):
                    worst = max(worst, abs(vals[k] - v))
                    compared += 1
            check(
                compared == len(src[label]) and worst <= step * (1 + 1e-9),
                f"{tag}: {label}: {compared} samples, worst |EDF - CSV| {worst:.3g} "
                f"<= one step {step:.3g} {units[label]}",
            )
            if expect.get("constant") == label:
                check(
                    f.getPhysicalMinimum(i) < f.getPhysicalMaximum(i)
                    and max(abs(x - src[label][0][1]) for x in vals) <= step,
                    f"{tag}: constant channel {label} has a valid range "
                    f"[{f.getPhysicalMinimum(i)}, {f.getPhysicalMaximum(i)}]",
                )
        onsets, durations, texts = f.readAnnotations()
        ann = list(zip(onsets, durations, texts))
        # Every event knip finds in the source is annotated.
        events = expect["events"]
        missing = 0
        for e in events:
            want = f"{e['kind']} {e['channel']}"
            on, du = float(e["onset_s"]), float(e["duration_s"])
            hit = any(
                t.startswith(want) and abs(o - on) <= 1.5e-3 and abs(d - du) <= 1.5e-3
                for o, d, t in ann
            )
            missing += 0 if hit else 1
        check(
            missing == 0 and len(events) > 0,
            f"{tag}: all {len(events)} detected events annotated (missing {missing})",
        )
        if expect.get("cues"):
            n_cues = sum(1 for t in texts if t.startswith("cue: "))
            n_phases = sum(1 for t in texts if t.startswith("phase: "))
            check(n_cues >= expect["cues"] and n_phases >= 1, f"{tag}: {n_cues} cues, {n_phases} phases")
        if "gap" in expect:
            g_on, g_du = expect["gap"]
            hit = [
                (o, d, t) for o, d, t in ann
                if t.startswith("lost samples") and abs(o - g_on) < 0.011 and abs(d - g_du) < 0.011
            ]
            check(len(hit) >= 1, f"{tag}: lost-samples annotation at {g_on:.3f} s for {g_du:.3f} s: {hit[:1]}")
        if expect.get("markers"):
            n = sum(1 for t in texts if t.startswith("marker: "))
            check(n == expect["markers"], f"{tag}: {n} user markers (want {expect['markers']})")
    finally:
        f.close()
    # Round trip through knip's own reader: the same contractions as from the CSV.
    rep = os.path.join(work, f"{name}_{fmt}_report")
    run([knip, "analyze", out, "--out", rep] + expect.get("analyze_args", []))
    back = [e for e in read_events(rep) if e["kind"] == "contraction"]
    orig = [e for e in expect["events"] if e["kind"] == "contraction"]
    worst = max(
        (abs(float(a["onset_s"]) - float(b["onset_s"])) for a, b in zip(back, orig)), default=0.0
    )
    check(
        len(back) == len(orig) and worst <= 0.005,
        f"{tag}: knip reads it back: {len(back)} contractions (CSV: {len(orig)}), "
        f"worst onset difference {worst * 1000:.1f} ms",
    )


def check_foreign(knip, work, fmt, ftype):
    import numpy as np

    rng = np.random.default_rng(7)
    dur, squeezes = 32, [8.0, 14.0, 20.0, 26.0]
    t_emg = np.arange(dur * 1000) / 1000
    level = np.full(t_emg.size, 0.003)  # mV RMS at rest
    t_p = np.arange(dur * 100) / 100
    pressure = np.full(t_p.size, 14.0)  # mmHg
    for on in squeezes:
        level[(t_emg >= on) & (t_emg < on + 3)] = 0.04
        pressure[(t_p >= on) & (t_p < on + 3)] += 20.0
    emg = rng.standard_normal(t_emg.size) * level
    pressure += rng.standard_normal(t_p.size) * 0.2
    path = os.path.join(work, f"pyedflib_written.{fmt}")
    w = pyedflib.EdfWriter(path, 2, file_type=ftype)
    w.setSignalHeaders([
        {"label": "EMG PFM", "dimension": "mV", "sample_frequency": 1000,
         "physical_max": 0.5, "physical_min": -0.5,
         "digital_max": 32767 if fmt == "edf" else 8388607,
         "digital_min": -32768 if fmt == "edf" else -8388608,
         "transducer": "vaginal probe", "prefilter": "HP:10Hz"},
        {"label": "Vag pressure", "dimension": "mmHg", "sample_frequency": 100,
         "physical_max": 100, "physical_min": 0,
         "digital_max": 32767 if fmt == "edf" else 8388607,
         "digital_min": -32768 if fmt == "edf" else -8388608,
         "transducer": "balloon", "prefilter": ""},
    ])
    w.writeSamples([emg, pressure])
    w.writeAnnotation(5.0, -1, "rest marked by nurse")
    w.close()
    rep = os.path.join(work, f"pyedflib_written_{fmt}_report")
    run([knip, "analyze", path, "--out", rep, "--pfm", "EMG PFM", "--pressure", "2"])
    events = [e for e in read_events(rep) if e["kind"] == "contraction"]
    for ch in ("EMG PFM", "Vag pressure"):
        on = sorted(float(e["onset_s"]) for e in events if e["channel"] == ch)
        ok = len(on) == len(squeezes) and all(abs(a - b) < 0.3 for a, b in zip(on, squeezes))
        check(ok, f"pyedflib-written {fmt}: knip finds the 4 squeezes on {ch}: {[round(x, 2) for x in on]}")
    sess = json.load(open(os.path.join(rep, "session.json")))
    units = {c["name"]: c["unit"] for c in sess["stream"]["channels"]}
    check(units == {"EMG PFM": "uV", "Vag pressure": "cmH2O"},
          f"pyedflib-written {fmt}: units converted to knip's: {units}")


def check_bdf_derivation(knip, work):
    """A BioSemi-like BDF (single electrodes EXG1…EXG3 in uV at 2048 Hz, a common-mode hum on all)
    written by pyedflib; knip exports `--pfm EXG1-EXG2 --abd EXG3-EXG2` to BDF; the derived
    channels must equal EXG1-EXG2 and EXG3-EXG2 computed by pyedflib from the original, within one
    quantisation step of each file, and session.json must record the derivations."""
    import numpy as np

    rng = np.random.default_rng(11)
    rate, dur = 2048, 12
    t = np.arange(rate * dur) / rate
    hum = 2000.0 * np.sin(2 * np.pi * 50 * t)
    burst = np.where((t >= 6) & (t < 9), 150.0, 5.0)
    exg1 = hum + burst * rng.standard_normal(t.size) + 300.0
    exg2 = hum + 5.0 * rng.standard_normal(t.size) - 200.0
    exg3 = hum + 5.0 * rng.standard_normal(t.size)
    src = os.path.join(work, "biosemi_like.bdf")
    w = pyedflib.EdfWriter(src, 3, file_type=pyedflib.FILETYPE_BDFPLUS)
    w.setSignalHeaders([
        {"label": name, "dimension": "uV", "sample_frequency": rate,
         "physical_max": 262143, "physical_min": -262144,
         "digital_max": 8388607, "digital_min": -8388608,
         "transducer": "active electrode", "prefilter": "HP:DC; LP:417 Hz"}
        for name in ("EXG1", "EXG2", "EXG3")
    ])
    w.writeSamples([exg1, exg2, exg3])
    w.close()
    f = pyedflib.EdfReader(src)
    try:
        sig = {f.getSignalLabels()[i]: f.readSignal(i) for i in range(3)}
        step_in = max(
            (f.getPhysicalMaximum(i) - f.getPhysicalMinimum(i))
            / (f.getDigitalMaximum(i) - f.getDigitalMinimum(i))
            for i in range(3)
        )
    finally:
        f.close()
    want = {"EXG1-EXG2": sig["EXG1"] - sig["EXG2"], "EXG3-EXG2": sig["EXG3"] - sig["EXG2"]}
    out = os.path.join(work, "derived.bdf")
    run([knip, "export", src, "--format", "bdf", "--out", out, "--pfm", "EXG1-EXG2",
         "--abd", "EXG3-EXG2", "--start", "2026-03-14T09:26:53Z"])
    g = pyedflib.EdfReader(out)
    try:
        labels = g.getSignalLabels()
        check(labels[:2] == ["EXG1-EXG2", "EXG3-EXG2"], f"derived bdf: labels {labels}")
        for i, name in enumerate(("EXG1-EXG2", "EXG3-EXG2")):
            got = g.readSignal(i)
            step_out = (g.getPhysicalMaximum(i) - g.getPhysicalMinimum(i)) / (
                g.getDigitalMaximum(i) - g.getDigitalMinimum(i)
            )
            n = min(len(got), len(want[name]))
            worst = float(np.max(np.abs(got[:n] - want[name][:n])))
            check(
                n == len(want[name]) and g.getSampleFrequency(i) == rate
                and g.getPhysicalDimension(i) == "uV"
                and worst <= step_out + 2 * step_in,
                f"derived bdf: {name}: {n} samples at {g.getSampleFrequency(i)} Hz, worst "
                f"|knip - pyedflib| {worst:.3g} uV <= a quantisation step of each file ({step_out + 2 * step_in:.3g})",
            )
    finally:
        g.close()
    rep = os.path.join(work, "biosemi_like_report")
    run([knip, "analyze", src, "--out", rep, "--pfm", "EXG1-EXG2"])
    sess = json.load(open(os.path.join(rep, "session.json")))
    der = sess["source"]["details"]["derivations"]
    check(
        len(der) == 1 and der[0]["plus"] == "EXG1" and der[0]["minus"] == "EXG2"
        and der[0]["unit"] == "uV" and sess["stream"]["channels"][0]["name"] == "EXG1-EXG2",
        f"derived bdf: session.json records the derivation {der}",
    )
    events = [e for e in read_events(rep) if e["kind"] == "contraction"]
    on = [round(float(e["onset_s"]), 2) for e in events]
    check(len(on) == 1 and abs(on[0] - 6.0) < 0.3, f"derived bdf: one contraction at 6 s: {on}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--knip", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    knip = os.path.abspath(a.knip)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    def analyze_events(path, args=()):
        rep = os.path.join(work, os.path.basename(path) + "_csv_report")
        run([knip, "analyze", path, "--out", rep] + list(args))
        return read_events(rep)

    cases = []
    # 1. Simulated mixed session: 2 kHz EMG x2 beside 100 Hz pressure.
    sim = os.path.join(work, "mixed.csv")
    run([knip, "simulate", "--protocol", "mixed", "--seed", "4", "--out", sim])
    cases.append(("mixed", sim, {"pfm_emg": 2000.0, "abd_emg": 2000.0, "pressure": 100.0},
                  {"pfm_emg": "uV", "abd_emg": "uV", "pressure": "cmH2O"}, [],
                  {"events": analyze_events(sim), "cues": 10}))
    # 2. Low rates: 250 Hz EMG, 50 Hz pressure; identification protocol.
    low = os.path.join(work, "identify_250.csv")
    run([knip, "simulate", "--protocol", "identify", "--seed", "2", "--out", low,
         "--emg-rate", "250", "--pressure-rate", "50", "--channels", "pfm_emg,pressure"])
    cases.append(("identify_250", low, {"pfm_emg": 250.0, "pressure": 50.0},
                  {"pfm_emg": "uV", "pressure": "cmH2O"}, [],
                  {"events": analyze_events(low), "cues": 10}))
    # 3. Lost samples: 0.2 s of rows cut out of a simulated recording, plus user markers.
    gap = os.path.join(work, "gap.csv")
    run([knip, "simulate", "--protocol", "identify", "--seed", "5", "--out", gap,
         "--channels", "pfm_emg,pressure"])
    with open(gap) as f:
        lines = f.readlines()
    cut_from, cut_to = 30.0, 30.2  # seconds; rows at 2 kHz
    kept = [l for l in lines if l.startswith("time_s") or not (cut_from <= float(l.split(",")[0]) < cut_to)]
    with open(gap, "w") as f:
        f.writelines(kept)
    markers = os.path.join(work, "markers.csv")
    with open(markers, "w") as f:
        f.write("time_s,text\n12.5,patient says: feels the squeeze\n40,probe adjusted\n")
    cases.append(("gap", gap, {"pfm_emg": 2000.0, "pressure": 100.0},
                  {"pfm_emg": "uV", "pressure": "cmH2O"}, ["--markers", markers],
                  {"events": analyze_events(gap), "gap": (cut_from, cut_to - cut_from),
                   "markers": 2}))
    # 4. A constant channel beside a varying one (someone else's CSV with rate in a comment).
    const = os.path.join(work, "constant.csv")
    with open(const, "w") as f:
        f.write("# rate_hz=1000\ntime_s,pfm_emg,pressure\n")
        for i in range(40000):
            t = i / 1000
            burst = 40.0 if 15 <= t < 20 else 0.0
            v = (3.0 + burst) * math.sin(i * 1.3) * (1 + 0.3 * math.sin(i * 0.77))
            f.write(f"{t:.3f},{v:.6f},19.5\n")
    cases.append(("constant", const, {"pfm_emg": 1000.0, "pressure": 1000.0},
                  {"pfm_emg": "uV", "pressure": "cmH2O"}, [],
                  {"events": analyze_events(const), "constant": "pressure"}))
    # 5. A real recording: emgGO tibialis anterior, 250 Hz, units as stored.
    real = os.path.join(ROOT, "data", "real", "emggo_tibialis", "normalized_emggo_tibialis.csv")
    if os.path.exists(real):
        cols = read_columns(real)
        label = list(cols)[0]
        cases.append(("emggo", real, {label: 250.0}, {label: "unknown"}, [],
                      {"events": analyze_events(real)}))

    # 6. A real RMS envelope at 34.81 Hz (TUM hand grasps): 100-s data records hold 3481 samples.
    tum = os.path.join(ROOT, "data", "real", "tum_rms_labelled", "normalized_tum_rms_P1.csv")
    if os.path.exists(tum):
        label = list(read_columns(tum))[0]
        args = ["--envelope", "--min-contraction-s", "0.2"]
        cases.append(("tum_p1", tum, {label: 34.81}, {label: "RMS"}, args,
                      {"events": analyze_events(tum, args),
                       "analyze_args": ["--min-contraction-s", "0.2"]}))

    for name, path, rates, units, extra, expect in cases:
        for fmt in ("edf", "bdf"):
            start = "2026-03-14T09:26:53Z" if fmt == "edf" else "2025-12-31T23:59:58.250Z"
            try:
                check_export(knip, work, name, path, fmt, start, extra, rates, units, expect)
            except Exception as e:  # a crash in one case is a failure, the others still run
                check(False, f"{name}.{fmt}: {e}")

    # Files written by other software (pyedflib) read by knip: EMG at 1 kHz in mV beside pressure
    # at 100 Hz in mmHg, four 3-s squeezes, an annotation; knip must find the four squeezes.
    for fmt, ftype in (("edf", pyedflib.FILETYPE_EDFPLUS), ("bdf", pyedflib.FILETYPE_BDFPLUS)):
        try:
            check_foreign(knip, work, fmt, ftype)
        except Exception as e:
            check(False, f"pyedflib-written {fmt}: {e}")

    # A bipolar derivation of single-ended electrodes in a BDF, against pyedflib's own difference.
    try:
        check_bdf_derivation(knip, work)
    except Exception as e:
        check(False, f"derived bdf: {e}")

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
