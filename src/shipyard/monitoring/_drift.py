"""Data drift per feature between a reference and a current window, and a verdict.

Numeric features: Kolmogorov–Smirnov (statistic and asymptotic p-value), Wasserstein distance
(and normalised by the reference's standard deviation), population stability index and
Jensen–Shannon distance on ten reference-quantile bins. All four come from one sort per
column and side (a counting sort for integers of a small range): one linear merge of the two
sorted samples gives both empirical CDFs on the merged values (KS and Wasserstein), and the
bin counts (PSI and Jensen–Shannon) take nine binary searches, so no statistic re-reads or
re-sorts the data; a reference's sorted columns are kept and reused across windows
(:class:`Reference`). Categorical features: chi-square test of homogeneity, PSI and
Jensen–Shannon on the category shares (counted once, in Arrow).

Written here rather than calling SciPy per statistic: SciPy's functions each sort (or bin)
the data again, four times per column, and search it by bisection; tests check every
statistic against SciPy's. Columns are compared side by side on threads (NumPy's sorts and
merges and Arrow's counting release the GIL), each column prepared and compared in one go, so
only the columns in flight hold their sorted copies.

Which statistic decides (defaults, overridable per feature): on small windows (either side at
most ``SMALL_WINDOW`` rows) the tests' p-values (KS for numbers, chi-square for categories,
below 0.05); on larger windows effect sizes, because a p-value there flags shifts too small
to matter: normalised Wasserstein at least 0.1 for numbers, Jensen–Shannon at least 0.1 for
categories.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

__all__ = ["DEFAULTS", "DriftReport", "FeatureDrift", "Reference", "drift"]

T = TypeVar("T")
R = TypeVar("R")

SMALL_WINDOW = 1_000
MIN_ROWS = 30  # fewer non-missing values than this on a side: no test has power; no verdict
BINS = 10
EPSILON = 1e-4  # share given to an empty bin in PSI and Jensen–Shannon
METHODS = {
    "numeric": ("ks", "wasserstein", "psi", "jensenshannon"),
    "categorical": ("chisquare", "psi", "jensenshannon"),
}
# method -> (default threshold, True when the statistic is a p-value: drift below it)
DEFAULTS: dict[str, tuple[float, bool]] = {
    "ks": (0.05, True),
    "chisquare": (0.05, True),
    "wasserstein": (0.1, False),  # normalised by the reference's standard deviation
    "psi": (0.1, False),
    "jensenshannon": (0.1, False),
}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's statistics and the verdict of its deciding method."""

    feature: str
    kind: str  # numeric or categorical ("" when the feature is missing on a side)
    method: str | None
    statistic: float | None  # the deciding method's value (a p-value for ks/chisquare)
    threshold: float | None
    drifted: bool
    stats: dict[str, float] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    reference_missing: float = 0.0  # share of missing values
    current_missing: float = 0.0
    note: str = ""  # why there is no verdict (missing on a side, all missing, too few rows)
    # for charts: bin (or category) labels and each side's shares
    distribution: dict[str, list[Any]] = field(default_factory=dict, repr=False)


@dataclass
class DriftReport:
    """Per-feature drift and the dataset-level verdict (``drifted``)."""

    features: list[FeatureDrift]
    share: float  # drifted share of the judged features (importance-weighted when given)
    drift_share: float  # the share at which the dataset counts as drifted
    weighted: bool

    @property
    def drifted(self) -> bool:
        return self.share >= self.drift_share and any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: method, statistic, p-value where the method has one,
        threshold, drifted; then every statistic computed and the notes."""
        rows = []
        for f in self.features:
            p_value = f.statistic if f.method in ("ks", "chisquare") else None
            rows.append(
                {
                    "feature": f.feature,
                    "kind": f.kind,
                    "method": f.method,
                    "statistic": f.statistic,
                    "p_value": p_value,
                    "threshold": f.threshold,
                    "drifted": f.drifted,
                    **f.stats,
                    "reference_rows": f.reference_rows,
                    "current_rows": f.current_rows,
                    "reference_missing": f.reference_missing,
                    "current_missing": f.current_missing,
                    "note": f.note,
                }
            )
        return pd.DataFrame(rows)

    def to_html(self, path: str | Path, title: str = "Data drift") -> Path:
        """A static HTML page: verdict, table and a chart per feature (opens offline)."""
        from shipyard.monitoring._report import write_html

        return write_html(self, path, title)

    def to_dict(self) -> dict[str, Any]:
        frame = self.to_frame().astype(object).where(lambda d: d.notna(), None)
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.drift_share,
            "weighted": self.weighted,
            "features": frame.to_dict("records"),
        }


@dataclass
class _Column:
    kind: str
    rows: int
    missing: float
    sorted: np.ndarray | None = None  # numeric: finite values, ascending
    counts: dict[Any, int] | None = None  # categorical: value -> count (missing excluded)
    std: float = 0.0
    edges: np.ndarray | None = None  # numeric reference: inner bin edges (quantiles)
    # the distinct values and how often each occurs: categorical, as an Arrow array; numeric
    # when counted rather than sorted (integers of a small range), ascending, as float64
    tally: tuple[Any, np.ndarray] | None = None

    @property
    def present(self) -> int:
        """Values not missing."""
        if self.sorted is not None:
            return len(self.sorted)
        return sum((self.counts or {}).values())


class _Scratch:
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


class Reference:
    """A reference window prepared once (columns sorted or counted), reused for each current
    window: ``ref = Reference(df); drift(ref, window1); drift(ref, window2)``."""

    def __init__(self, data: Any, categorical: Sequence[str] = (), workers: int = 0) -> None:
        table = _table(data, "reference")
        self.columns = _prepare(table, set(categorical), workers, reference=True)
        self.categorical = tuple(categorical)


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    workers: int = 0,
) -> DriftReport:
    """Drift of ``current`` against ``reference`` (DataFrames, Arrow tables, dataset
    references like ``"loans@1"``, or a prepared :class:`Reference`).

    Args:
        columns: features to compare (default: every column of either side).
        categorical: columns to treat as categories although they hold numbers.
        methods: per feature, the deciding method (``ks``, ``wasserstein``, ``psi``,
            ``jensenshannon``, ``chisquare``), instead of the default by window size.
        thresholds: per feature, the threshold of its deciding method.
        importance: per feature weights (e.g. a model's feature importances): the dataset
            verdict weighs drifted features by them.
        drift_share: the dataset drifts when at least this (weighted) share of the judged
            features drifts.
        workers: threads computing columns side by side (0: one per core).

    Raises:
        InvalidInput: a method, threshold or share that makes no sense (named).
    """
    if not 0 < drift_share <= 1:
        raise InvalidInput(f"drift_share must be in (0, 1]; got {drift_share}.")
    prepared: Reference | None = None
    reference_table: Any = None
    if isinstance(reference, Reference):
        prepared, reference_names = reference, list(reference.columns)
    else:
        reference_table = _table(reference, "reference")
        reference_names = reference_table.column_names
    current_table = _table(current, "current")
    categories = set(categorical) | set(prepared.categorical if prepared else ())
    in_reference, in_current = set(reference_names), set(current_table.column_names)
    names = list(columns) if columns is not None else _union(reference_names, current_table)
    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    _check_choices(methods, thresholds, names)
    workspace = threading.local()  # one _Scratch per thread, for this call only

    def one(name: str) -> FeatureDrift:
        # each column is prepared on both sides and compared in one task: its sorted copies
        # are dropped once compared (a prepared Reference keeps its own)
        if prepared is not None:
            ref = prepared.columns.get(name)
        elif name in in_reference:
            ref = _column(reference_table.column(name), name in categories, reference=True)
        else:
            ref = None
        cur = (
            _column(current_table.column(name), name in categories, reference=False)
            if name in in_current
            else None
        )
        scratch = workspace.__dict__.setdefault("scratch", _Scratch())
        return _compare(name, ref, cur, methods.get(name), thresholds.get(name), scratch)

    return _verdict(_map(one, names, workers), importance, drift_share)


# -- inputs -----------------------------------------------------------------------------


def _table(data: Any, side: str) -> Any:
    import pyarrow as pa

    if isinstance(data, str):
        from shipyard import data as datasets

        return datasets.resolve(data).to_arrow()
    if hasattr(data, "to_arrow") and hasattr(data, "ref"):  # a DatasetVersion
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise InvalidInput(
        f"{side} must be a DataFrame, an Arrow table or a dataset reference like 'loans@1'; "
        f"got {type(data).__name__}."
    )


def _union(reference: Collection[str], table: Any) -> list[str]:
    """The reference's column names, then the table's that the reference lacks."""
    names = list(reference)
    known = set(names)
    names += [n for n in table.column_names if n not in known]
    return names


def _check_choices(
    methods: Mapping[str, str], thresholds: Mapping[str, float], names: Sequence[str]
) -> None:
    for feature, method in methods.items():
        if method not in DEFAULTS:
            raise InvalidInput(
                f"methods[{feature!r}] must be one of {', '.join(DEFAULTS)}; got {method!r}."
            )
    for feature, value in thresholds.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"thresholds[{feature!r}] must be a non-negative number.")
    unknown = sorted((set(methods) | set(thresholds)) - set(names))
    if unknown:
        raise InvalidInput(f"methods/thresholds name columns not compared: {unknown}.")


def _prepare(
    table: Any, categorical: set[str], workers: int, reference: bool = False
) -> dict[str, _Column]:
    names = table.column_names

    def one(name: str) -> _Column:
        return _column(table.column(name), name in categorical, reference)

    return dict(zip(names, _map(one, names, workers), strict=True))


def _map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``fn`` over ``items`` in order, on ``workers`` threads (0: one per core).

    NumPy's sorts and merges and Arrow's counting release the GIL, so columns run side by
    side; more threads than cores would only hold more sorted copies at once.
    """
    threads = min(workers or _cores(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _column(column: Any, categorical: bool, reference: bool) -> _Column:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    rows = len(column)
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    numeric = (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_temporal(kind)
        or pa.types.is_decimal(kind)
    )
    if numeric and not categorical:
        if pa.types.is_timestamp(kind):
            column = pc.cast(column, pa.timestamp("ns")).cast(pa.int64())
        elif pa.types.is_temporal(kind):  # dates, times, durations: their integer storage
            column = column.cast(pa.int32() if kind.bit_width == 32 else pa.int64())
        finite, tally = _finite_sorted(column)
        out = _Column("numeric", rows, 1 - len(finite) / rows if rows else 0.0, sorted=finite)
        out.tally = tally
        if len(finite) and reference:  # the current window's spread is not used
            out.std = _std(finite)
            out.edges = _edges(finite)
        return out
    counted = pc.value_counts(column.drop_null())
    values, counts = counted.field("values"), counted.field("counts").to_numpy()
    out = _Column("categorical", rows, 1 - int(counts.sum()) / rows if rows else 0.0)
    out.counts = dict(zip(values.to_pylist(), counts.tolist(), strict=True))
    out.tally = (values, counts)
    return out


def _finite_sorted(column: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
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


def _std(sorted_values: np.ndarray) -> float:
    """The standard deviation of sorted finite values; beyond 1e150 their squares would
    overflow, so such values are scaled down first."""
    largest = max(abs(sorted_values[0]), abs(sorted_values[-1]))
    if largest < 1e150:
        return float(np.std(sorted_values))
    return float(np.std(sorted_values / largest)) * float(largest)


def _edges(sorted_values: np.ndarray) -> np.ndarray:
    """Inner bin edges at the reference's deciles (repeated edges merged)."""
    n = len(sorted_values)
    positions = (np.arange(1, BINS) * n) // BINS
    return np.unique(sorted_values[positions])


# -- statistics --------------------------------------------------------------------------


def numeric_stats(
    reference: np.ndarray,
    current: np.ndarray,
    edges: np.ndarray,
    std: float,
    *,
    tallies: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    scratch: _Scratch | None = None,
) -> dict[str, float]:
    """Every numeric statistic from two sorted samples (see the module docstring).

    ``tallies``, when both samples were counted: each one's distinct values and their
    counts. KS and Wasserstein then merge those, not the samples. ``scratch``: work arrays
    to reuse.
    """
    n, m = len(reference), len(current)
    if tallies is None:
        ks, wasserstein = _ks_wasserstein(reference, current, scratch or _Scratch())
    else:
        ks, wasserstein = _ks_wasserstein_tallied(*tallies[0], *tallies[1])
    p_value = ks_p_value(ks, n, m)
    p_ref = _shares(_bin_counts(reference, edges))
    p_cur = _shares(_bin_counts(current, edges))
    scale = std if std > 0 else (abs(float(np.mean(reference))) or 1.0)
    return {
        "ks": ks,
        "ks_p_value": p_value,
        "wasserstein": wasserstein,
        "wasserstein_norm": wasserstein / scale,
        "psi": _psi(p_ref, p_cur),
        "jensenshannon": _js(p_ref, p_cur),
    }


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


def _ks_wasserstein(
    reference: np.ndarray, current: np.ndarray, scratch: _Scratch
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


def _bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in the bins (-inf, e1), [e1, e2), ..., [ek, inf) by binary search."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate([[0], cuts, [len(sorted_values)]]))


def categorical_stats(reference: Mapping[Any, int], current: Mapping[Any, int]) -> dict[str, float]:
    values = _sorted_values(set(reference) | set(current))
    ref = np.fromiter(map(reference.get, values, itertools.repeat(0)), np.float64, len(values))
    cur = np.fromiter(map(current.get, values, itertools.repeat(0)), np.float64, len(values))
    return _categorical_stats(ref, cur, len(current.keys() - reference.keys()))


def _categorical_stats(ref: np.ndarray, cur: np.ndarray, new: int) -> dict[str, float]:
    """The statistics from each side's counts of every category, in the categories' order."""
    from scipy.stats import chi2_contingency

    if len(ref) < 2:
        chi2, p_value = 0.0, 1.0
    else:
        chi2, p_value, _, _ = chi2_contingency(np.vstack([ref, cur]), correction=False)
    p_ref, p_cur = _shares(ref), _shares(cur)
    return {
        "chisquare": float(chi2),
        "chisquare_p_value": float(p_value),
        "psi": _psi(p_ref, p_cur),
        "jensenshannon": _js(p_ref, p_cur),
        "categories": float(len(ref)),
        "new_categories": float(new),
    }


def _categorical_tallied(
    reference: tuple[Any, np.ndarray], current: tuple[Any, np.ndarray], top: int = 20
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """:func:`categorical_stats` and the chart's shares from the Arrow tallies of one type:
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
    stats = _categorical_stats(ref, cur, new)
    total_r, total_c = int(counts_r.sum()) or 1, int(counts_c.sum()) or 1
    # the most common first (ties in category order)
    shown = np.argsort(-(ref / total_r + cur / total_c), kind="stable")[:top]
    distribution = {
        "bins": [str(v) for v in union.take(shown).to_pylist()],
        "reference": (ref[shown] / total_r).tolist(),
        "current": (cur[shown] / total_c).tolist(),
    }
    return stats, distribution


def _same_arrow_kind(reference: Any, current: Any) -> bool:
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


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.full(len(counts), 1 / max(len(counts), 1))
    shares = np.maximum(shares, EPSILON)
    out: np.ndarray = shares / shares.sum()
    return out


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((q - p) * np.log(q / p)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (natural log), as ``scipy.spatial.distance.jensenshannon``."""
    mid = (p + q) / 2
    divergence = (np.sum(p * np.log(p / mid)) + np.sum(q * np.log(q / mid))) / 2
    return float(math.sqrt(max(divergence, 0.0)))


# -- verdicts ----------------------------------------------------------------------------


class _Side(Protocol):
    """What a verdict needs of one side of a feature (a :class:`_Column` here, a streamed
    summary in ``_stream``)."""

    kind: str
    rows: int

    @property
    def missing(self) -> float: ...

    @property
    def present(self) -> int: ...


def _compare(
    name: str,
    ref: _Column | None,
    cur: _Column | None,
    method: str | None,
    threshold: float | None,
    scratch: _Scratch | None = None,
) -> FeatureDrift:
    unjudged = _unjudgeable(name, ref, cur)
    if unjudged is not None:
        return unjudged
    assert ref is not None and cur is not None
    if ref.kind == "numeric":
        assert ref.sorted is not None and cur.sorted is not None and ref.edges is not None
        tallies = (ref.tally, cur.tally) if ref.tally and cur.tally else None
        stats = numeric_stats(
            ref.sorted, cur.sorted, ref.edges, ref.std, tallies=tallies, scratch=scratch
        )
        distribution = _numeric_distribution(ref.sorted, cur.sorted, ref.edges)
    elif (
        ref.tally is not None
        and cur.tally is not None
        and _same_arrow_kind(ref.tally[0], cur.tally[0])
    ):
        stats, distribution = _categorical_tallied(ref.tally, cur.tally)
    else:
        stats = categorical_stats(ref.counts or {}, cur.counts or {})
        distribution = _categorical_distribution(ref.counts or {}, cur.counts or {})
    constant = ref.kind == "numeric" and ref.std == 0
    return _judge(name, ref, cur, stats, distribution, method, threshold, constant)


def _unjudgeable(name: str, ref: _Side | None, cur: _Side | None) -> FeatureDrift | None:
    """The feature without a verdict when a side lacks it, the sides' kinds differ or a side
    is all missing; None when its statistics can be computed."""
    if ref is None or cur is None:
        side = "reference" if ref is None else "current window"
        return FeatureDrift(
            name, "", None, None, None, False,
            reference_rows=ref.rows if ref else 0, current_rows=cur.rows if cur else 0,
            note=f"missing in the {side}",
        )  # fmt: skip
    if ref.kind != cur.kind:
        return FeatureDrift(
            name, cur.kind, None, None, None, False,
            note=f"{ref.kind} in the reference but {cur.kind} in the current window",
            **_sizes(ref, cur),
        )  # fmt: skip
    if ref.present == 0 or cur.present == 0:
        side = "reference" if ref.present == 0 else "current window"
        return FeatureDrift(
            name, ref.kind, None, None, None, False, note=f"all missing in the {side}",
            **_sizes(ref, cur),
        )  # fmt: skip
    return None


def _sizes(ref: _Side, cur: _Side) -> dict[str, Any]:
    return {
        "reference_rows": ref.rows,
        "current_rows": cur.rows,
        "reference_missing": ref.missing,
        "current_missing": cur.missing,
    }


def _judge(
    name: str,
    ref: _Side,
    cur: _Side,
    stats: dict[str, float],
    distribution: dict[str, list[Any]],
    method: str | None,
    threshold: float | None,
    constant: bool,
) -> FeatureDrift:
    """The verdict on a feature's statistics: its deciding method (chosen, or the default for
    the window's size), compared with its threshold (given, or the method's default)."""
    common = {**_sizes(ref, cur), "distribution": distribution}
    fewest = min(ref.present, cur.present)
    if fewest < MIN_ROWS:
        return FeatureDrift(
            name, ref.kind, None, None, None, False, stats,
            note=f"too few values to judge ({fewest} < {MIN_ROWS})", **common,
        )  # fmt: skip
    small = fewest <= SMALL_WINDOW
    chosen = method or (
        ("ks" if small else "wasserstein")
        if ref.kind == "numeric"
        else ("chisquare" if small else "jensenshannon")
    )
    if chosen not in METHODS[ref.kind]:
        raise InvalidInput(
            f"methods[{name!r}]: {chosen} does not apply to a {ref.kind} feature (choose from "
            f"{', '.join(METHODS[ref.kind])})."
        )
    default, is_p_value = DEFAULTS[chosen]
    limit = default if threshold is None else float(threshold)
    key = {"ks": "ks_p_value", "chisquare": "chisquare_p_value", "wasserstein": "wasserstein_norm"}
    value = stats[key.get(chosen, chosen)]
    drifted = value < limit if is_p_value else value >= limit
    note = "constant in the reference" if constant else ""
    return FeatureDrift(
        name, ref.kind, chosen, value, limit, bool(drifted), stats, note=note, **common
    )


def _numeric_distribution(
    reference: np.ndarray, current: np.ndarray, edges: np.ndarray
) -> dict[str, list[Any]]:
    bounds = [float(min(reference[0], current[0])), *edges.tolist()]
    bounds.append(float(max(reference[-1], current[-1])))
    labels = [f"{_short(a)} to {_short(b)}" for a, b in itertools.pairwise(bounds)]
    ref = _bin_counts(reference, edges) / len(reference)
    cur = _bin_counts(current, edges) / len(current)
    return {"bins": labels, "reference": ref.tolist(), "current": cur.tolist()}


def _categorical_distribution(
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


def _short(value: float) -> str:
    return f"{value:.3g}"


def _verdict(
    features: list[FeatureDrift], importance: Mapping[str, float] | None, drift_share: float
) -> DriftReport:
    judged = [f for f in features if f.method is not None]
    if importance:
        weights = {f.feature: max(float(importance.get(f.feature, 0.0)), 0.0) for f in judged}
        total = sum(weights.values())
        share = sum(weights[f.feature] for f in judged if f.drifted) / total if total else 0.0
    else:
        share = sum(f.drifted for f in judged) / len(judged) if judged else 0.0
    return DriftReport(features, share, drift_share, bool(importance))
