"""The drift statistics: one table, :data:`STATISTICS`, that everything else reads.

``drift`` and ``drift_stream`` compute every statistic of a feature's kind from the inputs
prepared once per column (``_inputs.Inputs``: bin or category counts and shares, and for
numbers the CDFs' largest gap and the area between them); the verdict looks its deciding
statistic up here (threshold, direction); the monitors store every value as a time series
and the reports label them from here.

To add a statistic: write a class with the fields of :class:`DriftStatistic` below, put an
instance in :data:`STATISTICS`, and test its values against a hand computation; the
battery ``shipyard.testing.statistics`` then checks it with the others.

Defaults (``DEFAULT_METHODS``): on small windows (either side at most ``SMALL_WINDOW``
values) the tests' p-values (KS for numbers, chi-square for categories, below 0.05); on
larger windows effect sizes, because a p-value there flags shifts too small to matter:
normalised Wasserstein at least 0.1 for numbers, Jensen–Shannon at least 0.05 for
categories. An effect size alone is not enough: distances measured on samples are biased
upward (over many categories with few rows each, far beyond any threshold), so the verdict
also asks each effect size to be beyond sampling noise (``beyond_noise``: the KS p-value
for Wasserstein; a null resampled from the counts for the distances of shares, ``_noise``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._inputs import (
    Cdfs,
    Inputs,
    Scratch,
    categorical_inputs,
    numeric_inputs,
)
from shipyard.monitoring._noise import Noise, noise_of_terms

__all__ = [
    "DEFAULTS",
    "DEFAULT_METHODS",
    "METHODS",
    "STATISTICS",
    "DriftStatistic",
    "categorical_stats",
    "deciding_key",
    "is_p_value",
    "jensen_shannon",
    "ks_p_value",
    "label",
    "measure",
    "numeric_stats",
    "psi",
    "statistic",
]

KINDS = ("numeric", "categorical")


class DriftStatistic(Protocol):
    """One drift statistic: what it applies to, how it is computed, how it judges.

    Contract (checked for every entry by ``shipyard.testing.statistics``): ``compute`` is a
    pure function of the inputs, thread-safe, and returns a finite number for each of
    ``keys`` on any inputs of a kind it applies to (constant or tiny samples included);
    a sample against itself gives ``identical``; with ``symmetric`` the values do not
    depend on which side is the reference (given the same bins and scale); in
    ``drift_stream`` each value is within ``stream_bound`` of ``drift``'s.
    """

    @property
    def name(self) -> str:
        """The method's name (``methods={"age": "ks"}``), unique in the table."""

    @property
    def label(self) -> str:
        """How reports name its deciding value."""

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of feature it applies to: numeric and/or categorical."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The values it adds to a feature's statistics, in order."""

    @property
    def deciding_key(self) -> str:
        """The one of ``keys`` compared with the threshold."""

    @property
    def larger_is_drift(self) -> bool:
        """False: the deciding value is a p-value, drift below the threshold."""

    @property
    def threshold(self) -> float:
        """The default threshold of the deciding value."""

    @property
    def judging(self) -> bool:
        """Whether it can decide a feature's verdict (``methods=``)."""

    @property
    def symmetric(self) -> bool:
        """Whether swapping the sides (same bins, same scale) leaves the values as they are."""

    @property
    def identical(self) -> tuple[float, ...]:
        """Each key's value for a sample against itself, in the order of ``keys``."""

    @property
    def streamed(self) -> str:
        """In drift_stream: ``exact``, or ``bounded`` (within ``stream_bound``)."""

    def compute(self, inputs: Inputs) -> dict[str, float]:
        """Each of ``keys`` for one feature."""
        ...

    def stream_errors(self, inputs: Inputs) -> dict[str, float]:
        """The error bounds drift_stream reports beside the values ({} when exact)."""
        ...

    def stream_bound(self, stats: Mapping[str, float], key: str, n: int, m: int) -> float:
        """How far drift_stream's ``key`` may be from drift's, given drift_stream's
        statistics of the feature (``n``, ``m``: values present on each side)."""
        ...

    def beyond_noise(self, inputs: Inputs, stats: Mapping[str, float], alpha: float) -> Noise:
        """An effect size's p-value under no drift (it decides with the threshold: beyond
        noise below ``alpha``) and its noise level at ``alpha`` (None when not estimated);
        a p-value statistic answers its own value."""
        ...


class Statistic(abc.ABC):
    """A base for the entries: the fields of :class:`DriftStatistic`, and the defaults of a
    statistic computed from the bins or categories alone (symmetric; drift_stream has the
    exact counts, so it gives the same values)."""

    name: str
    label: str
    kinds: tuple[str, ...]
    keys: tuple[str, ...]
    deciding_key: str
    larger_is_drift: bool
    threshold: float
    judging: bool = True
    symmetric: bool = True
    identical: tuple[float, ...]
    streamed: str = "exact"

    @abc.abstractmethod
    def compute(self, inputs: Inputs) -> dict[str, float]:
        """The statistic's ``keys`` and their values, from the column's prepared inputs."""

    def stream_errors(self, inputs: Inputs) -> dict[str, float]:
        return {}

    def stream_bound(self, stats: Mapping[str, float], key: str, n: int, m: int) -> float:
        return 0.0

    def beyond_noise(self, inputs: Inputs, stats: Mapping[str, float], alpha: float) -> Noise:
        return Noise(stats[self.deciding_key], None)


class ShareDistance(Statistic):
    """A base for the statistics of the bin (or category) shares, each a function
    (``finish``) of a sum over the bins of ``terms``: the sum's null distribution, from the
    counts, tells the value from sampling noise (``_noise``)."""

    kinds = ("numeric", "categorical")
    larger_is_drift = True

    @abc.abstractmethod
    def terms(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Each bin's (or category's) term, elementwise, from its shares on each side."""

    def finish(self, total: float) -> float:
        """The statistic of the terms' sum."""
        return total

    def compute(self, inputs: Inputs) -> dict[str, float]:
        total = float(np.sum(self.terms(inputs.reference_shares, inputs.current_shares)))
        return {self.deciding_key: self.finish(total)}

    def beyond_noise(self, inputs: Inputs, stats: Mapping[str, float], alpha: float) -> Noise:
        return noise_of_terms(inputs, self.terms, self.finish, alpha)


def _cdfs(inputs: Inputs) -> Cdfs:
    if inputs.cdfs is None:
        raise InvalidInput(f"this statistic needs numeric inputs; got {inputs.kind}.")
    return inputs.cdfs


# -- the statistics ---------------------------------------------------------------------


class KolmogorovSmirnov(Statistic):
    """The CDFs' largest gap and its asymptotic two-sample p-value. drift_stream knows the
    gap from below (``ks_error`` above it), so its p-value errs towards no drift."""

    name = "ks"
    label = "KS p-value"
    kinds = ("numeric",)
    keys = ("ks", "ks_p_value")
    deciding_key = "ks_p_value"
    larger_is_drift = False
    threshold = 0.05
    identical = (0.0, 1.0)
    streamed = "bounded"

    def compute(self, inputs: Inputs) -> dict[str, float]:
        ks = _cdfs(inputs).ks
        return {"ks": ks, "ks_p_value": ks_p_value(ks, inputs.n, inputs.m)}

    def stream_errors(self, inputs: Inputs) -> dict[str, float]:
        return {"ks_error": _cdfs(inputs).ks_error}

    def stream_bound(self, stats: Mapping[str, float], key: str, n: int, m: int) -> float:
        error = stats["ks_error"]
        if key == "ks":
            return error
        ks = stats["ks"]
        return ks_p_value(ks, n, m) - ks_p_value(min(ks + error, 1.0), n, m)


class ChiSquare(Statistic):
    """The chi-square test of homogeneity of the category counts (no continuity
    correction), and its p-value."""

    name = "chisquare"
    label = "chi-square p-value"
    kinds = ("categorical",)
    keys = ("chisquare", "chisquare_p_value")
    deciding_key = "chisquare_p_value"
    larger_is_drift = False
    threshold = 0.05
    identical = (0.0, 1.0)

    def compute(self, inputs: Inputs) -> dict[str, float]:
        from scipy.stats import chi2_contingency

        ref, cur = inputs.reference_counts, inputs.current_counts
        if len(ref) < 2:
            return {"chisquare": 0.0, "chisquare_p_value": 1.0}
        chi2, p_value, _, _ = chi2_contingency(np.vstack([ref, cur]), correction=False)
        return {"chisquare": float(chi2), "chisquare_p_value": float(p_value)}


class Wasserstein(Statistic):
    """The area between the CDFs (Wasserstein-1), and normalised by the reference's spread
    (which decides). drift_stream bounds the area's error (``wasserstein_error``)."""

    name = "wasserstein"
    label = "normalised Wasserstein"
    kinds = ("numeric",)
    keys = ("wasserstein", "wasserstein_norm")
    deciding_key = "wasserstein_norm"
    larger_is_drift = True
    threshold = 0.1  # normalised by the reference's standard deviation
    identical = (0.0, 0.0)
    streamed = "bounded"

    def compute(self, inputs: Inputs) -> dict[str, float]:
        cdfs = _cdfs(inputs)
        return {"wasserstein": cdfs.area, "wasserstein_norm": cdfs.area / cdfs.scale}

    def stream_errors(self, inputs: Inputs) -> dict[str, float]:
        return {"wasserstein_error": _cdfs(inputs).area_error}

    def stream_bound(self, stats: Mapping[str, float], key: str, n: int, m: int) -> float:
        error = stats["wasserstein_error"]
        if key == "wasserstein" or stats["wasserstein"] == 0:
            return error
        return error * stats["wasserstein_norm"] / stats["wasserstein"]  # over the scale

    def beyond_noise(self, inputs: Inputs, stats: Mapping[str, float], alpha: float) -> Noise:
        """The KS test's p-value: computed already, and as many rows make a mean shift
        significant as make the CDFs' largest gap so."""
        return Noise(stats["ks_p_value"], None, "KS p")


class PopulationStability(ShareDistance):
    """The population stability index of the bin (or category) shares."""

    name = "psi"
    label = "PSI"
    keys = ("psi",)
    deciding_key = "psi"
    threshold = 0.1
    identical = (0.0,)

    def terms(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        out: np.ndarray = (q - p) * np.log(q / p)
        return out


class JensenShannon(ShareDistance):
    """The Jensen–Shannon distance (natural log) of the bin (or category) shares. Its
    threshold, 0.05, is about a 6-point move of share between two of three categories."""

    name = "jensenshannon"
    label = "Jensen–Shannon distance"
    keys = ("jensenshannon",)
    deciding_key = "jensenshannon"
    threshold = 0.05
    identical = (0.0,)

    def terms(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        mid = (p + q) / 2
        out: np.ndarray = p * np.log(p / mid) + q * np.log(q / mid)
        return out

    def finish(self, total: float) -> float:
        return math.sqrt(max(total / 2, 0.0))


class Hellinger(ShareDistance):
    """The Hellinger distance of the bin (or category) shares, ``sqrt(sum((sqrt(p) -
    sqrt(q))**2) / 2)``: 0 for the same shares, 1 for shares with nothing in common;
    bounded, unlike PSI, and less swayed by nearly empty bins than Jensen–Shannon."""

    name = "hellinger"
    label = "Hellinger distance"
    keys = ("hellinger",)
    deciding_key = "hellinger"
    threshold = 0.1
    identical = (0.0,)

    def terms(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        gaps = np.sqrt(p) - np.sqrt(q)
        out: np.ndarray = gaps * gaps
        return out

    def finish(self, total: float) -> float:
        return math.sqrt(max(total, 0.0) / 2)


def ks_p_value(ks: float, n: int, m: int) -> float:
    """The two-sample KS p-value of statistic ``ks`` for samples of ``n`` and ``m`` values."""
    from scipy.special import kolmogorov
    from scipy.stats import kstwo

    effective = round(n * m / (n + m)) if n + m else 0
    if effective <= 0:
        return 1.0
    # SciPy's asymptotic two-sample p-value is kstwo.sf(D, round(nm/(n+m))); it takes half a
    # second when the p-value is astronomically small, so the limiting distribution
    # (kolmogorov is kstwobign.sf without its argument checks) answers first and the exact
    # one is asked only where its digits could matter.
    p_value = float(kolmogorov(ks * math.sqrt(effective)))
    if p_value > 1e-8:
        p_value = float(kstwo.sf(ks, effective))
    return p_value


def psi(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(PopulationStability().terms(p, q)))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (natural log), as ``scipy.spatial.distance.jensenshannon``."""
    entry = JensenShannon()
    return entry.finish(float(np.sum(entry.terms(p, q))))


# -- the table -------------------------------------------------------------------------

STATISTICS: tuple[DriftStatistic, ...] = (
    KolmogorovSmirnov(),
    ChiSquare(),
    Wasserstein(),
    PopulationStability(),
    JensenShannon(),
    Hellinger(),
)
_BY_NAME = {s.name: s for s in STATISTICS}
# the methods that can judge a feature of each kind, in the table's order
METHODS = {
    kind: tuple(s.name for s in STATISTICS if s.judging and kind in s.kinds) for kind in KINDS
}
# method -> (default threshold, True when the deciding value is a p-value: drift below it)
DEFAULTS: dict[str, tuple[float, bool]] = {
    s.name: (s.threshold, not s.larger_is_drift) for s in STATISTICS if s.judging
}
# (kind, small window) -> the method that judges when none is chosen
DEFAULT_METHODS = {
    ("numeric", True): "ks",
    ("numeric", False): "wasserstein",
    ("categorical", True): "chisquare",
    ("categorical", False): "jensenshannon",
}


def statistic(name: str) -> DriftStatistic:
    """The statistic called ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidInput(
            f"{name!r} is not a drift statistic; choose from {', '.join(_BY_NAME)}."
        ) from None


def deciding_key(method: str | None) -> str | None:
    """The key of a feature's statistics that ``method`` compares with its threshold."""
    return None if method is None else _BY_NAME[method].deciding_key


def is_p_value(method: str | None) -> bool:
    return method is not None and not _BY_NAME[method].larger_is_drift


def label(method: str | None) -> str:
    """How reports name ``method``'s deciding value (the name itself when unknown)."""
    found = _BY_NAME.get(method or "")
    return found.label if found is not None else str(method)


def measure(inputs: Inputs, *, stream: bool = False) -> dict[str, float]:
    """Every statistic of the table that applies to the feature's kind, in the table's
    order, then (``stream``) their error bounds, then the descriptive values."""
    applied = [s for s in STATISTICS if inputs.kind in s.kinds]
    out: dict[str, float] = {}
    for entry in applied:
        out.update(entry.compute(inputs))
    if stream:
        for entry in applied:
            out.update(entry.stream_errors(inputs))
    out.update(inputs.described)
    return out


def numeric_stats(
    reference: np.ndarray,
    current: np.ndarray,
    edges: np.ndarray,
    std: float,
    *,
    tallies: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    scratch: Scratch | None = None,
) -> dict[str, float]:
    """Every numeric statistic from two sorted samples (see ``_inputs.numeric_inputs``)."""
    return measure(numeric_inputs(reference, current, edges, std, tallies=tallies, scratch=scratch))


def categorical_stats(reference: Mapping[Any, int], current: Mapping[Any, int]) -> dict[str, float]:
    """Every categorical statistic from each side's count of every value."""
    return measure(categorical_inputs(reference, current))
