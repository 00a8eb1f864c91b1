"""The Dask helper on a LocalCluster of 2 worker processes over 50 simulated recordings gives
the rows of `knip batch` on the same folder: summaries = batch.csv, contractions = the
report folders' contractions.csv."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import knip
import knip.dask
from conftest import run_cli

N_RECORDINGS = 50


def make_folder(knip_bin: str, folder: Path) -> None:
    protocols = ["identify", "strength", "mixed"]
    for i in range(N_RECORDINGS):
        sub = folder / ("a" if i % 2 else "b")
        p = run_cli(
            knip_bin, "simulate", "--protocol", protocols[i % 3], "--seed", str(i + 1),
            "--emg-rate", "1000", "--channels", "pfm_emg,abd_emg",
            "--out", str(sub / f"rec{i:02}.csv"),
        )
        assert p.returncode == 0, p.stderr
    # A file that cannot be analysed: an error row in both, the batch goes on.
    (folder / "broken.csv").write_text("time_s,pfm_emg\n0.000,1\n0.001,x\n")


def same_value(a, b) -> bool:
    na = a is None or (isinstance(a, float) and math.isnan(a)) or a == ""
    nb = b is None or (isinstance(b, float) and math.isnan(b)) or b == ""
    if na or nb:
        return na and nb
    if isinstance(a, (int, float, np.integer, np.floating)) and not isinstance(a, bool):
        return float(a) == float(b)
    return str(a) == str(b)


def test_dask_helper_gives_the_rows_of_knip_batch(knip_bin, tmp_path):
    folder = tmp_path / "recordings"
    make_folder(knip_bin, folder)
    batch_out = tmp_path / "batch"
    p = run_cli(knip_bin, "batch", str(folder), "--out", str(batch_out), "--jobs", "2")
    assert p.returncode in (0, 2), p.stderr
    batch = pd.read_csv(batch_out / "batch.csv", float_precision="round_trip", dtype={"reason": str})
    assert len(batch) == N_RECORDINGS + 1

    out = tmp_path / "dask"
    res = knip.dask.analyze_folder(folder, out, n_workers=2)
    assert res["recordings"] == N_RECORDINGS + 1 and res["failed"] == 1

    summaries = pd.read_parquet(res["summaries"])
    assert len(summaries) == len(batch)
    summaries = summaries.set_index("file")
    columns = list(batch.columns[: batch.columns.get_loc("warnings") + 1])
    for _, row in batch.iterrows():
        mine = summaries.loc[row["file"]]
        for c in columns[1:]:
            assert same_value(mine[c], row[c]), (row["file"], c, mine[c], row[c])
        if row["status"] == "ok":
            assert mine["recording"] == Path(row["report_dir"]).name

    # Every contraction of every report folder, partitioned by recording.
    want = []
    for _, row in batch[batch["status"] == "ok"].iterrows():
        c = pd.read_csv(Path(row["report_dir"]) / "contractions.csv", float_precision="round_trip")
        c.insert(0, "recording", Path(row["report_dir"]).name)
        want.append(c)
    want = pd.concat(want, ignore_index=True)
    got = pd.read_parquet(res["contractions"])
    got["recording"] = got["recording"].astype(str)
    assert sorted(got.columns) == sorted(want.columns)
    key = ["recording", "n"]
    got = got[list(want.columns)].sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > N_RECORDINGS
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_categorical=False)
    # One partition folder per analysed recording, readable by pyarrow as a dataset.
    parts = sorted(d.name for d in Path(res["contractions"]).iterdir())
    assert len(parts) == N_RECORDINGS
    assert pq.read_table(res["contractions"]).num_rows == len(want)

    # Results are there already: refused, nothing overwritten.
    try:
        knip.dask.analyze_folder(folder, out, n_workers=1)
    except knip.OutputError as e:
        assert "already holds results" in str(e)
    else:
        raise AssertionError("a second run into the same folder was not refused")


def test_list_of_files_on_threads(knip_bin, tmp_path):
    folder = tmp_path / "few"
    for i in range(3):
        p = run_cli(knip_bin, "simulate", "--protocol", "identify", "--seed", str(i + 1),
                    "--emg-rate", "1000", "--channels", "pfm_emg", "--out", str(folder / f"s{i}.csv"))
        assert p.returncode == 0, p.stderr
    files = sorted(f for f in folder.glob("s*.csv") if not f.name.endswith(".truth.csv"))
    res = knip.dask.analyze_folder(files, tmp_path / "o", n_workers=2, processes=False, onset_k=4.0)
    s = pd.read_parquet(res["summaries"])
    assert list(s["file"]) == [f.name for f in files]
    for f, (_, row) in zip(files, s.iterrows()):
        r = knip.analyze(f, onset_k=4.0)
        assert row["contractions"] == r.summary["contractions"]
