"""What each route of a server did: requests, errors, model time, labels and rewards.

:class:`RouteStats` is the evidence a policy judges (a canary's step, a bandit's arms, an
A/B split's test). Every field is a count or a sum, and model time is a histogram with fixed
bucket edges, so two records merge by adding them: that is how the evidence of several
workers and replicas is pooled (``serving._evidence``) and why it can be shipped as a small
JSON object.

Model time is what a request's own model call took (the batch it rode in), not its time
end to end: requests to every route share one event loop, so a slow candidate delays the
baseline's answers too, and end-to-end times would blur the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["METRICS", "TIME_BUCKETS", "RouteStats", "Timings"]

# what a policy can compare routes on: is higher better
METRICS = {"accuracy": True, "error_rate": False, "reward": True, "latency": False}

_FIRST = 1e-5  # seconds: the first bucket's upper edge (10 µs)
_GROWTH = 2 ** (1 / 8)  # each bucket ~9% wider than the last: quantiles within ~4.5%
TIME_BUCKETS = 192  # up to ~160 s; slower calls land in the last bucket
_LOG_GROWTH = math.log(_GROWTH)


def _bucket(seconds: float) -> int:
    if seconds <= _FIRST:
        return 0
    return min(TIME_BUCKETS - 1, int(math.log(seconds / _FIRST) / _LOG_GROWTH) + 1)


def _edge(bucket: int) -> float:
    """The upper edge of a bucket, in seconds."""
    return float(_FIRST * _GROWTH**bucket)


def _no_counts() -> np.ndarray:
    import numpy as np  # here, not at the top: the CLI imports the policies (--help)

    return np.zeros(TIME_BUCKETS, dtype=np.int64)


@dataclass
class Timings:
    """A histogram of durations on fixed log-spaced buckets (mergeable by addition)."""

    counts: np.ndarray = field(default_factory=_no_counts)

    def add(self, seconds: float, times: int = 1) -> None:
        self.counts[_bucket(seconds)] += times

    def add_many(self, seconds: np.ndarray) -> None:
        """Add many durations at once (vectorised)."""
        import numpy as np

        values = np.asarray(seconds, dtype=float)
        ratio = np.maximum(values, _FIRST) / _FIRST
        buckets = np.where(values <= _FIRST, 0, np.log(ratio) / _LOG_GROWTH + 1).astype(np.int64)
        np.add.at(self.counts, np.minimum(buckets, TIME_BUCKETS - 1), 1)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) in seconds, at the upper edge of its bucket; None when
        empty."""
        total = self.total
        if total == 0:
            return None
        import numpy as np

        rank = max(1, math.ceil(q * total))
        bucket = int(np.searchsorted(np.cumsum(self.counts), rank))
        return _edge(bucket)

    def above(self, seconds: float) -> int:
        """How many durations are surely longer than ``seconds`` (whole buckets above it)."""
        return int(self.counts[_bucket(seconds) + 1 :].sum())

    def merge(self, other: Timings) -> None:
        self.counts += other.counts

    def to_json(self) -> dict[str, int]:
        """Sparse: bucket index (as text) to count."""
        import numpy as np

        return {str(int(i)): int(self.counts[i]) for i in np.flatnonzero(self.counts)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timings:
        timings = cls()
        for key, count in data.items():
            index = int(key)
            if 0 <= index < TIME_BUCKETS:
                timings.counts[index] += int(count)
        return timings


_SCALARS = ("requests", "errors", "labelled", "correct", "rewarded", "rewards", "rewards_sq")


@dataclass
class RouteStats:
    """What one route did in its evidence period (a canary's step, or since the policy
    began): requests answered, requests failed by the model (server errors; a client's
    bad request is not the model's fault), each request's model time, labels (and how many
    matched the answer) and rewards (any number: a reward or a custom metric)."""

    requests: int = 0
    errors: int = 0
    labelled: int = 0
    correct: float = 0.0
    rewarded: int = 0
    rewards: float = 0.0
    rewards_sq: float = 0.0
    model_time: Timings = field(default_factory=Timings)

    @property
    def attempts(self) -> int:
        """Every request the route took: answered or failed."""
        return self.requests + self.errors

    def error_rate(self) -> float | None:
        """Failed requests over all the route took (not over its successes)."""
        return self.errors / self.attempts if self.attempts else None

    def p99(self) -> float | None:
        """The 99th percentile of model time, in seconds."""
        return self.model_time.quantile(0.99)

    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    def reward_mean(self) -> float | None:
        return self.rewards / self.rewarded if self.rewarded else None

    def reset(self) -> None:
        for name in _SCALARS:
            setattr(self, name, type(getattr(self, name))())
        self.model_time.counts[:] = 0

    def merge(self, other: RouteStats) -> None:
        """Add ``other``'s counts to these (pooling two workers' evidence)."""
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.model_time.merge(other.model_time)

    def copy(self) -> RouteStats:
        fresh = RouteStats()
        fresh.merge(self)
        return fresh

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in _SCALARS) and not self.model_time.total

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SCALARS}
        out["model_time"] = self.model_time.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteStats:
        kinds = {f.name: f.type for f in fields(cls)}
        stats = cls()
        for name in _SCALARS:
            value = data.get(name, 0)
            setattr(stats, name, int(value) if kinds[name] == "int" else float(value))
        stats.model_time = Timings.from_json(data.get("model_time") or {})
        return stats
