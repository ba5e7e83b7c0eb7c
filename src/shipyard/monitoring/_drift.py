"""Data drift per feature between a reference and a current window, and a verdict.

Every statistic of ``_statistics.STATISTICS`` that applies to a feature's kind (numeric:
Kolmogorov–Smirnov, Wasserstein (also normalised by the reference's standard deviation),
PSI, Jensen–Shannon and Hellinger; categorical: chi-square, PSI, Jensen–Shannon and
Hellinger), computed from the inputs ``_inputs`` prepares with one sort or count per column
and side; ``_verdict`` judges them. A
reference's sorted columns are kept and reused across windows (:class:`Reference`). Columns
are compared side by side on threads (NumPy's sorts and merges and Arrow's counting release
the GIL), each column prepared and compared in one go, so only the columns in flight hold
their sorted copies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

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
from shipyard.monitoring._statistics import DEFAULTS, measure
from shipyard.monitoring._verdict import (
    DriftReport,
    FeatureDrift,
    check_choices,
    judge,
    unjudgeable,
    verdict,
)

__all__ = ["DEFAULTS", "DriftReport", "FeatureDrift", "Reference", "drift"]

T = TypeVar("T")
R = TypeVar("R")


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
        methods: per feature, the deciding method (a statistic of the table: ``ks``,
            ``wasserstein``, ``psi``, ``jensenshannon``, ``chisquare``, ``hellinger``),
            instead of the default by window size.
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
    check_choices(methods, thresholds, names)
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

    return verdict(_map(one, names, workers), importance, drift_share)


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


def _compare(
    name: str,
    ref: _Column | None,
    cur: _Column | None,
    method: str | None,
    threshold: float | None,
    scratch: Scratch | None = None,
) -> FeatureDrift:
    unjudged = unjudgeable(name, ref, cur)
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
    return judge(name, ref, cur, inputs, stats, distribution, method, threshold, constant)
