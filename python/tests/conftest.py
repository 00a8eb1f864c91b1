"""Shared fixtures: the knip command line (built by `cargo build --bin knip`, as .ci/run does)
and the repository's data folder. A missing binary is a failure, not a skip."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def knip_bin() -> str:
    path = Path(os.environ.get("KNIP_BIN", ROOT / "target" / "debug" / "knip"))
    assert path.is_file(), (
        f"{path}: the knip command line is needed to compare with; run `cargo build --bin knip` "
        "or set KNIP_BIN"
    )
    return str(path)


@pytest.fixture(scope="session")
def data_real() -> Path:
    d = ROOT / "data" / "real"
    assert d.is_dir(), f"{d} is missing"
    return d


def run_cli(knip_bin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [knip_bin, *args], capture_output=True, text=True, timeout=600, check=False
    )
