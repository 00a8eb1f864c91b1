"""knip for Python: pelvic-floor EMG / pressure analysis from the knip Rust library.

Every stage (filters, envelopes, the causal contraction detector, scoring) runs in the same Rust
crate as the ``knip`` command line; this package converts arrays and builds pandas tables.

- :func:`analyze` -- arrays (one channel, or a dict of channels with their own rates), a
  :class:`Recording` from :func:`read`, or a file path -> :class:`Result` with ``.contractions``
  and ``.events`` (the columns of ``contractions.csv`` / ``events.csv``), ``.summary``, ``.settings``.
- :func:`read` -- any file the command line reads (CSV dialects, EDF/BDF, knip recordings).
- :class:`Stream` -- live use: ``push(block)`` returns the events decided in that block.
- :func:`simulate` -- a simulated session and its ground truth.
- Errors are :class:`KnipError` subclasses whose message is the command line's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _knip
from ._knip import (
    InputError,
    KnipError,
    OutputError,
    SettingsError,
    SimulationError,
)

__all__ = [
    "analyze",
    "read",
    "simulate",
    "Stream",
    "Result",
    "Recording",
    "Channel",
    "Simulation",
    "settings_help",
    "KnipError",
    "InputError",
    "OutputError",
    "SimulationError",
    "SettingsError",
    "ROLES",
    "CONTRACTION_COLUMNS",
    "EVENT_COLUMNS",
]

__version__ = "0.1.0"

#: What a channel measures: pelvic-floor EMG (uV), abdominal EMG (uV), probe pressure (cmH2O).
ROLES = ("pfm_emg", "abd_emg", "pressure")
#: Columns of ``contractions.csv`` and of :attr:`Result.contractions`.
CONTRACTION_COLUMNS: Tuple[str, ...] = tuple(_knip.CONTRACTION_COLUMNS)
#: Columns of ``events.csv`` and of :attr:`Result.events` / :meth:`Stream.push`.
EVENT_COLUMNS: Tuple[str, ...] = tuple(_knip.EVENT_COLUMNS)
_TEXT_COLUMNS = {"channel", "unit", "abd_flag", "kind"}
_DEFAULT_UNIT = {"pfm_emg": "uV", "abd_emg": "uV", "pressure": "cmH2O"}

PathLike = Union[str, "os.PathLike[str]"]


def _settings_doc() -> str:
    lines = []
    for name, help_, default, range_, cli in _knip.settings_doc():
        lines.append(
            f"    {name} (default {default}, range {range_}){' [CLI --' + name.replace('_', '-') + ']' if cli else ''}\n"
            f"        {help_}"
        )
    return "\n".join(lines)


def settings_help() -> str:
    """Every analysis setting (keyword argument of :func:`analyze` and :class:`Stream`) with
    its default, plausible range and meaning; defaults come from the Rust crate."""
    return _settings_doc()


def _table(columns: Sequence[str], rows: List[List[str]]) -> pd.DataFrame:
    """A report table: text columns as str (empty -> NaN, as ``pandas.read_csv`` gives),
    the others as float (int for ``n``)."""
    key = tuple(columns)
    if not rows and key in _EMPTY:
        # Most pushes of a Stream decide nothing: an empty table without building it again.
        return _EMPTY[key].copy()
    cols = list(zip(*rows)) if rows else [()] * len(columns)
    data: Dict[str, np.ndarray] = {}
    for c, values in zip(columns, cols):
        if c in _TEXT_COLUMNS:
            data[c] = np.array([v if v != "" else np.nan for v in values], dtype=object)
        elif c == "n":
            data[c] = np.array([int(v) for v in values], dtype=np.int64)
        else:
            data[c] = np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)
    frame = pd.DataFrame(data, columns=list(columns))
    if not rows:
        _EMPTY[key] = frame.copy()
    return frame


_EMPTY: Dict[Tuple[str, ...], pd.DataFrame] = {}


def _batch_summary(columns: Sequence[str], fields: List[str], warnings: int) -> Dict[str, Any]:
    """The ``batch.csv`` fields from ``status`` to ``artifacts`` as a dict, numbers as numbers."""
    out: Dict[str, Any] = {}
    for name, value in zip(columns[1:], fields):
        if name in ("status", "reason", "channel", "unit"):
            out[name] = value
        elif value == "":
            out[name] = None
        elif name in ("contractions", "holds_2s", "holds_5s", "coactivated", "coughs", "strains", "artifacts"):
            out[name] = int(value)
        else:
            out[name] = float(value)
    out["warnings"] = warnings
    return out


@dataclass
class Result:
    """What :func:`analyze` found.

    Attributes:
        contractions: one row per contraction, the columns of ``contractions.csv``.
        events: every decided event (contractions, coughs, artifacts, ...), ``events.csv``.
        summary: the recording's ``batch.csv`` fields (status, duration_s, channel,
            contractions, holds_2s, holds_5s, mean_hold_s, longest_hold_s, mean_peak, unit,
            rest_level, coactivated, coughs, strains, artifacts, warnings) and the headline.
        summary_table: the rows of ``summary.csv`` (channel, metric, value, unit).
        settings: every setting the analysis used (``session.json``'s ``analysis``).
        warnings: what the user must be told (reader, filter design, rest estimates).
    """

    contractions: pd.DataFrame
    events: pd.DataFrame
    summary: Dict[str, Any]
    summary_table: pd.DataFrame
    settings: Dict[str, Any]
    warnings: List[str]

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Result":
        summary = _batch_summary(d["batch_columns"], d["batch_fields"], len(d["warnings"]))
        summary["headline"] = d["headline"]
        summary["end_time_s"] = d["end_time_s"]
        table = pd.DataFrame(d["summary_rows"], columns=["channel", "metric", "value", "unit"])
        return cls(
            contractions=_table(d["contraction_columns"], d["contraction_rows"]),
            events=_table(d["event_columns"], d["event_rows"]),
            summary=summary,
            summary_table=table,
            settings=json.loads(d["settings_json"]),
            warnings=list(d["warnings"]),
        )


@dataclass
class Channel:
    """One channel of a recording: its samples (float64, NaN where a sample was lost), rate,
    unit, role and whether it is already an envelope (RMS) rather than raw EMG."""

    samples: np.ndarray
    rate_hz: float
    unit: str
    role: str
    envelope: bool = False


@dataclass
class Recording:
    """A recording in memory (from :func:`read` or :func:`simulate`).

    Attributes:
        channels: name -> :class:`Channel`, in the file's order.
        start_time_s: device time of sample 0 of every channel.
        markers: ``(time_s, label)`` the file carries (EDF annotations).
        warnings: what the reader found that the user must be told.
    """

    channels: Dict[str, Channel]
    start_time_s: float = 0.0
    markers: List[Tuple[float, str]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def signals(self) -> Dict[str, np.ndarray]:
        """name -> samples."""
        return {k: c.samples for k, c in self.channels.items()}

    @property
    def rates(self) -> Dict[str, float]:
        """name -> sampling rate, Hz."""
        return {k: c.rate_hz for k, c in self.channels.items()}

    @property
    def units(self) -> Dict[str, str]:
        """name -> unit."""
        return {k: c.unit for k, c in self.channels.items()}

    @property
    def roles(self) -> Dict[str, str]:
        """name -> role."""
        return {k: c.role for k, c in self.channels.items()}

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Recording":
        chans = {
            c["name"]: Channel(c["samples"], c["rate_hz"], c["unit"], c["role"], c["envelope"])
            for c in d["channels"]
        }
        return cls(chans, d["start_time_s"], list(d["markers"]), list(d["warnings"]))


@dataclass
class Simulation(Recording):
    """A simulated session: the signals (a :class:`Recording`), the ground truth (``truth``:
    role, kind, onset_s, offset_s, amplitude, rep -- the columns of ``.truth.csv``) and the
    cues the patient was given (``cues``: time_s, duration_s, text, rep)."""

    truth: pd.DataFrame = field(default_factory=pd.DataFrame)
    cues: pd.DataFrame = field(default_factory=pd.DataFrame)


def _as_samples(name: str, x: Any) -> np.ndarray:
    """``x`` as a contiguous 1-D float64 array; numbers of another dtype are converted, anything
    else is a TypeError, another shape a ValueError naming it."""
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise TypeError(
            f"{name}: samples of dtype {a.dtype} are not numbers; give a float or int array"
        )
    if a.ndim != 1:
        raise ValueError(
            f"{name}: an array of shape {a.shape}; give a 1-D array per channel "
            "(a dict {name: 1-D array} for several channels)"
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def _channels(
    signal: Any,
    fs: Union[None, float, Mapping[str, float]],
    role: str,
    unit: Optional[str],
    envelope: bool,
    roles: Optional[Mapping[str, str]],
    units: Optional[Mapping[str, str]],
) -> Tuple[List[Tuple[str, str, str, float, bool]], List[np.ndarray]]:
    """The channel descriptions and arrays the Rust side takes."""
    if isinstance(signal, Mapping):
        if not signal:
            raise ValueError("no channel given: the dict of channels is empty")
        descs, arrays = [], []
        for name, x in signal.items():
            name = str(name)
            r = (roles or {}).get(name) or (name if name in ROLES else None)
            if r is None:
                raise ValueError(
                    f"{name}: which role? Name the channel pfm_emg, abd_emg or pressure, or "
                    f"give roles={{'{name}': 'pfm_emg'}}"
                )
            rate = fs.get(name) if isinstance(fs, Mapping) else fs
            if rate is None:
                raise ValueError(f"{name}: no sampling rate; give fs (Hz), or fs={{'{name}': rate}}")
            u = (units or {}).get(name) or _DEFAULT_UNIT.get(r, "")
            descs.append((name, r, u, float(rate), bool(envelope)))
            arrays.append(_as_samples(name, x))
        return descs, arrays
    if fs is None or isinstance(fs, Mapping):
        raise ValueError("fs: give the sampling rate in Hz for a single array")
    a = _as_samples(role, signal)
    return [(role, role, unit or _DEFAULT_UNIT.get(role, ""), float(fs), bool(envelope))], [a]


def analyze(
    signal: Union[np.ndarray, Sequence[float], Mapping[str, Any], Recording, PathLike],
    fs: Union[None, float, Mapping[str, float]] = None,
    role: str = "pfm_emg",
    *,
    unit: Optional[str] = None,
    envelope: bool = False,
    roles: Optional[Mapping[str, str]] = None,
    units: Optional[Mapping[str, str]] = None,
    start_time_s: float = 0.0,
    rate: Optional[float] = None,
    pfm: Optional[str] = None,
    abd: Optional[str] = None,
    pressure: Optional[str] = None,
    **settings: Optional[float],
) -> Result:
    """Analyse a recording: conditioning, causal contraction detection and scoring, exactly as
    ``knip analyze`` does (the same Rust code), without writing files.

    Args:
        signal: one channel (1-D array of numbers: float64, float32 and ints are converted),
            a dict ``{name: 1-D array}`` of channels (names ``pfm_emg``/``abd_emg``/``pressure``
            or any name with ``roles``), a :class:`Recording` from :func:`read`/:func:`simulate`,
            or the path of a file the command line reads (then ``rate``, ``pfm``, ``abd``,
            ``pressure``, ``envelope`` are the CLI's column options).
            NaN, +-inf and values beyond the unit's plausible bound are lost samples (a gap),
            as in the file readers. A 2-D array is refused (ValueError naming its shape).
        fs: sampling rate in Hz (a dict ``{name: rate}`` for channels of different rates).
        role: what a single array measures: ``pfm_emg`` (default), ``abd_emg`` or ``pressure``.
        unit: unit of a single array (default uV for EMG, cmH2O for pressure).
        envelope: the EMG samples are already RMS envelopes (no band-pass, no RMS).
        roles, units: per channel of a dict.
        start_time_s: device time of sample 0.
        **settings: analysis settings by name (see below); ``None`` turns off a setting that
            can be off (``notch``, ``abd_ecg_highpass_hz``).

    Returns:
        :class:`Result` with ``.contractions``, ``.events`` (pandas DataFrames with the columns of
        ``contractions.csv`` / ``events.csv``), ``.summary`` (dict), ``.summary_table``,
        ``.settings``, ``.warnings``.

    Raises:
        InputError: input that cannot be used (the command line's message, naming the file and
            line for a file); SettingsError: an unknown setting or one outside its range;
        TypeError: samples that are not numbers; ValueError: a wrong shape or a missing rate.

    Settings (name, default, plausible range; the first ones are the command line's options):

    {SETTINGS}
    """
    cfg = dict(settings)
    if isinstance(signal, (str, os.PathLike)):
        d = _knip.analyze_file(
            os.fspath(signal), rate, pfm, abd, pressure, envelope, cfg
        )
        return Result._from(d)
    if isinstance(signal, Recording):
        descs = [
            (name, c.role, c.unit, c.rate_hz, c.envelope) for name, c in signal.channels.items()
        ]
        arrays = [_as_samples(name, c.samples) for name, c in signal.channels.items()]
        d = _knip.analyze(descs, arrays, signal.start_time_s, cfg)
        r = Result._from(d)
        r.warnings = list(signal.warnings) + [w for w in r.warnings if w not in signal.warnings]
        return r
    descs, arrays = _channels(signal, fs, role, unit, envelope, roles, units)
    return Result._from(_knip.analyze(descs, arrays, float(start_time_s), cfg))


def read(
    path: PathLike,
    *,
    rate: Optional[float] = None,
    pfm: Optional[str] = None,
    abd: Optional[str] = None,
    pressure: Optional[str] = None,
    envelope: bool = False,
) -> Recording:
    """Read any recording the command line reads -- knip's own CSV (with its ``.json``
    sidecar), anybody's CSV (separators, decimal commas, header comments, ``time_s`` or
    ``--rate``), EDF/EDF+/BDF/BDF+ -- into a :class:`Recording`: arrays (NaN where a sample
    was lost), rates, units, roles and markers.

    Args:
        rate: sampling rate when the file has no time column, Hz (``--rate``).
        pfm, abd, pressure: the column (or EDF signal) holding each role, by name or 1-based
            number (``--pfm`` ...).
        envelope: the EMG columns are already RMS envelopes (``--envelope``).

    Raises:
        InputError: with the command line's message (file, line and what to do).
    """
    return Recording._from(_knip.read(os.fspath(path), rate, pfm, abd, pressure, envelope))


def simulate(
    protocol: str = "strength",
    seed: int = 1,
    *,
    emg_rate_hz: float = 2000.0,
    pressure_rate_hz: float = 100.0,
    channels: Optional[Sequence[str]] = None,
    conditions: Sequence[str] = (),
) -> Simulation:
    """A simulated patient following ``protocol`` (``identify``, ``strength``, ``mixed``,
    ``long``; see ``knip protocols``), the same samples ``knip simulate`` writes, with the
    ground truth (``.truth``) and the cues (``.cues``).

    Args:
        channels: roles to produce (default pfm_emg, abd_emg, pressure).
        conditions: real-world conditions (``knip simulate --condition``).

    Raises:
        SimulationError: an unknown protocol, condition or channel, or a rate out of range.
    """
    d = _knip.simulate(
        protocol,
        int(seed),
        float(emg_rate_hz),
        float(pressure_rate_hz),
        None if channels is None else [str(c) for c in channels],
        [str(c) for c in conditions],
    )
    rec = Recording._from(d)
    truth = pd.DataFrame(
        d["truth"], columns=["role", "kind", "onset_s", "offset_s", "amplitude", "rep"]
    )
    cues = pd.DataFrame(d["cues"], columns=["time_s", "duration_s", "text", "rep"])
    return Simulation(rec.channels, rec.start_time_s, rec.markers, rec.warnings, truth, cues)


class Stream:
    """Live analysis: push blocks of samples as they arrive; each :meth:`push` returns the events
    decided in that block (a DataFrame with the columns of ``events.csv``). The filters',
    envelopes' and detector's state is kept across pushes, so the events do not depend on the
    block size: blocks of 1, 97 or 4096 samples give the events of :func:`analyze` on the whole
    array.

    Args:
        fs: sampling rate, Hz, of a single channel (``role``), or ``{name: rate}`` for several
            channels (names are roles, or give ``roles``); then push a dict ``{name: block}``.
        **settings: as for :func:`analyze`.

    Example::

        s = knip.Stream(2000.0)
        for block in device_blocks():
            for _, e in s.push(block).iterrows():
                print(e.kind, e.onset_s, e.duration_s)
        print(s.finish())
    """

    def __init__(
        self,
        fs: Union[float, Mapping[str, float]],
        role: str = "pfm_emg",
        *,
        unit: Optional[str] = None,
        envelope: bool = False,
        roles: Optional[Mapping[str, str]] = None,
        units: Optional[Mapping[str, str]] = None,
        start_time_s: float = 0.0,
        **settings: Optional[float],
    ) -> None:
        if isinstance(fs, Mapping):
            empty = {k: np.zeros(0) for k in fs}
            descs, _ = _channels(empty, fs, role, unit, envelope, roles, units)
        else:
            descs, _ = _channels(np.zeros(0), fs, role, unit, envelope, roles, units)
        self._names = [d[0] for d in descs]
        self._inner = _knip.Stream(descs, float(start_time_s), dict(settings))

    def push(self, block: Union[np.ndarray, Sequence[float], Mapping[str, Any]]) -> pd.DataFrame:
        """The next samples (one array, or ``{name: array}`` for several channels; a channel
        may be left out when it has no new samples). Returns the events decided in this block."""
        if isinstance(block, Mapping):
            unknown = set(map(str, block)) - set(self._names)
            if unknown:
                raise ValueError(f"unknown channel(s) {sorted(unknown)}; this stream has {self._names}")
            arrays = [
                _as_samples(n, block[n]) if n in block else np.zeros(0) for n in self._names
            ]
        else:
            if len(self._names) != 1:
                raise ValueError(
                    f"this stream has {len(self._names)} channels: push a dict {{name: block}}"
                )
            arrays = [_as_samples(self._names[0], block)]
        return _table(EVENT_COLUMNS, self._inner.push(arrays))

    def finish(self) -> pd.DataFrame:
        """End of the stream: the events still open or held (a contraction in progress is
        closed). Later pushes raise InputError."""
        return _table(EVENT_COLUMNS, self._inner.finish())

    @property
    def warnings(self) -> List[str]:
        """The filter design's compromises and the samples counted as lost so far."""
        return list(self._inner.warnings())


if analyze.__doc__:
    analyze.__doc__ = analyze.__doc__.replace("    {SETTINGS}", _settings_doc())
