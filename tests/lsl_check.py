#!/usr/bin/env python3
"""knip's Lab Streaming Layer outlet (`--lsl`, built with `--features lsl`) read by an
independent inlet: pylsl, whose wheel bundles liblsl.

1. A simulated recording (EMG 1000 Hz, pressure 100 Hz) is replayed with `knip replay --lsl` at
   4x: the EMG and Pressure streams must carry the right channel count, rate, labels, units and
   types, every received sample must equal the recording's row at the index its time stamp says
   (time stamps from the device clock: exactly 1/rate apart), and the Markers stream must carry
   the onsets and contractions knip found (as many contractions as its contractions.csv).
2. A simulated guided session (`knip session --simulate --lsl`) must publish cues and verdicts:
   the last verdict marker of each rep is the verdict in knip's reps.csv.

Run: python tests/lsl_check.py --knip target/debug/knip --work target/lsl-check
Prints 'N passed, N failed' and exits non-zero on any failure.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pylsl

checks = []


def check(name, ok, detail=""):
    checks.append(ok)
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else f": {detail}"), flush=True)


def desc_channels(info):
    ch = info.desc().child("channels").child("channel")
    out = []
    while not ch.empty():
        out.append(
            (ch.child_value("label"), ch.child_value("unit"), ch.child_value("type"))
        )
        ch = ch.next_sibling()
    return out


def run_with_inlets(cmd, types, timeout_s=120):
    """Start knip, resolve its streams by type, pull everything until it exits."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inlets = {}
    deadline = time.time() + 20
    while len(inlets) < len(types) and time.time() < deadline and proc.poll() is None:
        for t in types:
            if t in inlets:
                continue
            found = [
                s for s in pylsl.resolve_byprop("type", t, timeout=0.5) if s.name().startswith("knip")
            ]
            if found:
                inlet = pylsl.StreamInlet(found[0], max_buflen=600)
                inlet.open_stream(timeout=5)
                inlets[t] = inlet
    data = {t: ([], []) for t in inlets}
    infos = {t: inlets[t].info(timeout=5) for t in inlets}
    end = time.time() + timeout_s
    quiet_since = None
    while time.time() < end:
        running = proc.poll() is None
        got = 0
        for t, inlet in inlets.items():
            try:
                samples, stamps = inlet.pull_chunk(timeout=0.05, max_samples=10000)
            except pylsl.util.LostError:
                continue
            data[t][0].extend(samples)
            data[t][1].extend(stamps)
            got += len(samples)
        if running or got:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            break
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err, infos, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--knip", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    knip = os.path.abspath(a.knip)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    print("pylsl", pylsl.__version__, "liblsl", pylsl.library_version(), flush=True)

    # 1. Replay of a recording.
    rec = os.path.join(work, "sim.csv")
    subprocess.run(
        [knip, "simulate", "--protocol", "identify", "--seed", "3", "--emg-rate", "1000",
         "--pressure-rate", "100", "--out", rec],
        check=True, stdout=subprocess.DEVNULL,
    )
    with open(rec, newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    header, rows = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    emg_rows = [(float(r[col["pfm_emg"]]), float(r[col["abd_emg"]])) for r in rows if r[col["pfm_emg"]] != ""]
    p_rows = [float(r[col["pressure"]]) for r in rows if r[col["pressure"]] != ""]
    out_dir = os.path.join(work, "replay")
    code, out, err, infos, data = run_with_inlets(
        [knip, "replay", rec, "--lsl", "--speed", "4", "--plain", "--out", out_dir],
        ["EMG", "Pressure", "Markers"],
    )
    check("knip replay --lsl exits 0", code == 0, err[-2000:])
    check("three streams resolved", set(infos) == {"EMG", "Pressure", "Markers"}, str(list(infos)))
    if set(infos) != {"EMG", "Pressure", "Markers"}:
        return finish()
    e, p, m = infos["EMG"], infos["Pressure"], infos["Markers"]
    check("EMG: 2 channels at 1000 Hz", e.channel_count() == 2 and e.nominal_srate() == 1000, f"{e.channel_count()} {e.nominal_srate()}")
    check(
        "EMG: labels, units, types",
        desc_channels(e) == [("pfm_emg", "uV", "pfm_emg"), ("abd_emg", "uV", "abd_emg")],
        str(desc_channels(e)),
    )
    check("Pressure: 1 channel at 100 Hz, cmH2O", p.channel_count() == 1 and p.nominal_srate() == 100
          and desc_channels(p) == [("pressure", "cmH2O", "pressure")], str(desc_channels(p)))
    check("Markers: 1 string channel, irregular", m.channel_count() == 1 and m.nominal_srate() == 0
          and m.channel_format() == pylsl.cf_string, f"{m.channel_format()}")

    for name, rate, ref in [("EMG", 1000.0, emg_rows), ("Pressure", 100.0, [(v,) for v in p_rows])]:
        samples, stamps = data[name]
        check(f"{name}: most samples received ({len(samples)} of {len(ref)})",
              len(samples) >= 0.8 * len(ref), "")
        if not samples:
            continue
        # Where the inlet came in: the first received sample's row in the recording.
        first = tuple(samples[0])
        k0 = next((k for k, r in enumerate(ref) if r == first and (len(samples) < 2 or k + 1 < len(ref) and ref[k + 1] == tuple(samples[1]))), None)
        check(f"{name}: first received sample found in the recording", k0 is not None, str(first))
        if k0 is None:
            continue
        bad = 0
        worst_dt = 0.0
        for s, t in zip(samples, stamps):
            k = k0 + round((t - stamps[0]) * rate)
            worst_dt = max(worst_dt, abs((t - stamps[0]) * rate - round((t - stamps[0]) * rate)))
            if k >= len(ref) or tuple(s) != ref[k]:
                bad += 1
        check(f"{name}: every sample equals the recording at its time stamp's index", bad == 0, f"{bad} differ")
        check(f"{name}: time stamps on the device clock (1/rate apart)", worst_dt < 1e-3, f"{worst_dt}")
        check(f"{name}: the last row arrived", k0 + round((stamps[-1] - stamps[0]) * rate) == len(ref) - 1,
              f"{k0} + {round((stamps[-1] - stamps[0]) * rate)} vs {len(ref) - 1}")

    markers = [s[0] for s in data["Markers"][0]]
    with open(os.path.join(out_dir, "contractions.csv"), newline="") as f:
        found = list(csv.DictReader(f))
    n_pfm = sum(1 for r in found if r.get("channel", r.get("role", "")) == "pfm_emg")
    got = sum(1 for x in markers if x.startswith("contraction pfm_emg"))
    check(f"Markers: one per contraction knip found ({got} vs {n_pfm})", got == n_pfm and got > 0, str(markers[:10]))
    check("Markers: onsets and offsets", any(x.startswith("onset pfm_emg") for x in markers)
          and any(x.startswith("offset pfm_emg") for x in markers), str(markers[:10]))

    # 2. A guided session: cues and verdicts.
    out_dir = os.path.join(work, "session")
    code, out, err, infos, data = run_with_inlets(
        [knip, "session", "--simulate", "--protocol", "identify", "--seed", "2", "--speed", "4",
         "--lsl", "--plain", "--out", out_dir],
        ["EMG", "Markers"],
    )
    check("knip session --simulate --lsl exits 0", code == 0, err[-2000:])
    markers = [s[0] for s in data.get("Markers", ([], []))[0]]
    cues = [x for x in markers if x.startswith("cue ")]
    verdicts = [x for x in markers if x.startswith("verdict ")]
    check(f"session: cues published ({len(cues)})", len(cues) >= 5, str(markers[:10]))
    with open(os.path.join(out_dir, "reps.csv"), newline="") as f:
        reps = {(r["phase"], r["rep"]): r["verdict"] for r in csv.DictReader(f) if r["verdict"]}
    # A rep can be scored again with more evidence: its last verdict marker is the final one.
    last = {}
    for v in verdicts:
        head, verdict = v[len("verdict "):].rsplit(": ", 1)
        phase, rep = head.rsplit(" rep ", 1)
        last[(phase, rep)] = verdict
    check(f"session: the last verdict marker of each rep is its verdict in reps.csv ({len(reps)} reps)",
          len(reps) > 0 and last == reps, f"{sorted(last.items())[:5]} vs {sorted(reps.items())[:5]}")
    return finish()


def finish():
    passed = sum(1 for c in checks if c)
    failed = len(checks) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
