"""Shadow models for ``bench/shadow.py``: importable by name in the server and its shadow
worker (the bench puts this folder on their ``PYTHONPATH``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import shipyard as sy


class Busy(sy.models.PythonModel):
    """CPU-bound: a pure-Python busy loop of ``seconds`` per call (holds the GIL)."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds

    def predict(self, df: Any) -> Any:
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return np.zeros(len(df), dtype=np.int64)


class Slow(sy.models.PythonModel):
    """Waits ``seconds`` per call (a remote feature lookup, a model on a busy device)."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds

    def predict(self, df: Any) -> Any:
        time.sleep(self.seconds)
        return np.zeros(len(df), dtype=np.int64)
