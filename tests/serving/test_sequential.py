"""The always-valid tests of ``serving._sequential``: checked after every batch (peeking),
a true null is rejected at most ``alpha`` of the time; clearly worse data is rejected soon;
at a fixed sample size they are never bolder than scipy's exact tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from shipyard.serving._sequential import (
    Sample,
    difference,
    difference_above,
    mean_interval,
    rate_above,
    rate_interval,
)

SIMS, ALPHA = 2000, 0.05


def _first_rejection(p_values: np.ndarray) -> np.ndarray:
    """Per simulation (rows), the first peek (column) rejecting at ALPHA, or -1."""
    hit = p_values <= ALPHA
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


def _rate_peeks(rate: float, p0: float, n: int, every: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.cumsum(rng.random((SIMS, n)) < rate, axis=1)[:, every - 1 :: every]
    trials = np.arange(every, n + 1, every, dtype=float)
    return _first_rejection(rate_above(events, np.broadcast_to(trials, events.shape), p0))


@pytest.mark.parametrize(("p0", "seed"), [(0.01, 1), (0.05, 2), (0.3, 3)])
def test_a_rate_at_its_limit_is_rarely_called_above_it_however_often_one_looks(
    p0: float, seed: int
) -> None:
    first = _rate_peeks(p0, p0, n=1000, every=10, seed=seed)  # 100 looks each
    assert (first >= 0).mean() <= 0.06


def test_a_rate_well_above_its_limit_is_caught_quickly() -> None:
    first = _rate_peeks(0.05, 0.01, n=1000, every=10, seed=4)
    assert (first >= 0).mean() > 0.95 and np.median(first[first >= 0]) * 10 < 400
    always = _rate_peeks(1.0, 0.01, n=10, every=1, seed=5)
    assert (always <= 1).all()  # failing every request: rejected by the second failure


def test_a_rate_test_never_rejects_where_the_exact_binomial_test_would_not() -> None:
    for n in (5, 20, 100, 400):
        for k in range(0, n + 1, max(1, n // 25)):
            for p0 in (0.01, 0.1, 0.5):
                if rate_above(k, n, p0) <= ALPHA:
                    assert stats.binomtest(k, n, p0, alternative="greater").pvalue <= ALPHA
                lower, upper = rate_interval(k, n, ALPHA)
                exact = stats.binomtest(k, n).proportion_ci(1 - 2 * ALPHA, method="exact")
                assert lower <= exact.low + 1e-6 and upper >= exact.high - 1e-6
    lower, _ = rate_interval(30, 200, ALPHA)
    assert rate_above(30, 200, lower * 0.99) <= ALPHA < rate_above(30, 200, lower * 1.01)
    assert rate_above(0, 0, 0.01) == 1.0 and rate_above(1, 10, 0.0) == 0.0


def _difference_peeks(
    rates: tuple[float, float], margin: float, share: float, seed: int, looks: int = 100
) -> np.ndarray:
    """Bernoulli data, a ``share`` of each batch of 20 to the second side; the first
    look where ``first - second > margin`` is rejected (both sides need 20)."""
    rng = np.random.default_rng(seed)
    size = looks * 20
    second = rng.random((SIMS, size)) < share
    hits = rng.random((SIMS, size)) < np.where(second, rates[1], rates[0])
    n2 = np.cumsum(second, axis=1)[:, 19::20]
    n1 = np.arange(20, size + 1, 20) - n2
    k2 = np.cumsum(hits & second, axis=1)[:, 19::20]
    k1 = np.cumsum(hits & ~second, axis=1)[:, 19::20]
    p = difference_above(Sample.of_counts(k2, n2), Sample.of_counts(k1, n1), margin)
    return _first_rejection(np.where((n1 >= 20) & (n2 >= 20), p, 1.0))


@pytest.mark.parametrize(
    ("rates", "margin", "share", "seed"),
    [((0.9, 0.9), 0.0, 0.25, 6), ((0.9, 0.88), 0.02, 0.5, 7), ((0.5, 0.5), 0.0, 0.1, 8)],
)
def test_a_difference_at_its_margin_is_rarely_called_above_it_however_often_one_looks(
    rates: tuple[float, float], margin: float, share: float, seed: int
) -> None:
    first = _difference_peeks(rates, margin, share, seed)
    assert (first >= 0).mean() <= 0.06


def test_a_clearly_worse_side_is_found_and_a_slightly_worse_one_in_time() -> None:
    much = _difference_peeks((0.9, 0.6), 0.02, 0.5, seed=9, looks=20)
    assert (much >= 0).all() and np.median(much) * 20 <= 120
    slight = _difference_peeks((0.9, 0.85), 0.0, 0.5, seed=10)
    assert (slight >= 0).mean() > 0.7  # within 2,000 observations in all (~79%)


def test_differences_and_means_at_a_fixed_size_are_wider_than_scipys() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(1.0, 2.0, 300), rng.normal(1.5, 1.0, 150)
    base = Sample.of_sums(len(a), a.sum(), (a * a).sum())
    other = Sample.of_sums(len(b), b.sum(), (b * b).sum())
    assert math.isclose(base.variance, a.var(ddof=1)) and math.isclose(other.mean, b.mean())
    found = difference(base, other, ALPHA)
    welch = stats.ttest_ind(b, a, equal_var=False)
    fixed = welch.confidence_interval(1 - ALPHA)
    assert found.interval[0] < fixed.low and found.interval[1] > fixed.high
    assert found.p_value >= welch.pvalue
    one = difference(base, other, ALPHA, margin=0.0, one_sided=True)
    assert one.p_value == difference_above(base, other, 0.0)
    assert (one.p_value <= ALPHA) == (one.interval[0] > 0)
    low, high = mean_interval(other, ALPHA)
    t = stats.ttest_1samp(b, 0.0).confidence_interval(1 - ALPHA)
    assert low < t.low and high > t.high


def test_samples_from_counts_are_never_certain() -> None:
    perfect = Sample.of_counts(50, 50)
    assert perfect.mean == 1.0 and perfect.variance > 0
    assert difference_above(Sample.of_counts(49, 50), perfect) > ALPHA
    assert difference_above(Sample(0, 0.0, 0.0), perfect) == 1.0


def test_two_equal_samples_without_spread_are_not_called_different() -> None:
    """Constant rewards (or model times in one bucket) on both sides: no spread and no
    difference is no evidence, not a certain one (sign(0) * inf was NaN: p-value 0)."""
    same = Sample.of_sums(40, 20.0, 10.0)  # forty rewards of 0.5
    assert same.variance == 0.0
    found = difference(same, same, ALPHA)
    assert found.p_value == 1.0 and found.estimate == 0.0
    assert difference(same, same, ALPHA, one_sided=True).p_value == 1.0
    assert difference_above(same, same) == 1.0
    higher = Sample.of_sums(40, 40.0, 40.0)  # forty rewards of 1: certainly higher
    assert difference(same, higher, ALPHA).p_value == 0.0
