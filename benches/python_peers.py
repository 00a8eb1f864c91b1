"""knip for Python against its peers, side by side in one run (not a test; by hand).

1. Per-call time on the same arrays: ``knip.analyze`` vs ``neurokit2.emg_process`` vs BioSPPy
   ``biosppy.signals.emg.emg``, on the first 1, 10 and 60 minutes of one simulated 2-kHz
   pelvic-floor EMG channel (``knip.simulate("long", 1)``). Best of ``--repeat`` calls (a single
   call where one takes longer than ``--once-over-s``); a peer whose call on 10 minutes took longer
   than ``--peer-budget-s`` is not run on 60 minutes (said in the table).
2. Batch throughput, recordings per second: ``knip batch --jobs 1`` and ``--jobs 2`` vs
   ``knip.dask.analyze_folder`` on a LocalCluster of 1 and 2 worker processes, on the same folder
   of ``--recordings`` simulated sessions (wall time including the cluster's start).

The machine is shared: the numbers are indicative. Run it in a venv holding the knip package,
neurokit2, biosppy and dask (see the commands in python/README.md or the report):

    python benches/python_peers.py --knip target/release/knip [--work DIR] [--repeat 3]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import knip
import knip.dask


def best_time(fn, repeat, once_over_s):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if times[-1] > once_over_s:
            break
    return min(times), len(times)


def per_call(args):
    sim = knip.simulate("long", 1, channels=["pfm_emg"])
    fs = sim.channels["pfm_emg"].rate_hz
    full = sim.channels["pfm_emg"].samples
    print(f"signal: simulated 'long' session, pfm_emg at {fs:.0f} Hz, {len(full) / fs / 60:.1f} min")
    import neurokit2 as nk
    from biosppy.signals import emg as bemg

    tools = {
        "knip.analyze": lambda x: knip.analyze(x, fs),
        "neurokit2.emg_process": lambda x: nk.emg_process(x, sampling_rate=int(fs)),
        "biosppy emg.emg": lambda x: bemg.emg(signal=x, sampling_rate=fs, show=False),
    }
    rows = []
    slow = set()
    for minutes in (1, 10, 60):
        x = np.ascontiguousarray(full[: int(minutes * 60 * fs)])
        for name, fn in tools.items():
            if name.startswith("neurokit2") and minutes > args.nk_max_min:
                rows.append((name, minutes, None, 0))
                continue
            if minutes == 60 and name in slow:
                rows.append((name, minutes, None, 0))
                continue
            t, n = best_time(lambda: fn(x), args.repeat, args.once_over_s)
            if minutes == 10 and t > args.peer_budget_s:
                slow.add(name)
            rows.append((name, minutes, t, n))
            print(f"  {name:24s} {minutes:3d} min: {t:8.3f} s (best of {n})", flush=True)
    return rows


def batch(args, work: Path):
    folder = work / "recordings"
    if not folder.exists():
        for i in range(args.recordings):
            subprocess.run(
                [args.knip, "simulate", "--protocol", ["identify", "strength", "mixed"][i % 3],
                 "--seed", str(i + 1), "--out", str(folder / f"rec{i:03}.csv")],
                check=True, capture_output=True,
            )
    n = len(list(folder.glob("*.csv"))) - len(list(folder.glob("*.truth.csv")))
    rows = []
    for jobs in (1, 2):
        out = work / f"batch{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([args.knip, "batch", str(folder), "--out", str(out), "--jobs", str(jobs)],
                       check=True, capture_output=True)
        wall = time.perf_counter() - t
        rows.append((f"knip batch --jobs {jobs}", wall, n / wall))
        print(f"  knip batch --jobs {jobs}: {wall:.2f} s, {n / wall:.1f} recordings/s", flush=True)
    for workers in (1, 2):
        out = work / f"dask{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        knip.dask.analyze_folder(folder, out, n_workers=workers)
        wall = time.perf_counter() - t
        rows.append((f"Dask helper, {workers} worker(s)", wall, n / wall))
        print(f"  Dask helper {workers} worker(s): {wall:.2f} s, {n / wall:.1f} recordings/s", flush=True)
    return n, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knip", required=True, help="the knip binary (release)")
    ap.add_argument("--work", help="working folder (default: a new temporary one)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--once-over-s", type=float, default=20.0)
    ap.add_argument("--peer-budget-s", type=float, default=60.0)
    ap.add_argument("--recordings", type=int, default=30)
    ap.add_argument("--nk-max-min", type=int, default=60, help="longest span NeuroKit2 is run on")
    ap.add_argument("--skip-per-call", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="knip-pypeers-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"working in {work}; {time.strftime('%H:%M UTC', time.gmtime())}; python {sys.version.split()[0]}")
    lines = []
    if not args.skip_per_call:
        rows = per_call(args)
        lines.append("| tool | 1 min | 10 min | 60 min |")
        lines.append("|---|---|---|---|")
        for name in dict.fromkeys(r[0] for r in rows):
            cells = []
            for m in (1, 10, 60):
                r = next(r for r in rows if r[0] == name and r[1] == m)
                cells.append("not run" if r[2] is None else f"{r[2]:.3f} s")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not args.skip_batch:
        n, rows = batch(args, work)
        lines.append("")
        lines.append(f"| batch of {n} recordings | wall s | recordings/s |")
        lines.append("|---|---|---|")
        for name, wall, rate in rows:
            lines.append(f"| {name} | {wall:.2f} | {rate:.1f} |")
    print("\n".join(lines))
    (work / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
