"""knip for Python against the knip command line: the same contractions and events on the real
recordings of data/real and on a simulated session; Stream in blocks of 1, 97 and 4096 samples
against analyze; bad input; NaN, dtypes and shapes."""

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import knip
from conftest import run_cli


def cli_tables(knip_bin, path, out, *options):
    """contractions.csv and events.csv of `knip analyze`, or its error message."""
    p = run_cli(knip_bin, "analyze", str(path), "--out", str(out), *options)
    if p.returncode != 0:
        return None, p
    read = lambda n: pd.read_csv(out / n, float_precision="round_trip")
    return (read("contractions.csv"), read("events.csv")), p


def assert_same(frame: pd.DataFrame, cli: pd.DataFrame, what: str):
    assert list(frame.columns) == list(cli.columns), what
    assert len(frame) == len(cli), f"{what}: {len(frame)} rows, the CLI {len(cli)}"
    pd.testing.assert_frame_equal(
        frame.reset_index(drop=True), cli.reset_index(drop=True), check_dtype=False, obj=what
    )


def real_recordings(data_real: Path):
    # Every normalized CSV, and the anomanor exports as they were shipped (tab-separated,
    # `TIME:` header, times not starting at 0, markers after the data).
    files = sorted(data_real.glob("*/normalized_*.csv")) + sorted(data_real.glob("anomanor*/*.txt"))
    assert len(files) >= 21, files
    return files


def test_real_recordings_same_as_the_cli(knip_bin, data_real, tmp_path):
    compared = 0
    for i, f in enumerate(real_recordings(data_real)):
        # anomanor files: one sensor as pressure, as the CLI needs it named.
        options = ("--pressure", "B1") if "anomanor" in str(f) else ()
        cli, p = cli_tables(knip_bin, f, tmp_path / f"r{i}", *options)
        kw = {"pressure": "B1"} if options else {}
        if cli is None:
            with pytest.raises(knip.InputError) as e:
                knip.analyze(f, **kw)
            assert "error: " + str(e.value) == p.stderr.strip().splitlines()[-1]
            continue
        contractions, events = cli
        from_file = knip.analyze(f, **kw)
        assert_same(from_file.contractions, contractions, f"{f.name} contractions (file)")
        assert_same(from_file.events, events, f"{f.name} events (file)")
        rec = knip.read(f, **kw)
        from_arrays = knip.analyze(rec)
        assert_same(from_arrays.contractions, contractions, f"{f.name} contractions (read)")
        assert_same(from_arrays.events, events, f"{f.name} events (read)")
        compared += 1
    assert compared >= 21, compared


def test_simulated_session_same_as_the_cli(knip_bin, tmp_path):
    rec = tmp_path / "sim.csv"
    p = run_cli(knip_bin, "simulate", "--protocol", "identify", "--seed", "7", "--out", str(rec))
    assert p.returncode == 0, p.stderr
    (contractions, events), _ = cli_tables(knip_bin, rec, tmp_path / "report")
    assert len(contractions) >= 3
    r = knip.analyze(knip.read(rec))
    assert_same(r.contractions, contractions, "simulated contractions")
    assert_same(r.events, events, "simulated events")
    assert r.summary["contractions"] == (contractions["channel"] == r.summary["channel"]).sum()
    assert r.settings["detector"]["onset_k"] == 3.0
    # The same session as EDF+ (the CLI's export): read and analysed alike.
    edf = tmp_path / "sim.edf"
    p = run_cli(knip_bin, "export", str(rec), "--format", "edf", "--out", str(edf))
    assert p.returncode == 0, p.stderr
    (c_edf, e_edf), _ = cli_tables(knip_bin, edf, tmp_path / "report_edf")
    assert len(c_edf) >= 3
    assert_same(knip.analyze(edf).contractions, c_edf, "EDF contractions (file)")
    from_edf = knip.read(edf)
    assert from_edf.rates == knip.read(rec).rates
    assert_same(knip.analyze(from_edf).events, e_edf, "EDF events (read)")
    # knip.simulate gives the samples the CLI wrote (to its print precision) and its truth.
    sim = knip.simulate("identify", 7)
    read = knip.read(rec)
    assert list(sim.channels) == list(read.channels)
    for name, ch in sim.channels.items():
        other = read.channels[name]
        assert ch.rate_hz == other.rate_hz and ch.unit == other.unit
        assert len(ch.samples) == len(other.samples)
        np.testing.assert_allclose(ch.samples, other.samples, atol=0.0051, rtol=0)
    truth = pd.read_csv(tmp_path / "sim.truth.csv")
    assert len(sim.truth) == len(truth) > 0
    np.testing.assert_allclose(sim.truth["onset_s"], truth["onset_s"], atol=5e-4)
    assert list(sim.truth["kind"]) == list(truth["kind"])


def stream_events(spec_rates, signals, block, **kw):
    """Events of a Stream fed `block` samples of the fastest channel at a time (the others in
    proportion)."""
    s = knip.Stream(spec_rates, **kw)
    fastest = max(spec_rates.values())
    at = {k: 0 for k in signals}
    frames, k = [], 1
    while any(at[n] < len(signals[n]) for n in signals):
        part = {}
        for n, x in signals.items():
            end = min(len(x), round(k * block * spec_rates[n] / fastest))
            part[n] = x[at[n] : end]
            at[n] = end
        frames.append(s.push(part))
        k += 1
    frames.append(s.finish())
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("onset_s", kind="stable").reset_index(drop=True)


def test_stream_blocks_give_the_events_of_analyze():
    sim = knip.simulate("identify", 3, emg_rate_hz=1000.0, channels=["pfm_emg", "pressure"])
    signals = sim.signals
    rates = sim.rates
    whole = knip.analyze(signals, rates).events
    assert (whole["kind"] == "contraction").sum() >= 3
    for block in (4096, 97):
        got = stream_events(rates, signals, block)
        assert_same(got, whole, f"stream in blocks of {block}")
    # One sample at a time (every push through Python): the first 25 s, 3 contractions.
    short = {n: x[: int(25 * rates[n])] for n, x in signals.items()}
    whole = knip.analyze(short, rates).events
    assert (whole["kind"] == "contraction").sum() >= 3, whole
    assert_same(stream_events(rates, short, 1), whole, "stream in blocks of 1")


def test_single_channel_stream_and_settings():
    sim = knip.simulate("identify", 5, emg_rate_hz=1000.0, channels=["pfm_emg"])
    x = sim.channels["pfm_emg"].samples
    whole = knip.analyze(x, 1000.0, onset_k=4.0)
    assert whole.settings["detector"]["onset_k"] == 4.0
    s = knip.Stream(1000.0, onset_k=4.0)
    got = pd.concat([s.push(x[i : i + 97]) for i in range(0, len(x), 97)] + [s.finish()])
    got = got.sort_values("onset_s", kind="stable").reset_index(drop=True)
    assert_same(got, whole.events, "single-channel stream")
    default = knip.analyze(x, 1000.0)
    assert not default.events.equals(whole.events), "onset_k changes nothing?"
    with pytest.raises(knip.InputError, match="the stream is finished"):
        s.push(x[:10])


def test_bad_files_raise_the_cli_message(knip_bin, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,pfm_emg\n0.000,1\n0.001,abc\n0.002,3\n")
    missing = tmp_path / "missing.csv"
    for f in (bad, missing):
        p = run_cli(knip_bin, "analyze", str(f), "--out", str(tmp_path / "o"))
        assert p.returncode == 2, p
        want = p.stderr.strip().splitlines()[-1]
        with pytest.raises(knip.InputError) as e:
            knip.analyze(f)
        assert "error: " + str(e.value) == want
        with pytest.raises(knip.InputError) as e:
            knip.read(f)
        assert "error: " + str(e.value) == want
    assert "line 3" in str(e.value) or "missing.csv" in str(e.value)
    with pytest.raises(knip.KnipError, match=r"bad.csv, line 3: column \"pfm_emg\""):
        knip.read(bad)


def test_bad_settings_and_simulator_names():
    x = np.zeros(3000)
    with pytest.raises(knip.SettingsError, match=r"^onset_k: 1e9 is outside the plausible range"):
        knip.analyze(x, 1000.0, onset_k=1e9)
    with pytest.raises(knip.SettingsError, match=r"^unknown setting 'onsetk'"):
        knip.analyze(x, 1000.0, onsetk=3)
    with pytest.raises(knip.SettingsError, match="50 or 60"):
        knip.Stream(1000.0, notch=55)
    with pytest.raises(knip.SimulationError, match="unknown simulation protocol 'nope'"):
        knip.simulate("nope")
    with pytest.raises(knip.InputError, match="sampling rate"):
        knip.analyze(x, 0.0)
    assert issubclass(knip.SimulationError, knip.InputError)
    assert issubclass(knip.InputError, knip.KnipError)


def test_nan_dtypes_and_shapes():
    sim = knip.simulate("identify", 3, emg_rate_hz=1000.0, channels=["pfm_emg"])
    x = sim.channels["pfm_emg"].samples
    gap = x.copy()
    gap[20000:20500] = np.nan
    r = knip.analyze(gap, 1000.0)
    assert any("500 value(s) NaN" in w for w in r.warnings), r.warnings
    assert "gap(s) in the signal" in r.summary["headline"]
    # NaN is the lost-sample rule: the same as an implausible value the readers drop.
    garbage = x.copy()
    garbage[20000:20500] = 1e300
    assert_same(knip.analyze(garbage, 1000.0).events, r.events, "NaN vs garbage")
    assert not r.events.equals(knip.analyze(x, 1000.0).events) or len(r.events) == 0
    # Numbers of other dtypes are converted.
    ints = np.round(x).astype(np.int32)
    a = knip.analyze(ints, 1000.0).contractions
    b = knip.analyze(ints.astype(np.float64), 1000.0).contractions
    assert_same(a, b, "int32")
    f32 = x.astype(np.float32)
    assert_same(
        knip.analyze(f32, 1000.0).contractions,
        knip.analyze(f32.astype(np.float64), 1000.0).contractions,
        "float32",
    )
    assert_same(knip.analyze(list(x[:5000]), 1000.0).events, knip.analyze(x[:5000], 1000.0).events, "list")
    with pytest.raises(TypeError, match="dtype <U"):
        knip.analyze(np.array(["1", "2"]), 1000.0)
    with pytest.raises(TypeError, match="complex"):
        knip.analyze(x.astype(np.complex128), 1000.0)
    with pytest.raises(TypeError, match="bool"):
        knip.analyze(x > 0, 1000.0)
    with pytest.raises(ValueError, match=r"shape \(2, 1000\)"):
        knip.analyze(np.zeros((2, 1000)), 1000.0)
    with pytest.raises(ValueError, match=r"abd_emg: an array of shape \(10, 2\)"):
        knip.analyze({"pfm_emg": x, "abd_emg": np.zeros((10, 2))}, 1000.0)
    with pytest.raises(ValueError, match="which role"):
        knip.analyze({"B1": x}, 1000.0)
    with pytest.raises(ValueError, match="sampling rate"):
        knip.analyze(x)
    # A strided view is taken as it is.
    assert_same(
        knip.analyze(np.repeat(x, 2)[::2], 1000.0).events, knip.analyze(x, 1000.0).events, "view"
    )


def test_dict_of_channels_with_own_rates_and_roles():
    sim = knip.simulate("identify", 2)
    sig = {"EMG-A": sim.signals["pfm_emg"], "P": sim.signals["pressure"]}
    r = knip.analyze(
        sig,
        {"EMG-A": 2000.0, "P": 100.0},
        roles={"EMG-A": "pfm_emg", "P": "pressure"},
    )
    ref = knip.analyze({"pfm_emg": sim.signals["pfm_emg"], "pressure": sim.signals["pressure"]},
                       {"pfm_emg": 2000.0, "pressure": 100.0})
    assert set(r.contractions["channel"]) == {"EMG-A", "P"}
    assert list(r.contractions["onset_s"]) == list(ref.contractions["onset_s"])


def test_help_explains_every_setting():
    doc = inspect.getdoc(knip.analyze)
    for name, help_, default, range_, _ in knip._knip.settings_doc():
        assert name in doc and help_ in doc and f"default {default}" in doc, name
    assert "onset_k" in knip.settings_help()
    for f in (knip.read, knip.simulate, knip.Stream, knip.Stream.push):
        assert inspect.getdoc(f), f
