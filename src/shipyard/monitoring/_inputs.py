"""The inputs every drift statistic is computed from, prepared once per column and side.

Numeric features: one sort per column and side (a counting sort for integers of a small
range); one linear merge of the two sorted samples gives both empirical CDFs on the merged
values, hence their largest gap (Kolmogorov–Smirnov) and the area between them
(Wasserstein), and nine binary searches give the counts in ten reference-quantile bins. No
statistic re-reads or re-sorts the data. Categorical features: each category's count on
each side (counted once, in Arrow), aligned. :class:`Inputs` holds what a statistic of
``_statistics.STATISTICS`` may read; ``drift_stream`` builds the same from its summaries.

Written here rather than calling SciPy per statistic: SciPy's functions each sort (or bin)
the data again, four times per column, and search it by bisection; tests check every
statistic against SciPy's.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BINS",
    "EPSILON",
    "Cdfs",
    "Inputs",
    "Scratch",
    "as_numbers",
    "bin_counts",
    "categorical_distribution",
    "categorical_inputs",
    "categorical_tallied",
    "decile_edges",
    "finite_sorted",
    "is_numeric",
    "numeric_distribution",
    "numeric_inputs",
    "same_arrow_kind",
    "shares_of",
    "short",
    "sorted_std",
]

BINS = 10
EPSILON = 1e-4  # share given to an empty bin in PSI and Jensen–Shannon


class Scratch:
    """Work arrays that one thread reuses from column to column. Fresh memory is paid for in
    page faults on first touch, and the threads of a process take turns at those (the
    kernel's lock on its memory map): with fresh arrays for every column, merging 100,000
    values took twice as long and threads barely overlapped."""

    def __init__(self) -> None:
        self.size = 0
        self.floats: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self.flags = np.empty(0, dtype=bool)

    def take(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Two float64 arrays and a boolean one of ``size`` values (contents undefined)."""
        if size > self.size:
            self.size = size
            self.floats = (np.empty(size), np.empty(size))
            self.flags = np.empty(size, dtype=bool)
        return self.floats[0][:size], self.floats[1][:size], self.flags[:size]


# -- sorted columns ---------------------------------------------------------------------


def is_numeric(kind: Any) -> bool:
    """Whether an Arrow type (not a dictionary) is compared as numbers: integers, floats,
    decimals, and dates, times and durations (as their integer storage)."""
    import pyarrow as pa

    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_temporal(kind)
        or pa.types.is_decimal(kind)
    )


def as_numbers(column: Any) -> Any:
    """A numeric Arrow column (or array) with dates, times and durations as their integers
    (timestamps in nanoseconds); other types unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(column, pa.timestamp("ns")).cast(pa.int64())
    if pa.types.is_temporal(kind):
        return column.cast(pa.int32() if kind.bit_width == 32 else pa.int64())
    return column


def finite_sorted(column: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """A numeric Arrow column's finite values as float64, ascending (nulls, NaN and
    infinities dropped), and for integers of a small range their tally (see _counting_sort)."""
    import pyarrow as pa

    if pa.types.is_integer(column.type):
        counted = _counting_sort(column)
        if counted is not None:
            return counted
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype != np.float64 or not values.flags.writeable:
        values = values.astype(np.float64)  # our own copy (a zero-copy view is read-only)
    values.sort()  # NaN last, infinities at the ends: the finite values are one slice
    low = int(np.searchsorted(values, -np.inf, side="right"))
    high = int(np.searchsorted(values, np.inf, side="left"))
    return values[low:high], None


def _counting_sort(column: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
    """An integer column's values as float64, ascending, by counting each value: O(n + range)
    rather than a comparison sort's O(n log n); and the tally, its distinct values (float64,
    ascending) and their counts. None when the range is wider than the count of values (a
    sort is then cheaper)."""
    import pyarrow.compute as pc

    present = column.drop_null() if column.null_count else column
    if len(present) == 0:
        return None
    bounds = pc.min_max(present)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if high - low >= len(present):
        return None
    ints = present.to_numpy(zero_copy_only=False)
    base = np.uint64 if ints.dtype.kind == "u" else np.int64  # wide enough for any offset
    offsets = ints.astype(base, copy=False) - base(low)  # each in [0, high - low]
    counts = np.bincount(offsets.view(np.int64), minlength=high - low + 1)
    levels = (np.arange(high - low + 1, dtype=base) + base(low)).astype(np.float64)
    seen = counts > 0
    return np.repeat(levels, counts), (levels[seen], counts[seen])


def sorted_std(sorted_values: np.ndarray) -> float:
    """The standard deviation of sorted finite values; beyond 1e150 their squares would
    overflow, so such values are scaled down first."""
    largest = max(abs(sorted_values[0]), abs(sorted_values[-1]))
    if largest < 1e150:
        return float(np.std(sorted_values))
    return float(np.std(sorted_values / largest)) * float(largest)


def decile_edges(sorted_values: np.ndarray) -> np.ndarray:
    """Inner bin edges at the reference's deciles (repeated edges merged)."""
    n = len(sorted_values)
    positions = (np.arange(1, BINS) * n) // BINS
    return np.unique(sorted_values[positions])


# -- inputs of the statistics -----------------------------------------------------------


@dataclass(frozen=True)
class Cdfs:
    """Numeric features: the two empirical CDFs compared along the merged values."""

    ks: float  # their largest gap
    area: float  # the area between them (Wasserstein-1)
    scale: float  # the reference's standard deviation (its |mean| when constant, or 1)
    # drift_stream's bounds: the exact gap is at most ks + ks_error; |area - exact| is at
    # most area_error (both 0 in drift, which computes them exactly)
    ks_error: float = 0.0
    area_error: float = 0.0


@dataclass(frozen=True)
class Inputs:
    """What a statistic reads of one feature: the two sides' counts per bin (numeric: the
    reference's decile bins) or per category (aligned, in the categories' order), those
    counts as shares (empty bins at ``EPSILON``, renormalised), and for numeric features the
    CDFs' comparison. ``described``: values reported after the statistics (categorical:
    ``categories`` and ``new_categories``)."""

    kind: str  # numeric or categorical
    reference_counts: np.ndarray
    current_counts: np.ndarray
    reference_shares: np.ndarray
    current_shares: np.ndarray
    cdfs: Cdfs | None = None
    described: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        kind: str,
        reference_counts: np.ndarray,
        current_counts: np.ndarray,
        cdfs: Cdfs | None = None,
        described: dict[str, float] | None = None,
    ) -> Inputs:
        """The inputs of these counts (their shares computed here)."""
        return cls(
            kind, reference_counts, current_counts, shares_of(reference_counts),
            shares_of(current_counts), cdfs, described or {},
        )  # fmt: skip

    @property
    def n(self) -> int:
        """Values present in the reference."""
        return int(self.reference_counts.sum())

    @property
    def m(self) -> int:
        """Values present in the current window."""
        return int(self.current_counts.sum())

    def swapped(self) -> Inputs:
        """The same feature with the sides exchanged (the bins and the scale kept)."""
        return Inputs(
            self.kind, self.current_counts, self.reference_counts, self.current_shares,
            self.reference_shares, self.cdfs, self.described,
        )  # fmt: skip


def numeric_inputs(
    reference: np.ndarray,
    current: np.ndarray,
    edges: np.ndarray,
    std: float,
    *,
    tallies: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    scratch: Scratch | None = None,
) -> Inputs:
    """The inputs of a numeric feature from two sorted samples (see the module docstring).

    ``tallies``, when both samples were counted: each one's distinct values and their
    counts. The CDFs are then merged from those, not from the samples. ``scratch``: work
    arrays to reuse.
    """
    if tallies is None:
        ks, area = _ks_wasserstein(reference, current, scratch or Scratch())
    else:
        ks, area = _ks_wasserstein_tallied(*tallies[0], *tallies[1])
    scale = std if std > 0 else (abs(float(np.mean(reference))) or 1.0)
    return Inputs.of(
        "numeric", bin_counts(reference, edges), bin_counts(current, edges), Cdfs(ks, area, scale)
    )


def _ks_wasserstein(
    reference: np.ndarray, current: np.ndarray, scratch: Scratch
) -> tuple[float, float]:
    """KS and W1 of two sorted samples, from one linear merge of them.

    Along the merged values, each empirical CDF is a running count of its own side's
    values. KS is the largest gap |F_r - F_c| where the value changes (at the end of a run
    of ties); W1 is the area between the CDFs, the sum of |F_r - F_c| times the step to the
    next value. These are SciPy's ks_2samp and wasserstein_distance, with the same
    floating-point operations on the same counts (the same KS digits), but the counts come
    from the merge instead of a binary search of each side for every value. W1's terms are
    summed pairwise rather than by a BLAS dot product as SciPy does: as accurate or more,
    and OpenBLAS would start threads that keep spinning on the cores the columns run on.
    """
    n, m = len(reference), len(current)
    # only argsort's result is a new array: the rest is the scratch's, reused in turn
    both, merged, from_reference = scratch.take(n + m)
    np.concatenate([reference, current], out=both)
    order = np.argsort(both, kind="stable")  # two sorted runs: timsort merges them
    np.take(both, order, out=merged, mode="clip")  # (clip: "raise" would buffer)
    steps = np.subtract(merged[1:], merged[:-1], out=both[:-1])  # to the next value
    np.less(order, n, out=from_reference)
    counts = order  # reference values up to each merged value (a cumsum of bools is slower)
    np.copyto(counts, from_reference)
    np.cumsum(counts, out=counts)
    gap = np.divide(counts, n, out=merged)  # F_r, as SciPy computes it
    from_current = np.logical_not(from_reference, out=from_reference)
    counts_c = counts.view(np.float64)  # counted in floats: exact below 2**53
    np.copyto(counts_c, from_current)
    np.cumsum(counts_c, out=counts_c)
    gap -= np.divide(counts_c, m, out=counts_c)  # F_r - F_c
    np.abs(gap, out=gap)
    # the last gap is 0 (both CDFs reach 1); within a run of ties the counts are partial
    ks = float(np.max(gap[:-1], where=steps != 0, initial=gap[-1]))
    np.multiply(gap[:-1], steps, out=steps)  # a zero step contributes nothing
    return ks, float(np.sum(steps))


def _ks_wasserstein_tallied(
    values_r: np.ndarray, counts_r: np.ndarray, values_c: np.ndarray, counts_c: np.ndarray
) -> tuple[float, float]:
    """KS and W1 as :func:`_ks_wasserstein`, from each sample's distinct values and their
    counts: the CDFs at the union of distinct values are running sums of the counts (the
    same KS digits as SciPy's)."""
    values = np.union1d(values_r, values_c)
    sides = []
    for distinct, counts in ((values_r, counts_r), (values_c, counts_c)):
        up_to = np.zeros(len(values), dtype=np.int64)
        up_to[np.searchsorted(values, distinct)] = counts
        np.cumsum(up_to, out=up_to)
        sides.append(up_to)
    gap = np.abs(sides[0] / int(sides[0][-1]) - sides[1] / int(sides[1][-1]))
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(values)))


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in the bins (-inf, e1), [e1, e2), ..., [ek, inf) by binary search."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate([[0], cuts, [len(sorted_values)]]))


def categorical_inputs(reference: Mapping[Any, int], current: Mapping[Any, int]) -> Inputs:
    """The inputs of a categorical feature from each side's count of every value."""
    values = _sorted_values(set(reference) | set(current))
    ref = np.fromiter(map(reference.get, values, itertools.repeat(0)), np.float64, len(values))
    cur = np.fromiter(map(current.get, values, itertools.repeat(0)), np.float64, len(values))
    return _categorical(ref, cur, len(current.keys() - reference.keys()))


def _categorical(ref: np.ndarray, cur: np.ndarray, new: int) -> Inputs:
    """From each side's counts of every category, in the categories' order."""
    described = {"categories": float(len(ref)), "new_categories": float(new)}
    return Inputs.of("categorical", ref, cur, described=described)


def categorical_tallied(
    reference: tuple[Any, np.ndarray], current: tuple[Any, np.ndarray], top: int = 20
) -> tuple[Inputs, dict[str, list[Any]]]:
    """:func:`categorical_inputs` and the chart's shares from the Arrow tallies of one type:
    the categories are aligned and ordered in Arrow rather than in Python dicts (the same
    order: Arrow sorts strings by their UTF-8 bytes, which is code-point order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    (values_r, counts_r), (values_c, counts_c) = reference, current
    union = pc.unique(pa.concat_arrays([values_r, values_c]))
    union = union.take(pc.array_sort_indices(union))
    ref, cur = np.zeros(len(union)), np.zeros(len(union))
    ref[pc.index_in(values_r, value_set=union).to_numpy()] = counts_r
    cur[pc.index_in(values_c, value_set=union).to_numpy()] = counts_c
    new = len(values_c) - pc.sum(pc.is_in(values_c, value_set=values_r)).as_py()
    total_r, total_c = int(counts_r.sum()) or 1, int(counts_c.sum()) or 1
    # the most common first (ties in category order)
    shown = np.argsort(-(ref / total_r + cur / total_c), kind="stable")[:top]
    distribution = {
        "bins": [str(v) for v in union.take(shown).to_pylist()],
        "reference": (ref[shown] / total_r).tolist(),
        "current": (cur[shown] / total_c).tolist(),
    }
    return _categorical(ref, cur, new), distribution


def same_arrow_kind(reference: Any, current: Any) -> bool:
    """Both tallies hold strings, bytes, integers or booleans of one type: kinds whose Arrow
    order and equality are Python's."""
    import pyarrow as pa

    kind = reference.type
    return bool(kind == current.type) and (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
    )


def _sorted_values(values: Collection[Any]) -> list[Any]:
    """Category values in order, by type name first (a column may mix types)."""
    if len({type(v) for v in values}) <= 1:  # the usual case: one type, no key to build
        return sorted(values)
    return sorted(values, key=lambda v: (str(type(v)), v))


def shares_of(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.full(len(counts), 1 / max(len(counts), 1))
    shares = np.maximum(shares, EPSILON)
    out: np.ndarray = shares / shares.sum()
    return out


# -- distributions for charts ----------------------------------------------------------


def numeric_distribution(
    reference: np.ndarray, current: np.ndarray, edges: np.ndarray
) -> dict[str, list[Any]]:
    bounds = [float(min(reference[0], current[0])), *edges.tolist()]
    bounds.append(float(max(reference[-1], current[-1])))
    labels = [f"{short(a)} to {short(b)}" for a, b in itertools.pairwise(bounds)]
    ref = bin_counts(reference, edges) / len(reference)
    cur = bin_counts(current, edges) / len(current)
    return {"bins": labels, "reference": ref.tolist(), "current": cur.tolist()}


def categorical_distribution(
    reference: Mapping[Any, int], current: Mapping[Any, int], top: int = 20
) -> dict[str, list[Any]]:
    total_r, total_c = sum(reference.values()) or 1, sum(current.values()) or 1
    every = list(set(reference) | set(current))
    zeros = itertools.repeat(0)
    shares = np.fromiter(map(reference.get, every, zeros), np.float64, len(every)) / total_r
    shares += np.fromiter(map(current.get, every, zeros), np.float64, len(every)) / total_c
    # the most common first (ties in set order, as a stable sort keeps them)
    values = [every[i] for i in np.argsort(-shares, kind="stable")[:top]]
    return {
        "bins": [str(v) for v in values],
        "reference": [reference.get(v, 0) / total_r for v in values],
        "current": [current.get(v, 0) / total_c for v in values],
    }


def short(value: float) -> str:
    return f"{value:.3g}"
