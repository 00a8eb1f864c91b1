#!/usr/bin/env python3
"""Onset timing on real EMG with onsets known by construction: knip against the peers.

No public recording here has labelled onsets, so test recordings are composed from the real
signals of each raw-EMG recording in data/real/ (emgGO tibialis 250 Hz, BioSPPy emg and emg_1
1 kHz), at the recording's own rate:

1. **Locate, offline (zero-phase).** 4th-order Butterworth band-pass 20 Hz–min(450, 0.45·fs)
   with ``sosfiltfilt``, then a centred 250 ms moving RMS. ``floor`` = its 10th percentile.
   *Activity* = runs where the envelope exceeds ``ACTIVE_RATIO × floor`` (per recording, below),
   runs closer than 0.3 s merged, runs shorter than 0.6 s dropped. *Activity cores* = each run
   trimmed by 0.2 s at both ends (well inside the burst; cores shorter than 0.3 s dropped).
   *Rest* = everything farther than ``MARGIN_S`` from any sample above ``QUIET_RATIO × floor``
   (a lower threshold, so burst tails and small twitches are kept out), spans of ≥ 1 s.
2. **Compose (seeded).** Continuous real rest: random pieces (1–3 s, random start) of the rest
   spans, each with its mean removed, joined by 20 ms equal-power crossfades. The first burst
   starts after ≥ 10 s of that rest; bursts last 1.5–4 s (true onset to true offset), rests
   between them 2–5 s. Each burst takes its activity from one real burst, chosen at random:
   pieces of that burst's core (random starts, mean removed, 20 ms equal-power crossfades) are
   *added on top of* the rest, with a raised-cosine fade-in of 0–150 ms starting at t0 and a
   raised-cosine fade-out of 0–150 ms starting at t1. Truth: onset t0, offset t1 + fall.
3. **Run** knip (``knip analyze FILE --out DIR``: ``contractions.csv`` and, for the decision
   time, the contraction rows of ``events.csv``) and the peers of peers.py (same configuration
   and the same post-processing of their bursts) on exactly the same files.
4. **Score** with peers.py's rule (onset within 250 ms and overlapping, each matched once,
   nearest onset first): F1, median |onset error|, median signed onset error (negative =
   early), offset error, and for knip the decision latency (``decided_at_s`` − true onset and
   − true offset).

Secondary ("agreement"): the original recordings with a reference onset per real burst from an
offline expert-style method: the zero-phase band-passed signal's centred 25 ms moving RMS,
rest mean and SD from the located rest spans; walking back from each activity run, the last
sample where that envelope is below rest mean + 3 SD before staying above it to the burst.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

# name, relative path, ACTIVE_RATIO, QUIET_RATIO, MARGIN_S: chosen once by looking at the
# zero-phase envelope of each recording (rest sits at 1.0–1.4 × floor in the BioSPPy files; emgGO's
# rest has periodic 3–5 × floor bumps, ~0.75 s apart, that are part of its real rest and kept).
SOURCES = [
    ("emggo_tibialis", "emggo_tibialis/normalized_emggo_tibialis.csv", 10.0, 7.0, 1.5),
    ("biosppy_emg", "biosppy_emg/normalized_biosppy_emg.csv", 1.7, 1.5, 1.5),
    ("biosppy_emg_1", "biosppy_emg_1/normalized_biosppy_emg_1.csv", 1.9, 1.6, 1.5),
]
ENV_S = 0.25
MERGE_S = 0.3
MIN_ACTIVE_S = 0.6
TRIM_S = 0.2
MIN_CORE_S = 0.3
MIN_REST_S = 1.0
XFADE_S = 0.02
LEAD_REST_S = 10.0
BURST_S = (1.5, 4.0)
GAP_S = (2.0, 5.0)
RISE_S = (0.0, 0.15)
PEER_TOOLS = ["neurokit2", "biosppy", "hodges_bui", "scipy"]
LABEL = {
    "knip": "knip analyze",
    "neurokit2": "NeuroKit2 emg_process",
    "biosppy": "BioSPPy find_onsets",
    "hodges_bui": "BioSPPy Hodges–Bui",
    "scipy": "scipy pipeline",
}


# ----------------------------------------------------------------------------------------------
# Locating rest and activity (offline, zero-phase)


def zero_phase_env(x, fs, win_s):
    from scipy import signal

    sos = signal.butter(4, [20.0, min(450.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(sos, x - np.median(x))
    w = max(1, int(round(win_s * fs)))
    return y, np.sqrt(np.convolve(y * y, np.ones(w) / w, "same"))


def locate(x, fs, active_ratio, quiet_ratio, margin_s):
    _, env = zero_phase_env(x, fs, ENV_S)
    floor = float(np.percentile(env, 10))
    runs = peers.runs_of(env > active_ratio * floor)
    merged = []
    for s, e in runs:
        if merged and s - merged[-1][1] < MERGE_S * fs:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    active = [(s, e) for s, e in merged if e - s >= MIN_ACTIVE_S * fs]
    trim = int(TRIM_S * fs)
    cores = [(s + trim, e - trim) for s, e in active if e - s - 2 * trim >= MIN_CORE_S * fs]
    busy = env > quiet_ratio * floor
    m = int(margin_s * fs)
    near = np.convolve(busy.astype(float), np.ones(2 * m + 1), "same") > 0
    # Keep clear of the recording's ends too (filter edges).
    near[:m] = True
    near[-m:] = True
    rest = [(s, e) for s, e in peers.runs_of(~near) if e - s >= MIN_REST_S * fs]
    return {"floor": floor, "active": active, "cores": cores, "rest": rest, "env": env}


# ----------------------------------------------------------------------------------------------
# Composing


def xfade_concat(pieces, n_x):
    """Concatenate 1-D pieces with an equal-power (sin/cos) crossfade of n_x samples."""
    out = pieces[0].copy()
    if n_x > 0:
        t = (np.arange(n_x) + 0.5) / n_x
        g_in, g_out = np.sin(0.5 * np.pi * t), np.cos(0.5 * np.pi * t)
    for p in pieces[1:]:
        if n_x > 0 and len(out) >= n_x and len(p) >= n_x:
            head = out[-n_x:] * g_out + p[:n_x] * g_in
            out = np.concatenate((out[:-n_x], head, p[n_x:]))
        else:
            out = np.concatenate((out, p))
    return out


def fill(x, spans, n, rng, fs, piece_s):
    """n samples from random pieces of `spans` of x (each mean-removed), crossfaded."""
    n_x = max(1, int(round(XFADE_S * fs)))
    lens = np.array([e - s for s, e in spans], dtype=float)
    pieces, total = [], 0
    while total < n + n_x:
        k = rng.choice(len(spans), p=lens / lens.sum())
        s, e = spans[k]
        want = int(rng.uniform(*piece_s) * fs)
        length = min(want, e - s)
        start = s + int(rng.integers(0, e - s - length + 1))
        p = x[start : start + length].astype(float)
        pieces.append(p - p.mean())
        total += length - n_x
    return xfade_concat(pieces, n_x)[:n]


def raised_cosine(n):
    if n <= 0:
        return np.ones(0)
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def compose(x, fs, loc, seed, n_bursts):
    rng = np.random.default_rng(seed)
    plan, t = [], LEAD_REST_S + rng.uniform(0.0, 1.0)
    for _ in range(n_bursts):
        dur = rng.uniform(*BURST_S)
        rise, fall = rng.uniform(*RISE_S), rng.uniform(*RISE_S)
        core = int(rng.integers(0, len(loc["cores"])))
        plan.append((t, dur, rise, fall, core))
        t += dur + rng.uniform(*GAP_S)
    n = int(np.ceil(t * fs))
    y = fill(x, loc["rest"], n, rng, fs, (1.0, 3.0))
    truth = []
    for t0, dur, rise, fall, core in plan:
        i0 = int(np.ceil(t0 * fs))  # on the sample grid: the truth is the first faded-in sample
        t0 = i0 / fs
        i_end = i0 + int(round(dur * fs))
        n_r, n_f = int(round(rise * fs)), int(round(fall * fs))
        i1 = i_end - n_f
        w = np.ones(i_end - i0)
        w[:n_r] = raised_cosine(n_r)
        if n_f:
            w[len(w) - n_f :] = raised_cosine(n_f)[::-1]
        act = fill(x, [loc["cores"][core]], i_end - i0, rng, fs, (0.3, 1.0))
        y[i0:i_end] += w * act
        truth.append(
            {"onset_s": t0, "offset_s": i_end / fs, "fade_out_s": i1 / fs, "rise_s": n_r / fs,
             "fall_s": n_f / fs, "core": core}
        )
    return y, truth


def write_recording(path, y, fs, column, source):
    with open(path, "w") as f:
        f.write(f"# source=onsets_from_{source} fs_hz={fs:g} units=as source kind=raw_emg\n")
        f.write(f"time_s,{column}\n")
        t = np.arange(len(y)) / fs
        np.savetxt(f, np.column_stack((t, y)), fmt=["%.6f", "%.4f"], delimiter=",")


def write_truth(path, truth):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(truth[0]))
        w.writeheader()
        for r in truth:
            w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})


# ----------------------------------------------------------------------------------------------
# Secondary: reference onsets on the real bursts (offline, expert-style)


def reference_onsets(x, fs, loc):
    _, env = zero_phase_env(x, fs, 0.025)
    rest = np.concatenate([env[s:e] for s, e in loc["rest"]])
    thr = float(rest.mean() + 3.0 * rest.std())
    out = []
    for s, e in loc["active"]:
        i = s
        while i > 0 and env[i - 1] >= thr:
            i -= 1
        out.append((i / fs, e / fs))
    return out


# ----------------------------------------------------------------------------------------------
# Running the tools


def run_knip(knip, path, out):
    subprocess.run([knip, "analyze", path, "--out", out, "--force"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    det_file = os.path.join(out, "contractions.csv")
    ch = peers.first_channel(det_file)
    det = peers.read_bursts(det_file, ch)
    decided = {}
    with open(os.path.join(out, "events.csv")) as f:
        rows = list(csv.DictReader(f))
    if rows and "decided_at_s" in rows[0]:
        for r in rows:
            if r["channel"] == ch and r["kind"] == "contraction":
                decided[round(float(r["onset_s"]), 3)] = float(r["decided_at_s"])
    return [(a, b, decided.get(round(a, 3))) for a, b in det]


def run_peer(tool, path):
    fn, _ = peers.TOOLS[tool]
    fs, chans = peers.read_recording(path)
    x = next(iter(chans.values()))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bursts = [(s / fs, e / fs) for s, e in fn(x, fs)]
    return [(a, b, None) for a, b in peers.post_process(bursts)]


# ----------------------------------------------------------------------------------------------
# Scoring and tables


def score(pairs_in):
    """pairs_in: list of (truth list, detections list, extra per truth) per file."""
    tp = fp = fn = 0
    on_err, off_err, lat_on, lat_off, rise = [], [], [], [], []
    for truth, det in pairs_in:
        ref = [(t["onset_s"], t["offset_s"]) for t in truth]
        d2 = [(a, b) for a, b, _ in det]
        m = peers.match_pairs(ref, d2)
        tp += len(m)
        fn += len(ref) - len(m)
        fp += len(d2) - len(m)
        for i, j in m:
            on_err.append(det[j][0] - ref[i][0])
            off_err.append(det[j][1] - ref[i][1])
            rise.append(truth[i].get("rise_s", float("nan")))
            if det[j][2] is not None:
                lat_on.append(det[j][2] - ref[i][0])
                lat_off.append(det[j][2] - ref[i][1])
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1, "on_err": on_err, "off_err": off_err,
            "lat_on": lat_on, "lat_off": lat_off, "rise": rise}


def med_ms(v, absolute=False):
    if not v:
        return ""
    a = np.abs(v) if absolute else np.asarray(v)
    return f"{1000 * float(np.median(a)):.0f}"


def p90_ms(v):
    return f"{1000 * float(np.percentile(np.abs(v), 90)):.0f}" if v else ""


COLUMNS = ["source", "tool", "true bursts", "TP", "FP", "FN", "F1", "median |onset err| ms",
           "median onset err ms", "P90 |onset err| ms", "median offset err ms",
           "median decided − true onset ms", "median decided − true offset ms"]


def row(source, tool, s, n_true):
    return [source, LABEL[tool], n_true, s["tp"], s["fp"], s["fn"], f"{s['f1']:.3f}",
            med_ms(s["on_err"], True), med_ms(s["on_err"]), p90_ms(s["on_err"]),
            med_ms(s["off_err"]), med_ms(s["lat_on"]), med_ms(s["lat_off"])]


def md_table(header, rows):
    def cell(c):
        return str(c).replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knip", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--real", required=True)
    ap.add_argument("--files", type=int, default=5, help="composed files per source recording")
    ap.add_argument("--bursts", type=int, default=12, help="bursts per composed file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--out", help="markdown table (default WORK/onsets.md; also .csv, _bursts.csv)")
    a = ap.parse_args()
    work = os.path.join(a.work, "onsets")
    os.makedirs(work, exist_ok=True)
    out_md = a.out or os.path.join(a.work, "onsets.md")
    tools = ["knip"] + [t for t in PEER_TOOLS if t not in a.skip]

    results = {}  # (source, tool) -> list of (truth, det)
    agree = {}  # (source, tool) -> [(ref, det)]
    locate_lines = []
    per_burst = []
    for si, (name, rel, act_r, quiet_r, margin) in enumerate(SOURCES):
        src_path = os.path.join(a.real, rel)
        fs, chans = peers.read_recording(src_path)
        column, x = next(iter(chans.items()))
        loc = locate(x, fs, act_r, quiet_r, margin)
        rest_s = sum(e - s for s, e in loc["rest"]) / fs
        core_s = [(e - s) / fs for s, e in loc["cores"]]
        locate_lines.append(
            f"- {name} ({fs:g} Hz, {len(x) / fs:.1f} s): floor {loc['floor']:.3g}; activity > {act_r:g}× floor: "
            f"{len(loc['active'])} runs, {len(loc['cores'])} cores (median {np.median(core_s):.2f} s, "
            f"{sum(core_s):.1f} s in all); rest (> {margin:g} s from anything > {quiet_r:g}× floor): "
            f"{len(loc['rest'])} spans, {rest_s:.1f} s"
        )
        with open(os.path.join(work, f"{name}.spans.json"), "w") as f:
            json.dump({"fs": fs, "floor": loc["floor"],
                       "active_s": [(s / fs, e / fs) for s, e in loc["active"]],
                       "cores_s": [(s / fs, e / fs) for s, e in loc["cores"]],
                       "rest_s": [(s / fs, e / fs) for s, e in loc["rest"]]}, f, indent=1)
        print(locate_lines[-1], file=sys.stderr)
        for k in range(a.files):
            seed = a.seed * 1000 + si * 100 + k
            y, truth = compose(x, fs, loc, seed, a.bursts)
            path = os.path.join(work, f"{name}_{k}.csv")
            write_recording(path, y, fs, column, name)
            write_truth(path[:-4] + ".truth.csv", truth)
            for tool in tools:
                if tool == "knip":
                    det = run_knip(a.knip, path, os.path.join(work, f"knip_{name}_{k}"))
                else:
                    det = run_peer(tool, path)
                results.setdefault((name, tool), []).append((truth, det))
                ref = [(t["onset_s"], t["offset_s"]) for t in truth]
                m = dict(peers.match_pairs(ref, [(d[0], d[1]) for d in det]))
                for i, t in enumerate(truth):
                    j = m.get(i)
                    per_burst.append({
                        "source": name, "file": k, "tool": tool, "true_onset_s": f"{t['onset_s']:.4f}",
                        "true_offset_s": f"{t['offset_s']:.4f}", "rise_ms": f"{1000 * t['rise_s']:.0f}",
                        "core": t["core"],
                        "onset_s": "" if j is None else f"{det[j][0]:.4f}",
                        "offset_s": "" if j is None else f"{det[j][1]:.4f}",
                        "onset_err_ms": "" if j is None else f"{1000 * (det[j][0] - t['onset_s']):.1f}",
                        "decided_at_s": "" if j is None or det[j][2] is None else f"{det[j][2]:.4f}",
                    })
            print(f"  {name} file {k}: " + ", ".join(
                f"{t} {len(results[(name, t)][-1][1])}" for t in tools) + f" (truth {len(truth)})", file=sys.stderr)
        # Secondary: the real recording as it is.
        ref = reference_onsets(x, fs, loc)
        for tool in tools:
            if tool == "knip":
                det = run_knip(a.knip, src_path, os.path.join(work, f"knip_real_{name}"))
            else:
                det = run_peer(tool, src_path)
            agree[(name, tool)] = [([{"onset_s": r0, "offset_s": r1} for r0, r1 in ref], det)]

    rows, all_rows, rise_rows = [], [], []
    for name, *_ in SOURCES:
        for tool in tools:
            r = results[(name, tool)]
            rows.append(row(name, tool, score(r), sum(len(t) for t, _ in r)))
    for tool in tools:
        r = [p for (n, t), v in results.items() if t == tool for p in v]
        s = score(r)
        all_rows.append(row("all three", tool, s, sum(len(t) for t, _ in r)))
        rise = np.asarray(s["rise"])
        err = np.asarray(s["on_err"])
        cells = [LABEL[tool]]
        for lo, hi in ((0.0, 0.05), (0.05, 0.10), (0.10, 0.151)):
            sel = err[(rise >= lo) & (rise < hi)]
            cells.append(f"{med_ms(list(sel))} ({len(sel)})")
        rise_rows.append(cells)
    # knip against each peer on the bursts both matched (the "same bursts" of the target).
    errs = {}
    for b in per_burst:
        if b["onset_err_ms"] != "":
            errs[(b["tool"], b["source"], b["file"], b["true_onset_s"])] = float(b["onset_err_ms"])
    paired_rows = []
    for tool in tools[1:]:
        for src in [n for n, *_ in SOURCES] + ["all three"]:
            common = [k[1:] for k in errs if k[0] == "knip" and (src == "all three" or k[1] == src)
                      and (tool,) + k[1:] in errs]
            kn = np.array([errs[("knip",) + c] for c in common])
            pe = np.array([errs[(tool,) + c] for c in common])
            f = (lambda v: f"{float(np.median(v)):.0f}") if common else (lambda v: "")
            paired_rows.append([src, LABEL[tool], len(common), f(np.abs(kn)), f(np.abs(pe)), f(kn), f(pe)])
    agree_rows = []
    for name, *_ in SOURCES:
        for tool in tools:
            s = score(agree[(name, tool)])
            agree_rows.append([name, LABEL[tool], s["tp"] + s["fn"], s["tp"] + s["fp"], f"{s['f1']:.2f}",
                               med_ms(s["on_err"], True), med_ms(s["on_err"])])

    def git(*args):
        r = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(a.knip))] + list(args),
                           capture_output=True, text=True)
        return r.stdout.strip()

    dirty = " (src/ with uncommitted changes)" if git("status", "--porcelain", "--", "../../src") else ""
    build = f"knip {git('rev-parse', '--short', 'HEAD')}{dirty}, binary {a.knip}"
    text = (
        f"### Onset timing on real EMG, onsets known by construction ({a.files} files × {a.bursts} bursts "
        f"per source, seed {a.seed})\n\n"
        + f"{build}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        + md_table(COLUMNS, rows + all_rows)
        + "\n\nOnset error = detected − true onset (negative = early). Decided = knip's `decided_at_s` "
        "(events.csv) for the matched contraction: when knip decided the whole event.\n\n"
        "#### knip against each peer on the same bursts (true bursts both matched; ms)\n\n"
        + md_table(["source", "peer", "bursts", "knip median |onset err|", "peer median |onset err|",
                    "knip median onset err", "peer median onset err"], paired_rows)
        + "\n\n#### Median signed onset error (ms) by rise time of the fade-in, all sources (matched bursts)\n\n"
        + md_table(["tool", "rise 0–50 ms", "rise 50–100 ms", "rise 100–150 ms"], rise_rows)
        + "\n\n#### Secondary: agreement with an offline reference onset on the recordings' own bursts\n\n"
        + md_table(["source", "tool", "reference bursts", "detected", "F1", "median |onset diff| ms",
                    "median onset diff ms"], agree_rows)
        + "\n\n#### Rest and activity located in each recording\n\n"
        + "\n".join(locate_lines)
        + "\n"
    )
    print(text)
    with open(out_md, "w") as f:
        f.write(text)
    with open(out_md[:-3] + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows + all_rows)
    with open(out_md[:-3] + "_bursts.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(per_burst[0]))
        w.writeheader()
        w.writerows(per_burst)
    print(f"written {out_md}, {out_md[:-3]}.csv, {out_md[:-3]}_bursts.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
