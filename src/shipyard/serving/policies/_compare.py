"""A/B statistics: each route's metric with its confidence sequence, and each route against
the first (the baseline) with an always-valid interval and p-value.

What :meth:`RolloutPolicy.statistics` returns by default, and what ``fixed`` stops on
(``stop_when_significant``). The metric is one of :data:`METRICS`, read from a route's
:class:`RouteStats` as a sample (count, mean, variance): accuracy and error rate as
proportions, reward (the mean of the numbers posted as ``reward``: a reward or any custom
metric) and latency (mean model time, from the histogram's bucket centres) as means.
Differences use the normal-mixture confidence sequences of ``serving._sequential``, so the
table may be read after every request. Significance is at ``alpha`` split (Bonferroni) over
every pair of routes, so a winner picked among several is still a fair call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.serving._sequential import (
    Sample,
    bonferroni,
    difference,
    mean_interval,
    rate_interval,
)
from shipyard.serving._stats import METRICS, TIME_BUCKETS, RouteStats, Timings

__all__ = ["METRICS", "MIN_SAMPLES", "compare", "sample_of"]

MIN_SAMPLES = 30  # observations per route before a difference is tested


def _centres() -> np.ndarray:
    """Each model-time bucket's centre, in milliseconds (geometric between its edges)."""
    probe = Timings()
    edges = []
    for bucket in range(TIME_BUCKETS):
        probe.counts[:] = 0
        probe.counts[bucket] = 1
        edges.append(probe.quantile(0.5) or 0.0)
    upper = np.array(edges) * 1e3
    lower = np.concatenate([[upper[0] / 2], upper[:-1]])
    centres: np.ndarray = np.sqrt(np.maximum(lower, 1e-12) * upper)
    return centres


_CENTRES = _centres()


def sample_of(stats: RouteStats, metric: str) -> Sample:
    """The route's observations of ``metric`` as a sample."""
    if metric == "accuracy":
        return Sample.of_counts(stats.correct, stats.labelled)
    if metric == "error_rate":
        return Sample.of_counts(stats.errors, stats.attempts)
    if metric == "reward":
        n, total, total_sq = stats.rewarded, stats.rewards, stats.rewards_sq
        if n and total_sq * n < total * total * (1 - 1e-9):  # squares not recorded
            return Sample.of_counts(total, n)  # a 0/1 reward's variance (the bandit's)
        return Sample.of_sums(n, total, total_sq)
    counts = stats.model_time.counts
    total = float(counts @ _CENTRES)
    return Sample.of_sums(int(counts.sum()), total, float(counts @ (_CENTRES * _CENTRES)))


def _interval(stats: RouteStats, sample: Sample, metric: str, alpha: float) -> list[Any]:
    if sample.n <= 0:
        return [None, None]
    if metric in ("accuracy", "error_rate"):
        events = stats.correct if metric == "accuracy" else stats.errors
        low, high = rate_interval(events, sample.n, alpha / 2)
    else:
        low, high = mean_interval(sample, alpha)
    return [_plain(low), _plain(high)]


def _plain(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def compare(
    stats: Mapping[str, RouteStats], routes: Sequence[str], metric: str, alpha: float
) -> dict[str, Any]:
    """The statistics of ``metric`` for ``routes`` (the first is the baseline): per route
    ``n``, ``estimate`` and ``interval``; for the others the ``difference`` to the
    baseline, its ``difference_interval``, ``p_value`` and ``significant``; and the
    ``winner``, the route significantly better than every other (or None)."""
    samples = {r: sample_of(stats.get(r) or RouteStats(), metric) for r in routes}
    pairs = len(routes) * (len(routes) - 1) // 2
    level = bonferroni(alpha, pairs)
    rows = []
    for route in routes:
        sample = samples[route]
        row: dict[str, Any] = {
            "route": route,
            "n": int(sample.n),
            "estimate": _plain(sample.mean) if sample.n > 0 else None,
            "interval": _interval(stats.get(route) or RouteStats(), sample, metric, alpha),
        }
        if route != routes[0]:
            row.update(_difference(samples[routes[0]], sample, level))
        rows.append(row)
    return {
        "metric": metric,
        "higher_is_better": METRICS[metric],
        "alpha": alpha,
        "level": level,
        "baseline": routes[0],
        "routes": rows,
        "winner": _winner(samples, metric, level),
    }


def _difference(base: Sample, other: Sample, level: float) -> dict[str, Any]:
    if min(base.n, other.n) < MIN_SAMPLES:
        return {
            "difference": _plain(other.mean - base.mean) if base.n and other.n else None,
            "difference_interval": [None, None],
            "p_value": None,
            "significant": False,
        }
    found = difference(base, other, level)
    return {
        "difference": _plain(found.estimate),
        "difference_interval": [_plain(x) for x in found.interval],
        "p_value": found.p_value,
        "significant": found.p_value <= level,
    }


def _winner(samples: Mapping[str, Sample], metric: str, level: float) -> str | None:
    """The best route by estimate, if significantly better than each other route."""
    ready = {r: s for r, s in samples.items() if s.n >= MIN_SAMPLES}
    if len(ready) < 2 or len(ready) < len(samples):
        return None
    sign = 1.0 if METRICS[metric] else -1.0
    best = max(ready, key=lambda r: sign * ready[r].mean)
    for route, sample in ready.items():
        if route == best:
            continue
        found = difference(sample, ready[best], level)
        if found.p_value > level or sign * found.estimate <= 0:
            return None
    return best
