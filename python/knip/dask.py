"""Thousands of recordings on a Dask cluster: :func:`analyze_folder`.

Each recording is analysed by :func:`knip.analyze` on its file (the same Rust code as
``knip analyze`` / ``knip batch``) in a Dask bag task. Each task writes its recording's
contractions into a Parquet dataset partitioned by recording (Hive layout,
``contractions.parquet/recording=NAME/part-0.parquet``), so the rows never pass through the
client; the per-recording summaries (the ``batch.csv`` fields) come back to the client and are
written as ``summaries.parquet``. Both are readable by pandas, pyarrow, DuckDB and Spark.

Locally (``scheduler=None``) a ``LocalCluster`` of ``n_workers`` single-threaded worker
processes is started and closed; with ``scheduler="tcp://host:8786"`` the cluster at that address
is used (every worker needs ``pip install ./python`` and the files at the same path, e.g. a
shared file system).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import pandas as pd

import knip

#: Columns of ``summaries.parquet``: ``batch.csv``'s from ``file`` to ``warnings``, then the
#: report name (``recording``, the partition key of ``contractions.parquet``).
SUMMARY_COLUMNS = list(knip._knip.BATCH_COLUMNS[:18]) + ["recording"]


def _contraction_schema():
    """One schema for every partition (a recording without co-activation data has an all-empty
    ``abd_flag``, which would otherwise be typed ``null`` and clash with the others)."""
    import pyarrow as pa

    text = {"channel", "unit", "abd_flag"}
    return pa.schema(
        [
            (c, pa.int64() if c == "n" else pa.string() if c in text else pa.float64())
            for c in knip.CONTRACTION_COLUMNS
        ]
    )


def _recordings(paths_or_folder: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], out_dir: Path):
    """(path, relative name for the ``file`` column, report name), as ``knip batch`` names them."""
    if isinstance(paths_or_folder, (str, os.PathLike)):
        folder = Path(paths_or_folder)
        files, warnings = knip._knip.find_recordings(str(folder), str(out_dir))
        files = [Path(f) for f in files]
        relative = [f.relative_to(folder) for f in files]
    else:
        files = [Path(p) for p in paths_or_folder]
        relative = [Path(f.name) for f in files]
        warnings = []
    names = knip._knip.report_names([str(r) for r in relative])
    return [(str(f), str(r), n) for f, r, n in zip(files, relative, names)], warnings


def _one(task, contractions_dir: str, read_options: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
    """Analyse one recording; write its contractions partition; return its summary row."""
    path, rel, name = task
    row: Dict[str, Any] = {c: None for c in SUMMARY_COLUMNS}
    row.update(file=rel, recording=name, warnings=0, reason="")
    try:
        r = knip.analyze(path, **read_options, **settings)
    except knip.KnipError as e:
        row.update(status="error", reason=str(e), warnings=None)
        return row
    s = r.summary
    for c in SUMMARY_COLUMNS[1:17]:
        row[c] = s.get(c)
    row["warnings"] = s["warnings"]
    part = Path(contractions_dir) / ("recording=" + urllib.parse.quote(name, safe=""))
    part.mkdir(parents=True, exist_ok=True)
    tmp = part / "part-0.parquet.tmp"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(r.contractions, schema=_contraction_schema(), preserve_index=False), tmp)
    os.replace(tmp, part / "part-0.parquet")
    return row


def analyze_folder(
    paths_or_folder: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    out_dir: Union[str, os.PathLike],
    scheduler: Optional[str] = None,
    n_workers: int = 2,
    *,
    processes: bool = True,
    partitions: Optional[int] = None,
    read_options: Optional[Dict[str, Any]] = None,
    **settings: Optional[float],
) -> Dict[str, Any]:
    """Analyse every recording of a folder (found as ``knip batch`` finds them: ``.csv``,
    ``.edf``, ``.bdf``, recursively) or of a list of files on a Dask cluster.

    Writes into ``out_dir``:

    - ``contractions.parquet/`` -- every contraction (the columns of ``contractions.csv``),
      partitioned by ``recording`` (``knip batch``'s report folder name);
    - ``summaries.parquet`` -- one row per recording: ``batch.csv``'s columns from ``file`` to
      ``warnings`` (``status`` ``error`` with the ``reason`` for a file that cannot be analysed;
      the others go on) and ``recording``.

    Args:
        scheduler: ``None`` starts a ``LocalCluster`` of ``n_workers`` processes (one thread
            each; ``processes=False`` for threads); an address (``tcp://host:8786``) uses that
            cluster.
        partitions: Dask bag partitions (default: 4 per worker, at most one per file).
        read_options: the CLI's column options for files without a sidecar (``rate``, ``pfm``,
            ``abd``, ``pressure``, ``envelope``).
        **settings: analysis settings, as for :func:`knip.analyze`.

    Returns:
        ``{"contractions": path, "summaries": path, "recordings": n, "failed": n,
        "warnings": [...]}``.
    """
    import dask.bag as db
    from dask.distributed import Client, LocalCluster

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contractions_dir = out / "contractions.parquet"
    summaries_path = out / "summaries.parquet"
    if contractions_dir.exists() and any(contractions_dir.iterdir()):
        raise knip.OutputError(
            f"{contractions_dir}: already holds results; choose another out_dir or remove it"
        )
    tasks, warnings = _recordings(paths_or_folder, out)
    read_options = dict(read_options or {})
    settings = dict(settings)
    # A bad setting is named before any cluster is started.
    knip._knip.Stream([("check", "pfm_emg", "uV", 1000.0, False)], 0.0, settings)

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        if tasks:
            workers = max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
            nparts = partitions or min(len(tasks), 4 * workers)
            bag = db.from_sequence(tasks, npartitions=nparts)
            rows: List[Dict[str, Any]] = bag.map(
                _one, str(contractions_dir), read_options, settings
            ).compute()
        else:
            rows = []
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    contractions_dir.mkdir(exist_ok=True)
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = {"file", "status", "reason", "channel", "unit", "recording"}
    counts = {"contractions", "holds_2s", "holds_5s", "coactivated", "coughs", "strains", "artifacts", "warnings"}
    schema = pa.schema(
        [
            (c, pa.string() if c in text else pa.int64() if c in counts else pa.float64())
            for c in SUMMARY_COLUMNS
        ]
    )
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), summaries_path)
    return {
        "contractions": str(contractions_dir),
        "summaries": str(summaries_path),
        "recordings": len(rows),
        "failed": int((table["status"] == "error").sum()),
        "warnings": warnings,
    }


def analyze_partition(frames, read_options: Optional[Dict[str, Any]] = None, **settings):
    """For Spark's ``mapInPandas`` (see python/README.md): an iterator of pandas DataFrames with
    a ``path`` column in, an iterator of contractions DataFrames (with ``path``) out."""
    for pdf in frames:
        out = []
        for path in pdf["path"]:
            try:
                r = knip.analyze(path, **(read_options or {}), **settings)
            except knip.KnipError:
                continue
            c = r.contractions.copy()
            c.insert(0, "path", path)
            out.append(c)
        if out:
            yield pd.concat(out, ignore_index=True)
