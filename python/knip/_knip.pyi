"""Type stubs of the compiled bindings (knip._knip); see knip/__init__.py for the public API."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

ChannelDesc = Tuple[str, str, str, float, bool]

CONTRACTION_COLUMNS: List[str]
EVENT_COLUMNS: List[str]
BATCH_COLUMNS: List[str]

class KnipError(Exception): ...
class InputError(KnipError): ...
class OutputError(KnipError): ...
class SimulationError(InputError): ...
class SettingsError(InputError): ...

def analyze(
    channels: Sequence[ChannelDesc],
    signals: Sequence[npt.NDArray[np.float64]],
    start_time_s: float = 0.0,
    settings: Optional[Dict[str, Optional[float]]] = None,
) -> Dict[str, Any]: ...
def analyze_file(
    path: str,
    rate: Optional[float] = None,
    pfm: Optional[str] = None,
    abd: Optional[str] = None,
    pressure: Optional[str] = None,
    envelope: bool = False,
    settings: Optional[Dict[str, Optional[float]]] = None,
) -> Dict[str, Any]: ...
def read(
    path: str,
    rate: Optional[float] = None,
    pfm: Optional[str] = None,
    abd: Optional[str] = None,
    pressure: Optional[str] = None,
    envelope: bool = False,
) -> Dict[str, Any]: ...
def simulate(
    protocol: str = "strength",
    seed: int = 1,
    emg_rate_hz: float = 2000.0,
    pressure_rate_hz: float = 100.0,
    channels: Optional[Sequence[str]] = None,
    conditions: Sequence[str] = ...,
) -> Dict[str, Any]: ...
def settings_doc() -> List[Tuple[str, str, str, str, bool]]: ...
def find_recordings(dir: str, skip: str) -> Tuple[List[str], List[str]]: ...
def report_names(relative: Sequence[str]) -> List[str]: ...

class Stream:
    def __init__(
        self,
        channels: Sequence[ChannelDesc],
        start_time_s: float = 0.0,
        settings: Optional[Dict[str, Optional[float]]] = None,
    ) -> None: ...
    def push(self, blocks: Sequence[npt.NDArray[np.float64]]) -> List[List[str]]: ...
    def finish(self) -> List[List[str]]: ...
    def warnings(self) -> List[str]: ...
