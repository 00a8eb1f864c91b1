#!/usr/bin/env python3
"""knip against the tools people use today, on the same recordings, in one run.

Two roles in one file:

* ``peers.py tool NAME INPUT OUT.csv`` runs one peer as its own process (so wall time and peak
  memory are of the whole process: interpreter start, imports, CSV read, processing, result
  written), and writes the detected bursts of each channel it processed.
* ``peers.py compare ...`` (called by ``run.sh``) times knip and every peer on every recording with
  ``/usr/bin/time``, scores them and writes the tables.

Peers and their configuration (documented in docs/performance.md):

* ``scipy``: our own idiomatic offline pipeline: 4th-order Butterworth band-pass 20–450 Hz (low
  corner kept at 0.45·fs below 1 kHz, as knip does) with ``sosfiltfilt``; 50 Hz ``iirnotch``
  (Q 30) with ``filtfilt``; 50 ms centred moving RMS; rest statistics (mean, SD of the envelope)
  from 0.5–5.5 s; hysteresis: on above mean + 3 SD, off below mean + 2 SD. Both channels.
* ``neurokit2``: ``nk.emg_process(x, sampling_rate=fs)`` with its defaults (100 Hz high-pass,
  linear envelope, ``emg_activation`` method "threshold"), pelvic channel only; bursts are the runs
  of its ``EMG_Activity`` column.
* ``biosppy``: ``biosppy.signals.emg.emg`` (100 Hz high-pass, ``find_onsets`` with its default
  whole-record threshold 1.2·mean + 2·SD of the 50 ms smoothed rectified signal). Both channels.
* ``hodges_bui``: BioSPPy's ``hodges_bui_onset_detector`` on that filtered signal, rest 0.5–5.5 s,
  window 50 ms, threshold 3 (SD). Both channels.

BioSPPy's detectors return threshold *crossings*; consecutive crossings are paired into bursts
(the recording is taken to start below threshold). Every peer's bursts then get the same
post-processing as knip's contraction rule: bursts less than 150 ms apart are merged, bursts
shorter than 0.45 s dropped. That helps the peers; F1 without it is reported too ("raw").
"""

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

MAX_ONSET_ERROR_S = 0.25  # the rule of src/evaluate.rs
MERGE_GAP_S = 0.15
MIN_BURST_S = 0.45
REST_S = (0.5, 5.5)
CONTRACTION_KINDS = ("squeeze", "quick_flick")


# ----------------------------------------------------------------------------------------------
# Reading a recording (knip's CSV layout: optional '#' metadata line, header time_s,<channels>)


def read_recording(path, max_s=None):
    import numpy as np
    import pandas as pd

    fs = None
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        first = f.readline()
        if first.startswith("#"):
            m = re.search(r"fs_hz~?=([0-9.]+)", first)
            if m:
                fs = float(m.group(1))
    df = pd.read_csv(path, comment="#")
    t = df["time_s"].to_numpy()
    if fs is None:
        fs = 1.0 / float(np.median(np.diff(t[: min(len(t), 10000)])))
    if max_s is not None:
        df = df[t < t[0] + max_s]
    channels = [c for c in df.columns if c != "time_s"]
    # The pelvic channel first: that is the one scored.
    channels.sort(key=lambda c: 0 if c == "pfm_emg" else 1)
    return fs, {c: df[c].to_numpy(dtype=float) for c in channels}


# ----------------------------------------------------------------------------------------------
# Bursts


def runs_of(mask):
    """(start, stop) index pairs of the True runs of a boolean array."""
    import numpy as np

    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    d = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(d[0::2].tolist(), d[1::2].tolist()))


def bursts_from_crossings(idx, above, shift=0):
    """Bursts from BioSPPy's threshold crossings. BioSPPy returns the samples next to each
    change of state, rising and falling mixed (a one-sample dip gives one index, not two), so the
    direction of each is read from its detection signal: `above[i]` for crossing `i + shift`."""
    n = len(above)
    out = []
    start = None
    for c in sorted(int(i) for i in idx):
        i = c - shift
        rising = 0 <= i + 1 < n and above[i + 1] and not (0 <= i < n and above[i])
        falling = 0 <= i - 1 < n and above[i - 1] and not (0 <= i < n and above[i])
        if rising and falling:
            continue  # a one-sample dip inside a burst
        if rising and start is None:
            start = c + 1
        elif falling and start is not None:
            out.append((start, c))
            start = None
    if start is not None:
        out.append((start, n - 1 + shift))
    return out


def post_process(bursts_s):
    merged = []
    for on, off in sorted(bursts_s):
        if merged and on - merged[-1][1] < MERGE_GAP_S:
            merged[-1][1] = max(merged[-1][1], off)
        else:
            merged.append([on, off])
    return [(a, b) for a, b in merged if b - a >= MIN_BURST_S]


# ----------------------------------------------------------------------------------------------
# The peers


def scipy_pipeline(x, fs):
    import numpy as np
    from scipy import signal

    lp = min(450.0, 0.45 * fs)
    sos = signal.butter(4, [20.0, lp], btype="bandpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(sos, x)
    if 50.0 < lp:
        b, a = signal.iirnotch(50.0, 30.0, fs=fs)
        y = signal.filtfilt(b, a, y)
    w = max(1, int(round(0.05 * fs)))
    c = np.concatenate(([0.0], np.cumsum(y * y)))
    half = w // 2
    lo = np.clip(np.arange(len(y)) - half, 0, len(y))
    hi = np.clip(lo + w, 0, len(y))
    env = np.sqrt(np.maximum(c[hi] - c[lo], 0.0) / np.maximum(hi - lo, 1))
    rest = env[int(REST_S[0] * fs) : int(REST_S[1] * fs)]
    mu, sd = float(np.mean(rest)), float(np.std(rest))
    on, off = mu + 3.0 * sd, mu + 2.0 * sd
    # Hysteresis, vectorised: state set to 1 above `on`, 0 below `off`, held in between.
    state = np.full(len(env), -1, dtype=np.int8)
    state[env > on] = 1
    state[env < off] = 0
    idx = np.where(state >= 0, np.arange(len(env)), 0)
    np.maximum.accumulate(idx, out=idx)
    active = state[idx] == 1
    return runs_of(active)


def neurokit2_process(x, fs):
    import neurokit2 as nk

    signals, _ = nk.emg_process(x, sampling_rate=fs)
    return runs_of(signals["EMG_Activity"].to_numpy() > 0)


def rest_slice(fs):
    return slice(int(REST_S[0] * fs), int(REST_S[1] * fs))


def biosppy_find_onsets(x, fs):
    import numpy as np
    from biosppy.signals import emg
    from biosppy.signals import tools as st

    filtered = emg.emg(signal=x, sampling_rate=fs, show=False)["filtered"]
    # The detection signal find_onsets builds (rectified, 50 ms 'boxzen' smoother), for the rest
    # threshold and the direction of each crossing.
    mv, _ = st.smoother(signal=np.abs(filtered), kernel="boxzen", size=int(0.05 * fs), mirror=True)
    rest = mv[rest_slice(fs)]
    threshold = float(np.mean(rest) + 3.0 * np.std(rest))
    (onsets,) = emg.find_onsets(signal=filtered, sampling_rate=fs, size=0.05, threshold=threshold)
    return bursts_from_crossings(onsets, mv > threshold)


def biosppy_hodges_bui(x, fs):
    import numpy as np
    from biosppy.signals import emg

    filtered = emg.emg(signal=x, sampling_rate=fs, show=False)["filtered"]
    size = max(1, int(0.1 * fs))
    # Hodges & Bui: rest mean and SD of the detection signal (rectified, moving average).
    rest = np.convolve(np.abs(filtered - np.mean(filtered))[rest_slice(fs)], np.ones(size) / size, "valid")
    threshold = 5.0
    onsets, tf = emg.hodges_bui_onset_detector(
        signal=filtered,
        rest={"mean": float(np.mean(rest)), "std_dev": float(np.std(rest))},
        sampling_rate=fs,
        size=size,
        threshold=threshold,
    )
    return bursts_from_crossings(onsets, tf >= threshold, shift=int(size / 2))


TOOLS = {
    "scipy": (scipy_pipeline, "all"),
    "neurokit2": (neurokit2_process, "pfm"),
    "biosppy": (biosppy_find_onsets, "all"),
    "hodges_bui": (biosppy_hodges_bui, "all"),
}


def run_tool(name, path, out_csv, max_s=None):
    fn, which = TOOLS[name]
    fs, chans = read_recording(path, max_s)
    names = list(chans)[:1] if which == "pfm" else list(chans)
    rows = []
    n = 0
    for ch in names:
        x = chans[ch]
        n += len(x)
        for s, e in fn(x, fs):
            rows.append((ch, s / fs, e / fs))
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["channel", "onset_s", "offset_s"])
        for ch, a, b in rows:
            w.writerow([ch, f"{a:.4f}", f"{b:.4f}"])
    with open(out_csv + ".meta.json", "w") as f:
        json.dump({"samples": n, "channels": names, "fs": fs}, f)


# ----------------------------------------------------------------------------------------------
# Scoring: the same rule as src/evaluate.rs (onset within 250 ms and overlapping, each matched
# at most once, nearest onset first). Symmetric, so it also serves tool against tool.


def match_f1(ref, det):
    matched = match_pairs(ref, det)
    tp = len(matched)
    fn, fp = len(ref) - tp, len(det) - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
    return f1, tp, fp, fn


def match_pairs(ref, det):
    """The matched (ref index, det index) pairs of match_f1's rule, nearest onset first."""
    pairs = []
    for i, (t0, t1) in enumerate(ref):
        for j, (d0, d1) in enumerate(det):
            err = abs(d0 - t0)
            if err <= MAX_ONSET_ERROR_S and t0 < d1 and d0 < t1:
                pairs.append((err, i, j))
    pairs.sort()
    ru, du = set(), set()
    out = []
    for _, i, j in pairs:
        if i in ru or j in du:
            continue
        ru.add(i)
        du.add(j)
        out.append((i, j))
    return out


def read_truth(path, max_s=None):
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["channel"] == "pfm_emg" and r["kind"] in CONTRACTION_KINDS:
                on = float(r["onset_s"])
                if max_s is None or on < max_s:
                    out.append((on, float(r["offset_s"])))
    return out


def read_bursts(path, channel):
    with open(path) as f:
        return [
            (float(r["onset_s"]), float(r["offset_s"]))
            for r in csv.DictReader(f)
            if r["channel"] == channel
        ]


# ----------------------------------------------------------------------------------------------
# The comparison


def timed(cmd, env, tfile):
    subprocess.run(
        ["/usr/bin/time", "-f", "%e %M %U %S", "-o", tfile] + cmd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall, kb, user, sys_ = open(tfile).read().split()[-4:]
    return float(wall), int(kb) / 1024.0, float(user) + float(sys_)


def machine():
    def sh(c):
        try:
            return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    import numpy
    import scipy

    try:
        from threadpoolctl import threadpool_info

        blas = "; ".join(
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
            for i in threadpool_info()
        )
    except Exception:  # noqa: BLE001 - informational only
        blas = "?"
    import importlib.metadata as md

    def ver(p):
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return "?"

    return {
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "cores": os.cpu_count(),
        "memory": sh("free -h | awk '/Mem:/{print $2}'"),
        "kernel": platform.release(),
        "rustc": sh("rustc --version"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": blas,
        "scipy": scipy.__version__,
        "pandas": ver("pandas"),
        "neurokit2": ver("neurokit2"),
        "biosppy": ver("biosppy"),
        "load (1, 5, 15 min; running/all tasks) when the table was written": sh("cat /proc/loadavg"),
    }


def compare(args):
    here = os.path.abspath(__file__)
    env = dict(os.environ)
    # A current numpy runs slower under these (set on some processors here); unset for the peers.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    work = args.work
    recs = [
        ("sim 10 min", os.path.join(work, "sim10.csv"), os.path.join(work, "sim10.truth.csv")),
        ("sim 60 min", os.path.join(work, "sim60.csv"), os.path.join(work, "sim60.truth.csv")),
    ]
    real = [
        ("emgGO tibialis 250 Hz", "emggo_tibialis/normalized_emggo_tibialis.csv"),
        ("BioSPPy emg 1 kHz", "biosppy_emg/normalized_biosppy_emg.csv"),
        ("BioSPPy emg_1 1 kHz", "biosppy_emg_1/normalized_biosppy_emg_1.csv"),
    ]
    for name, rel in real:
        recs.append((name, os.path.join(args.real, rel), None))
    tools = ["knip", "knip_notch", "scipy", "neurokit2", "biosppy", "hodges_bui"]
    tfile = os.path.join(work, "time.txt")
    results = []
    for rec_name, path, truth in recs:
        # The tools' runs interleaved (knip, knip --notch, scipy, the others; then again): the
        # machine's speed drifts over seconds, and each tool's best run then comes from the
        # same stretch of time as the others'. The slow peers run once (minutes each); knip
        # and the scipy pipeline `--repeat` times.
        runs = {}
        for tool in tools:
            if tool in args.skip:
                continue
            out = os.path.join(work, f"{tool}_{re.sub(r'[^a-z0-9]+', '_', rec_name.lower())}")
            max_s = None
            if tool == "neurokit2":
                if rec_name == "sim 60 min" and args.nk_60_span_s:
                    max_s = args.nk_60_span_s
            reps = args.repeat if tool in ("knip", "knip_notch", "scipy") else 1
            runs[tool] = {"out": out, "max_s": max_s, "reps": reps, "walls": [], "peaks": [], "cpus": []}
        for rep in range(max((r["reps"] for r in runs.values()), default=0)):
            for tool, r in runs.items():
                if rep >= r["reps"]:
                    continue
                out, max_s = r["out"], r["max_s"]
                if tool == "knip":
                    cmd = [args.knip, "analyze", path, "--out", out, "--force"]
                elif tool == "knip_notch":
                    cmd = [args.knip, "analyze", path, "--out", out, "--force", "--notch", "50"]
                else:
                    cmd = [sys.executable, here, "tool", tool, path, out + ".csv"]
                    if max_s:
                        cmd += ["--max-s", str(max_s)]
                w, p, cpu = timed(cmd, env, tfile)
                r["walls"].append(w)
                r["peaks"].append(p)
                r["cpus"].append(cpu)
                print(f"  {rec_name:24s} {tool:11s} {w:8.2f} s {cpu:8.2f} cpu-s {p:8.1f} MB", file=sys.stderr)
        for tool, r in runs.items():
            out, max_s, walls, peaks, cpus = r["out"], r["max_s"], r["walls"], r["peaks"], r["cpus"]
            if tool.startswith("knip"):
                det_file, samples = os.path.join(out, "contractions.csv"), None
                with open(os.path.join(out, "session.json")) as f:
                    sess = json.load(f)
                samples = sum(c.get("samples", 0) for c in sess.get("channels", []) if isinstance(c, dict))
                raw = None
            else:
                det_file = out + ".csv"
                with open(out + ".csv.meta.json") as f:
                    samples = json.load(f)["samples"]
                raw = read_bursts(det_file, first_channel(det_file))
            channel = first_channel(det_file)
            det = read_bursts(det_file, channel)
            if not tool.startswith("knip"):
                det = post_process(raw)
            results.append(
                {
                    "recording": rec_name,
                    "tool": tool,
                    "wall_s": min(walls),
                    "walls": walls,
                    "cpu_s": min(cpus),
                    "peak_mb": max(peaks),
                    "samples": samples,
                    "span_s": max_s,
                    "bursts": det,
                    "raw": raw,
                    "truth": truth,
                }
            )
    report(results, machine(), args)


def first_channel(det_file):
    with open(det_file) as f:
        for r in csv.DictReader(f):
            return r["channel"]
    return "pfm_emg"


LABEL = {
    "knip": "knip analyze",
    "knip_notch": "knip analyze --notch 50",
    "scipy": "scipy pipeline",
    "neurokit2": "NeuroKit2 emg_process",
    "biosppy": "BioSPPy emg + find_onsets",
    "hodges_bui": "BioSPPy Hodges–Bui",
}


def report(results, mach, args):
    lines = []
    lines.append(
        "| recording | tool | wall s | CPU s | samples | M samples/s | peak MB | detected | F1 vs truth | F1 raw |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f1 = f1raw = ""
        if r["truth"]:
            span = r["span_s"]
            truth = read_truth(r["truth"], span)
            f1, tp, fp, fn = match_f1(truth, r["bursts"])
            f1 = f"{f1:.3f} ({fp} FP, {fn} FN)"
            if r["raw"] is not None:
                f1raw = f"{match_f1(truth, r['raw'])[0]:.3f}"
        wall = f"{r['wall_s']:.2f}"
        if r["span_s"]:
            wall += f" (first {r['span_s'] / 60:.0f} min)"
        lines.append(
            f"| {r['recording']} | {LABEL[r['tool']]} | {wall} | {r['cpu_s']:.2f} | {r['samples']:,} | "
            f"{r['samples'] / r['wall_s'] / 1e6:.3f} | {r['peak_mb']:.1f} | {len(r['bursts'])} | {f1} | {f1raw} |"
        )
    table = "\n".join(lines)

    # Ratios on the 60-minute recording.
    by = {(r["recording"], r["tool"]): r for r in results}
    ratio_lines = []
    for rec in ("sim 10 min", "sim 60 min"):
        k = by.get((rec, "knip"))
        if not k:
            continue
        for tool in ("scipy", "neurokit2", "biosppy", "hodges_bui"):
            p = by.get((rec, tool))
            if not p:
                continue
            per_sample_k = k["wall_s"] / k["samples"]
            per_sample_p = p["wall_s"] / p["samples"]
            note = ""
            if p["span_s"]:
                note = f" (per sample; {LABEL[tool]} ran on the first {p['span_s'] / 60:.0f} min, 1 channel)"
            elif p["samples"] != k["samples"]:
                note = " (per sample: it processed one channel)"
            cpu_ratio = (p["cpu_s"] / p["samples"]) / (k["cpu_s"] / k["samples"])
            whole = ""
            if p["samples"] != k["samples"]:
                whole = f" ({p['wall_s'] / k['wall_s']:,.1f}× whole process against whole process)"
            ratio_lines.append(
                f"- {rec}: knip is {per_sample_p / per_sample_k:,.1f}× faster than {LABEL[tool]}{note}{whole}; "
                f"wall {k['wall_s']:.2f} s vs {p['wall_s']:.2f} s; CPU time (user + system) "
                f"{cpu_ratio:,.1f}× less"
            )
    # Pairwise agreement on real recordings.
    pair_lines = []
    tools = [t for t in ("knip", "scipy", "neurokit2", "biosppy", "hodges_bui") if t not in args.skip]
    for rec in sorted({r["recording"] for r in results if not r["truth"]}, key=str):
        pair_lines.append(f"\n**{rec}** — F1 of each pair (same matching rule), bursts detected on the diagonal\n")
        pair_lines.append("| | " + " | ".join(LABEL[t] for t in tools) + " |")
        pair_lines.append("|---" * (len(tools) + 1) + "|")
        for a in tools:
            cells = []
            for b in tools:
                ra, rb = by.get((rec, a)), by.get((rec, b))
                if not ra or not rb:
                    cells.append("")
                elif a == b:
                    cells.append(f"{len(ra['bursts'])}")
                else:
                    cells.append(f"{match_f1(ra['bursts'], rb['bursts'])[0]:.2f}")
            pair_lines.append(f"| {LABEL[a]} | " + " | ".join(cells) + " |")
    text = (
        "### Timing and agreement\n\n"
        + table
        + "\n\n### Ratios\n\n"
        + "\n".join(ratio_lines)
        + "\n\n### Agreement on the real recordings\n"
        + "\n".join(pair_lines)
        + "\n\n### Machine\n\n"
        + "\n".join(f"- {k}: {v}" for k, v in mach.items())
        + f"\n- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + f"\n- repeats: knip and the scipy pipeline best wall of {args.repeat} runs, interleaved with each other (knip, knip --notch, scipy, then again), the other peers one run; peak memory the largest\n"
    )
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(args.out + ".json", "w") as f:
            json.dump(
                [{k: v for k, v in r.items() if k not in ("bursts", "raw")} for r in results],
                f,
                indent=1,
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tool")
    t.add_argument("name", choices=sorted(TOOLS))
    t.add_argument("input")
    t.add_argument("out")
    t.add_argument("--max-s", type=float)
    c = sub.add_parser("compare")
    c.add_argument("--knip", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--real", required=True)
    c.add_argument("--repeat", type=int, default=3)
    c.add_argument("--nk-60-span-s", type=float, default=0.0,
                   help="NeuroKit2 on the 60-min file: only the first S seconds (0 = all)")
    c.add_argument("--skip", nargs="*", default=[])
    c.add_argument("--out")
    a = ap.parse_args()
    if a.cmd == "tool":
        run_tool(a.name, a.input, a.out, a.max_s)
    else:
        compare(a)


if __name__ == "__main__":
    main()
