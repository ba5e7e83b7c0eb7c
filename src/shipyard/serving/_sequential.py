"""Always-valid tests and confidence sequences: evidence that may be looked at after every
request without inflating the chance of a false alarm.

A fixed-sample test checked again and again ("peeking") rejects a true null far more often
than its level says. Each test here is instead a *test martingale*: a nonnegative process
whose expectation is at most 1 under the null, so by Ville's inequality
``P(ever M_n >= 1/alpha) <= alpha`` however often it is looked at and whenever one stops.
Its always-valid p-value is ``min(1, 1/M_n)`` (``P(ever p_n <= alpha) <= alpha``), and the
parameter values it does not reject form a confidence sequence (an interval valid at every
time at once).

Two families, both computed in closed form from counts and sums (no loop over the data), so
a judge can run them on every request:

- :func:`rate_above` / :func:`rate_interval`: a rate (a route's error rate, the share of
  slow requests) against a limit ``p0``. The martingale is the likelihood ratio of
  Bernoulli data mixed over a Beta prior restricted to ``p >= p0``; exact for Bernoulli
  data at any sample size (Robbins 1970, "Statistical methods related to the law of the
  iterated logarithm"; the conjugate mixtures of Howard, Ramdas, McAuliffe & Sekhon 2021,
  "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2)).
  For every ``p <= p0`` each mixed ratio has expectation at most 1, so the test is valid
  for the whole composite null ``rate <= p0``.
- :func:`difference_above` / :func:`difference`: the difference of two means (accuracies,
  rewards, model times) with unequal sample sizes, against a margin. The standardized
  difference of means is mixed over a (half-)normal prior: the normal-mixture boundary of
  Howard et al. 2021 applied as the asymptotic confidence sequence of Waudby-Smith,
  Arbour, Sinha, Kennedy & Ramdas 2024, "Time-uniform central limit theory and asymptotic
  confidence sequences", Ann. Statist. 52(6) — the two-sample mixture SPRT of Johari,
  Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests" (KDD), with estimated variances.
  Valid as the samples grow (the variance is estimated), so the callers wait for a minimum
  of observations per side; the tests in ``tests/serving/test_sequential.py`` check the
  false-rejection rate under peeking by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "Comparison",
    "Sample",
    "bonferroni",
    "difference",
    "difference_above",
    "mean_interval",
    "rate_above",
    "rate_interval",
]

# Beta priors (a, b, weight) the rate test mixes over, restricted to p >= p0: half on a
# uniform (a route failing every request is caught after very few), half on Beta(1, 1/p0)
# whose mass sits just above p0 (a rate a few times the limit is caught sooner).
Prior = Sequence[tuple[float, float, float]]


def _priors(p0: float) -> list[tuple[float, float, float]]:
    return [(1.0, 1.0, 0.5), (1.0, max(1.0, 1.0 / p0), 0.5)]


def _log_rate_martingale(k: Any, n: Any, p0: float, priors: Prior) -> Any:
    """log M for ``k`` events in ``n`` trials against ``rate <= p0`` (the mixture of
    likelihood ratios p^k (1-p)^(n-k) / p0^k (1-p0)^(n-k) over each prior on [p0, 1]).
    Works on arrays of ``k`` and ``n`` alike."""
    k, f = np.asarray(k, dtype=float), np.asarray(n, dtype=float) - np.asarray(k, dtype=float)
    terms = []
    with np.errstate(divide="ignore"):
        for a, b, weight in priors:
            terms.append(
                math.log(weight)
                + special.betaln(a + k, b + f)
                - special.betaln(a, b)
                + np.log(special.betaincc(a + k, b + f, p0))
                - math.log(special.betaincc(a, b, p0))
            )
    return special.logsumexp(terms, axis=0) - k * math.log(p0) - f * math.log1p(-p0)


def rate_above(k: Any, n: Any, p0: float, priors: Prior | None = None) -> Any:
    """The always-valid p-value of ``rate > p0`` after ``k`` events in ``n`` trials.

    A test martingale mixing the Bernoulli likelihood ratio over Beta priors restricted
    to ``p >= p0`` (Robbins 1970; Howard et al. 2021): under any rate ``<= p0``,
    ``P(ever p <= alpha) <= alpha`` by Ville's inequality, however often it is computed.
    ``p0 == 0``: any event proves the rate above 0 (p-value 0). ``k`` and ``n`` may be
    arrays (one p-value each).

    >>> float(rate_above(0, 100, 0.01))
    1.0
    >>> float(rate_above(2, 2, 0.01)) < 0.001  # failing every request is clear at once
    True
    """
    if isinstance(k, (int, float)) and isinstance(n, (int, float)):
        return _rate_above_one(float(k), float(n), p0, priors)
    k_, n_ = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    if np.any((k_ < 0) | (k_ > n_)):
        raise ValueError(f"k must be between 0 and n; got k={k}, n={n}.")
    if p0 >= 1:
        out = np.ones_like(k_ + n_)
    elif p0 <= 0:
        out = np.where(k_ > 0, 0.0, 1.0)
    else:
        log_m = _log_rate_martingale(k_, n_, p0, priors if priors is not None else _priors(p0))
        out = np.where(k_ > 0, np.minimum(1.0, np.exp(-np.maximum(log_m, 0.0))), 1.0)
    return float(out) if out.ndim == 0 else out


def _rate_above_one(k: float, n: float, p0: float, priors: Prior | None) -> float:
    """:func:`rate_above` for one count, in plain floats (the judge's path: ~10 µs)."""
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n; got k={k}, n={n}.")
    if p0 >= 1 or k == 0:
        return 1.0
    if p0 <= 0:
        return 0.0
    terms = []
    for a, b, weight in priors if priors is not None else _priors(p0):
        tail = float(special.betaincc(a + k, b + n - k, p0))
        if tail > 0:
            terms.append(
                math.log(weight * tail / float(special.betaincc(a, b, p0)))
                + float(special.betaln(a + k, b + n - k) - special.betaln(a, b))
            )
    if not terms:
        return 1.0
    top = max(terms)
    log_m = top + math.log(sum(math.exp(t - top) for t in terms))
    log_m -= k * math.log(p0) + (n - k) * math.log1p(-p0)
    return min(1.0, math.exp(-log_m)) if log_m > 0 else 1.0


def _bisect(inside: Callable[[float], bool], lo: float, hi: float) -> float:
    """The boundary between ``inside`` (true at ``lo``) and not (at ``hi``), to 1e-6."""
    for _ in range(40):
        mid = (lo + hi) / 2
        if inside(mid):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def rate_interval(k: float, n: float, alpha: float) -> tuple[float, float]:
    """A confidence sequence for a rate after ``k`` events in ``n`` trials: each end is
    where the one-sided test of :func:`rate_above` (lower end) or its mirror (upper end,
    for ``rate < p0``) stops rejecting at level ``alpha``. Together, a ``1 - 2 alpha``
    confidence sequence; ``rate_above(k, n, p0) <= alpha`` exactly when ``p0`` is below the
    lower end."""
    if n <= 0:
        return (0.0, 1.0)
    estimate = k / n
    lower = 0.0
    if k > 0 and rate_above(k, n, 1e-9) <= alpha:
        lower = _bisect(lambda p: rate_above(k, n, p) <= alpha, 1e-9, estimate)
    upper = 1.0
    if k < n and rate_above(n - k, n, 1e-9) <= alpha:
        upper = 1.0 - _bisect(lambda q: rate_above(n - k, n, q) <= alpha, 1e-9, 1 - estimate)
    return (lower, upper)


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: how many observations, their mean and variance."""

    n: Any  # float, or arrays of floats (many samples at once)
    mean: Any
    variance: Any

    @classmethod
    def of_counts(cls, successes: Any, n: Any) -> Sample:
        """Bernoulli data (accuracy, error rate); the variance is that of the rate with one
        success and one failure added (so a side with all-correct labels is not certain).
        Arrays give a sample of arrays."""
        if isinstance(successes, (int, float)) and isinstance(n, (int, float)):
            rate = (successes + 1) / (n + 2)
            return cls(float(n), successes / max(n, 1), rate * (1 - rate))
        smoothed = (np.asarray(successes, dtype=float) + 1) / (np.asarray(n, dtype=float) + 2)
        mean = np.asarray(successes, dtype=float) / np.maximum(n, 1)
        return cls(*(_plain(x) for x in (n, mean, smoothed * (1 - smoothed))))

    @classmethod
    def of_sums(cls, n: Any, total: Any, total_sq: Any) -> Sample:
        """Any numbers, from their count, sum and sum of squares (unbiased variance)."""
        if all(isinstance(x, (int, float)) for x in (n, total, total_sq)):
            size = max(float(n), 1.0)
            middle = total / size
            spread = max(0.0, total_sq - size * middle * middle) / max(1.0, size - 1)
            return cls(float(n), middle, spread)
        count = np.maximum(np.asarray(n, dtype=float), 1)
        mean = np.asarray(total, dtype=float) / count
        spread = np.maximum(0.0, np.asarray(total_sq, dtype=float) - count * mean * mean)
        return cls(*(_plain(x) for x in (n, mean, spread / np.maximum(1.0, count - 1))))


def _plain(value: Any) -> Any:
    """A float for a 0-d value, the array otherwise."""
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array


@dataclass(frozen=True)
class Comparison:
    """A difference ``other - base`` of two means: its estimate, its always-valid
    interval, and the always-valid p-value of the test it was asked for."""

    estimate: float
    interval: tuple[float, float]
    p_value: float


# tightest around this many observations in all (Waudby-Smith et al. 2024, eq. for rho)
_T_OPT = 500.0


def _rho2(alpha: float, t_opt: float) -> float:
    log_term = -2 * math.log(alpha)
    return (log_term + math.log(log_term + 1)) / t_opt


def _standardized(base: Sample, other: Sample, margin: float) -> tuple[Any, Any, Any]:
    """(z, total n, standard error) of ``other.mean - base.mean - margin`` (arrays too)."""
    n_base, n_other = np.maximum(base.n, 1), np.maximum(other.n, 1)  # empty: p-value 1 later
    se = np.sqrt(np.asarray(base.variance) / n_base + np.asarray(other.variance) / n_other)
    diff = np.asarray(other.mean - base.mean - margin, dtype=float)
    # no spread at all: any difference is certain, none is no evidence (sign(0) * inf is NaN)
    with np.errstate(divide="ignore", invalid="ignore"):
        certain = np.where(diff == 0, 0.0, np.sign(diff) * np.inf)
        z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), certain)
    return (z, np.asarray(base.n + other.n, dtype=float), se)


def _log_normal_mixture(z: Any, n: Any, rho2: float, one_sided: bool) -> Any:
    """log M of the normal mixture over the standardized sum ``sqrt(n) z`` in time ``n``
    (two-sided: a N(0, rho2) mixture; one-sided: its half-normal on positive effects,
    Howard et al. 2021, Prop. 6). Infinite ``z`` (no spread at all) is certain."""
    c = np.asarray(n, dtype=float) * rho2
    z = np.asarray(z, dtype=float)
    finite = np.isfinite(z)
    zf = np.where(finite, z, 0.0)
    log_m = -0.5 * np.log1p(c) + c * zf * zf / (2 * (1 + c))
    if one_sided:
        log_m = log_m + math.log(2) + special.log_ndtr(zf * np.sqrt(c / (1 + c)))
        return np.where(finite, log_m, np.where(z > 0, np.inf, -np.inf))
    return np.where(finite, log_m, np.inf)


def _p(log_m: Any) -> Any:
    out = np.minimum(1.0, np.exp(-np.maximum(np.asarray(log_m, dtype=float), 0.0)))
    return float(out) if out.ndim == 0 else out


def _critical_z(n: float, rho2: float, alpha: float, one_sided: bool) -> float:
    """The smallest z whose mixture reaches 1/alpha (the boundary, in standard errors)."""
    target = -math.log(alpha)
    c = n * rho2
    if not one_sided:  # closed form: c z^2 / 2(1+c) - log(1+c)/2 = log(1/alpha)
        return math.sqrt(2 * (1 + c) / c * (target + 0.5 * math.log1p(c)))
    hi = 1.0
    while _log_normal_mixture(hi, n, rho2, one_sided) < target:
        hi *= 2
    return _bisect(lambda z: _log_normal_mixture(z, n, rho2, one_sided) < target, 0.0, hi)


def difference_above(
    base: Sample, other: Sample, margin: float = 0.0, t_opt: float = _T_OPT, alpha: float = 0.05
) -> Any:
    """The always-valid p-value of ``other.mean - base.mean > margin`` (one-sided).

    The half-normal mixture martingale of Howard et al. 2021 over the standardized
    difference of means, as in the asymptotic confidence sequences of Waudby-Smith et al.
    2024 and the mixture SPRT of Johari et al. 2017: valid as both samples grow.
    ``alpha`` and ``t_opt`` tune the mixture (tightest near ``alpha`` after ``t_opt``
    observations in all); the guarantee holds for every level whatever they are. The
    samples' fields may be arrays (one p-value each).
    """
    z, n, _se = _standardized(base, other, margin)
    p_value = _p(_log_normal_mixture(z, n, _rho2(alpha, t_opt), one_sided=True))
    empty = (np.asarray(base.n) <= 0) | (np.asarray(other.n) <= 0)
    if np.ndim(p_value) == 0:
        return 1.0 if bool(empty) else p_value
    return np.where(empty, 1.0, p_value)


def difference(
    base: Sample,
    other: Sample,
    alpha: float,
    margin: float = 0.0,
    one_sided: bool = False,
    t_opt: float = _T_OPT,
) -> Comparison:
    """``other.mean - base.mean`` with its always-valid interval and p-value.

    Two-sided (``H0: difference == margin``): the interval is the asymptotic confidence
    sequence at level ``alpha`` (Waudby-Smith et al. 2024, normal mixture). One-sided
    (``H0: difference <= margin``): the p-value is :func:`difference_above`'s and each end
    of the interval is a one-sided bound at ``alpha``, so the test rejects exactly when the
    lower end is above the margin.
    """
    estimate = other.mean - base.mean
    if base.n <= 0 or other.n <= 0:
        return Comparison(estimate, (-math.inf, math.inf), 1.0)
    rho2 = _rho2(alpha, t_opt)
    z, n, se = _standardized(base, other, margin)
    p_value = _p(_log_normal_mixture(z, n, rho2, one_sided))
    width = _critical_z(float(n), rho2, alpha, one_sided) * float(se)
    return Comparison(float(estimate), (estimate - width, estimate + width), float(p_value))


def mean_interval(sample: Sample, alpha: float, t_opt: float = _T_OPT) -> tuple[float, float]:
    """An asymptotic confidence sequence for one mean (Waudby-Smith et al. 2024)."""
    if sample.n <= 0:
        return (-math.inf, math.inf)
    width = _critical_z(sample.n, _rho2(alpha, t_opt), alpha, False)
    return (sample.mean - width * math.sqrt(sample.variance / sample.n),
            sample.mean + width * math.sqrt(sample.variance / sample.n))  # fmt: skip


def bonferroni(alpha: float, tests: int) -> float:
    """Each of ``tests`` tests' level so that the chance of any false rejection stays at
    most ``alpha`` (Bonferroni)."""
    return alpha / max(1, tests)
