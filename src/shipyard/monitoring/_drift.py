"""Data drift per feature between a reference and a current window, and a verdict.

Every statistic of ``_statistics.STATISTICS`` that applies to a feature's kind (numeric:
Kolmogorov–Smirnov, Wasserstein (also normalised by the reference's standard deviation),
PSI and Jensen–Shannon; categorical: chi-square, PSI and Jensen–Shannon), computed from
the inputs ``_inputs`` prepares with one sort or count per column and side. A
reference's sorted columns are kept and reused across windows (:class:`Reference`). Columns
are compared side by side on threads (NumPy's sorts and merges and Arrow's counting release
the GIL), each column prepared and compared in one go, so only the columns in flight hold
their sorted copies.

Which statistic decides (defaults, overridable per feature): on small windows (either side at
most ``SMALL_WINDOW`` rows) the tests' p-values (KS for numbers, chi-square for categories,
below 0.05); on larger windows effect sizes, because a p-value there flags shifts too small
to matter: normalised Wasserstein at least 0.1 for numbers, Jensen–Shannon at least 0.1 for
categories.
"""

from __future__ import annotations

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
from shipyard.monitoring._inputs import (
    Scratch,
    as_numbers,
    categorical_distribution,
    categorical_inputs,
    categorical_tallied,
    decile_edges,
    finite_sorted,
    is_numeric,
    numeric_distribution,
    numeric_inputs,
    same_arrow_kind,
    sorted_std,
)
from shipyard.monitoring._statistics import (
    DEFAULT_METHODS,
    DEFAULTS,
    METHODS,
    is_p_value,
    measure,
    statistic,
)

__all__ = ["DEFAULTS", "DriftReport", "FeatureDrift", "Reference", "drift"]

T = TypeVar("T")
R = TypeVar("R")

SMALL_WINDOW = 1_000
MIN_ROWS = 30  # fewer non-missing values than this on a side: no test has power; no verdict


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
            p_value = f.statistic if is_p_value(f.method) else None
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


class Reference:
    """A reference window prepared once (columns sorted or counted), reused for each current
    window: ``ref = Reference.prepare(df); drift(ref, window1); drift(ref, window2)``.

    The constructor only stores its arguments; :meth:`fit` prepares the columns (once) and
    returns the reference, :meth:`prepare` builds and fits one. A reference that was never
    fitted is fitted on first use (``columns``, or :func:`drift` and ``quality``), so
    ``Reference(df)`` passed to drift again and again is prepared once too. Thread-safe:
    concurrent first uses prepare it once. Raises what :func:`drift` raises of its input
    (InvalidInput, NotFound for a dataset reference), when it is fitted.
    """

    def __init__(self, data: Any, categorical: Sequence[str] = (), workers: int = 0) -> None:
        self.data = data
        self.categorical = tuple(categorical)
        self.workers = workers
        self.columns_: dict[str, _Column] | None = None
        self._lock = threading.Lock()

    @classmethod
    def prepare(cls, data: Any, categorical: Sequence[str] = (), workers: int = 0) -> Reference:
        """A reference of ``data``, prepared now."""
        return cls(data, categorical, workers).fit()

    def fit(self) -> Reference:
        """Sort or count every column of the data (the first time only); returns self."""
        with self._lock:
            if self.columns_ is None:
                table = _table(self.data, "reference")
                self.columns_ = _prepare(table, set(self.categorical), self.workers, True)
                self.data = None  # the prepared columns hold what drift needs
        return self

    @property
    def columns(self) -> dict[str, _Column]:
        """Each column, prepared (fitting the reference if it was not yet)."""
        columns = self.columns_ if self.columns_ is not None else self.fit().columns_
        assert columns is not None
        return columns


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
    workspace = threading.local()  # one Scratch per thread, for this call only

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
        scratch = workspace.__dict__.setdefault("scratch", Scratch())
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
    if is_numeric(kind) and not categorical:
        finite, tally = finite_sorted(as_numbers(column))
        out = _Column("numeric", rows, 1 - len(finite) / rows if rows else 0.0, sorted=finite)
        out.tally = tally
        if len(finite) and reference:  # the current window's spread is not used
            out.std = sorted_std(finite)
            out.edges = decile_edges(finite)
        return out
    counted = pc.value_counts(column.drop_null())
    values, counts = counted.field("values"), counted.field("counts").to_numpy()
    out = _Column("categorical", rows, 1 - int(counts.sum()) / rows if rows else 0.0)
    out.counts = dict(zip(values.to_pylist(), counts.tolist(), strict=True))
    out.tally = (values, counts)
    return out


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
    scratch: Scratch | None = None,
) -> FeatureDrift:
    unjudged = _unjudgeable(name, ref, cur)
    if unjudged is not None:
        return unjudged
    assert ref is not None and cur is not None
    if ref.kind == "numeric":
        assert ref.sorted is not None and cur.sorted is not None and ref.edges is not None
        tallies = (ref.tally, cur.tally) if ref.tally and cur.tally else None
        inputs = numeric_inputs(
            ref.sorted, cur.sorted, ref.edges, ref.std, tallies=tallies, scratch=scratch
        )
        distribution = numeric_distribution(ref.sorted, cur.sorted, ref.edges)
    elif (
        ref.tally is not None
        and cur.tally is not None
        and same_arrow_kind(ref.tally[0], cur.tally[0])
    ):
        inputs, distribution = categorical_tallied(ref.tally, cur.tally)
    else:
        inputs = categorical_inputs(ref.counts or {}, cur.counts or {})
        distribution = categorical_distribution(ref.counts or {}, cur.counts or {})
    stats = measure(inputs)
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
    chosen = method or DEFAULT_METHODS[(ref.kind, fewest <= SMALL_WINDOW)]
    if chosen not in METHODS[ref.kind]:
        raise InvalidInput(
            f"methods[{name!r}]: {chosen} does not apply to a {ref.kind} feature (choose from "
            f"{', '.join(METHODS[ref.kind])})."
        )
    entry = statistic(chosen)
    limit = entry.threshold if threshold is None else float(threshold)
    value = stats[entry.deciding_key]
    drifted = value >= limit if entry.larger_is_drift else value < limit
    note = "constant in the reference" if constant else ""
    return FeatureDrift(
        name, ref.kind, chosen, value, limit, bool(drifted), stats, note=note, **common
    )


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
