"""Models with known behaviour for ``bench/rollouts.py --live``: importable by the server
processes the benchmark starts (it puts this folder on their ``PYTHONPATH``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class Failing:
    """Fails every request that is not its warm-up (the warm-up's incomes are not 52,000)."""

    def predict(self, df: Any) -> Any:
        if (df["income"] == 52000.0).any():
            raise RuntimeError("candidate bug")
        return np.zeros(len(df), dtype=np.int64)


class Busy:
    """Holds the CPU for ``ms`` milliseconds per call (pure Python: it keeps the GIL)."""

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def predict(self, df: Any) -> Any:
        until = time.perf_counter() + self.ms / 1e3
        while time.perf_counter() < until:
            pass
        return np.zeros(len(df), dtype=np.int64)
