"""What each route of a server did: requests, errors, latencies, labels and rewards."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LATENCY_WINDOW", "RouteStats"]

LATENCY_WINDOW = 2_000  # latencies kept per route for p99


@dataclass
class RouteStats:
    """What one route did since its step (canary) or since the server started."""

    requests: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    labelled: int = 0
    correct: float = 0.0
    rewards: float = 0.0
    rewarded: int = 0

    def p99(self) -> float | None:
        return (
            float(np.percentile(np.fromiter(self.latencies, float), 99)) if self.latencies else None
        )

    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    def reset(self) -> None:
        self.requests = self.errors = self.labelled = 0
        self.correct = 0.0
        self.latencies.clear()
