"""How far a distance between two samples of one distribution goes by chance: its noise level.

A distance over bins or categories measured on samples is biased upward, and the bias grows
with the categories and shrinks with the rows: two samples of 5,000 rows from one
distribution of 1,000 equally likely categories are at Jensen–Shannon 0.23, more than any
sensible threshold. So an effect size alone cannot judge a feature; the verdict also asks
that the distance be beyond what sampling alone gives (``_verdict.judge``).

The distances of shares are a function of a sum over categories, ``sum(terms(p_k, q_k))``
(Jensen–Shannon: the divergence under a square root). Under no drift, with each category's
pooled count ``t`` kept, the reference's part of it is ``Binomial(t, n / (n + m))``,
independently per category (the permutation null, its categories made independent), so the
sum's mean and variance are sums of each category's, computed exactly rather than drawn:
categories of one pooled count share them, the binomial is summed over its support where
its spread is small and by Gauss–Hermite quadrature where large (the terms are smooth
there). Independence adds one degree of freedom that the fixed totals take away, so both
moments are scaled by ``(k - 1) / k`` (exact for a chi-square). The sum then grows like a
chi-square: ``a * chi2(nu)`` matched to the two moments gives the p-value of the value
seen and the noise level, the value sampling alone exceeds with probability ``alpha``.
Shares here are the counts over each side's total with empty bins at ``EPSILON`` (the
reported values renormalise after the floor; the test does not, on both sides of its
comparison). Deterministic, and the same counts give the same answer in ``drift`` and
``drift_stream``; O(distinct pooled counts), not O(categories x draws).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shipyard.monitoring._inputs import EPSILON, Inputs

__all__ = ["Noise", "noise_of_terms"]

SPREAD = 6.0  # a binomial of a wider standard deviation is integrated by quadrature
REACH = 10.0  # a narrower one is summed over its mean +- this many deviations (and 2)
NODES = 24  # Gauss–Hermite nodes

Terms = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Noise:
    """Whether a value is beyond sampling noise: its ``p_value`` under no drift (from the
    test named ``test``), and the ``level`` sampling alone exceeds with probability alpha
    (None when not estimated)."""

    p_value: float
    level: float | None
    test: str = "p"


def _floored(counts: np.ndarray, total: float) -> np.ndarray:
    out: np.ndarray = np.maximum(counts / total, EPSILON)
    return out


def noise_of_terms(
    inputs: Inputs, terms: Terms, finish: Callable[[float], float], alpha: float
) -> Noise:
    """The p-value under no drift of ``sum(terms(p, q))`` of the bin (or category) counts,
    and the noise level at ``alpha`` of the statistic ``finish(sum)``."""
    from scipy.stats import chi2

    ref, cur = inputs.reference_counts, inputs.current_counts
    n, m = float(ref.sum()), float(cur.sum())
    pooled = ref + cur
    seen_in = pooled > 0
    categories = int(seen_in.sum())
    if categories < 2 or n == 0 or m == 0:
        return Noise(1.0, finish(0.0))
    seen = float(np.sum(terms(_floored(ref[seen_in], n), _floored(cur[seen_in], m))))
    mean, var = _moments(pooled[seen_in], n, m, terms)
    mean, var = mean * (categories - 1) / categories, var * (categories - 1) / categories
    if var <= 0 or mean <= 0:
        return Noise(0.0 if seen > mean else 1.0, finish(max(mean, 0.0)))
    scale, freedom = var / (2 * mean), 2 * mean * mean / var
    p_value = float(chi2.sf(seen / scale, freedom))
    level = finish(float(scale * chi2.isf(alpha, freedom)))
    return Noise(p_value if math.isfinite(p_value) else 0.0, level)


def _moments(pooled: np.ndarray, n: float, m: float, terms: Terms) -> tuple[float, float]:
    """The mean and variance of ``sum(terms)`` when each category's reference count is
    ``Binomial(pooled, n / (n + m))``, independently."""
    from scipy.stats import binom

    share = n / (n + m)
    counts, times = np.unique(pooled.astype(np.int64), return_counts=True)
    sd = np.sqrt(counts * share * (1 - share))
    mean, var = 0.0, 0.0
    narrow = sd <= SPREAD
    if narrow.any():  # summed over the support (the binomial's mass beyond it: < 1e-20)
        t, middle = counts[narrow][:, None], (counts[narrow] * share)[:, None]
        reach = np.ceil(REACH * sd[narrow].max() + 2)
        start = np.maximum(np.floor(middle - reach), 0)
        a = np.minimum(start + np.arange(2 * reach + 1)[None, :], t)
        weight = binom.pmf(a, t, share)
        weight[:, 1:][a[:, 1:] == a[:, :-1]] = 0.0  # clipped at t: count t once
        g = terms(_floored(a, n), _floored(t - a, m))
        first, second = np.sum(weight * g, axis=1), np.sum(weight * g * g, axis=1)
        mean += float(np.sum(times[narrow] * first))
        var += float(np.sum(times[narrow] * np.maximum(second - first * first, 0.0)))
    if (~narrow).any():  # wide: Gauss–Hermite quadrature of the normal approximation
        nodes, weights = np.polynomial.hermite_e.hermegauss(NODES)
        weights = weights / weights.sum()
        t = counts[~narrow][:, None].astype(np.float64)
        a = np.clip(t * share + sd[~narrow][:, None] * nodes[None, :], 0, t)
        g = terms(_floored(a, n), _floored(t - a, m))
        first, second = g @ weights, (g * g) @ weights
        mean += float(np.sum(times[~narrow] * first))
        var += float(np.sum(times[~narrow] * np.maximum(second - first * first, 0.0)))
    return mean, var
