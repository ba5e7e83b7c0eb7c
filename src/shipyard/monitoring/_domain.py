"""Multivariate drift: can a classifier tell the current window from the reference?

Per-feature tests (:func:`shipyard.monitoring.drift`) compare one column at a time and miss a
change in how columns move together (a correlation that flips sign leaves every marginal
as it was). Here a gradient-boosting classifier (LightGBM, one thread) learns to tell
reference rows (label 0) from current rows (label 1) on all columns at once. If the windows
come from one distribution no classifier can do better than chance on rows it did not train
on, so its cross-validated ROC AUC stays near 0.5; the further above, the more the windows
differ, and the classifier's gain says in which columns.

The two sides are balanced (the larger is subsampled) and capped at ``max_rows`` each; each
side's rows are dealt evenly into ``folds`` folds, so every fold holds as many reference as
current rows. The AUC is each fold's held-out AUC, averaged (every fold weighs the same).

Verdict: drifted when the AUC is both significant (one-sided p-value below ``alpha``) and at
least ``threshold`` (default 0.55), i.e. the difference is real and large enough to matter:
on 50,000 rows a side an AUC of 0.52 is significant yet no reason to page anyone, and on 60
rows a side an AUC of 0.6 is well within chance.

The p-value holds whatever the data, and errs on the side of no alarm. Under the null
hypothesis (every row drawn independently from one distribution) a fold's model is trained on
the other folds' rows, so its scores on its own fold's rows are independent and identically
distributed whatever their labels: the fold's AUC is a Mann–Whitney U with mean 0.5 and the
tie-corrected variance ``sum((r - mean r)^2) / (n1 n0 N (N - 1))`` (ranks ``r`` of the
fold's ``N = n1 + n0`` scores), and ``z_k`` (its distance from 0.5 in standard deviations)
is standard normal. The folds are not independent of each other, though: each fold's rows
also trained the other folds' models. Treating them as independent (or pooling all
out-of-fold scores into one Mann–Whitney test) understates the variance: in simulations
with no drift and 100 rows a side it gave p < 0.01 in 5% of runs. The mean of the ``z_k``
has variance at most 1 however they correlate, so its normal tail is a valid one-sided
p-value, exact when the folds agree perfectly and conservative otherwise (no run of those
simulations reached p < 0.01). The price is power on small windows (at 1,000 rows a side an
AUC needs about 0.57 to reach p < 0.01); from about 2,000 rows a side the effect threshold
decides.

What is left out (named in ``notes``, never a crash and never a cause of drift): columns on
one side only or of another kind on each side, columns all missing or constant within a
window (a batch id or a model version tells windows apart by construction; :func:`drift`
and :func:`quality` judge single columns), and datetime columns whose ranges in the two
windows do not overlap (the time axis the windows were cut on). Windows with fewer than
``MIN_ROWS`` rows get no verdict. Datetimes become seconds; strings (and ``categorical``
columns) become categories, the ``MAX_CATEGORIES`` most common of both windows and one
"other" (values in fewer than ``MIN_CATEGORY_ROWS`` rows join it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._domain_encoding import encode
from shipyard.monitoring._drift import _table

__all__ = ["DomainDrift", "domain_drift"]

MIN_ROWS = 50  # per side: fewer and a fold's model trains on too little to mean anything
MAX_FOLDS = 10
ROUNDS = 100
KINDS = {"category": "categories", "number": "numbers", "time": "dates"}
PARAMS: dict[str, Any] = {
    "objective": "binary",
    # small, slow trees: the classifier must find a difference, not memorise rows
    "learning_rate": 0.05,
    "num_leaves": 15,
    "num_threads": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}


@dataclass(frozen=True)
class DomainDrift:
    """How well a classifier tells the current window from the reference, and the verdict.

    ``auc`` and ``p_value`` are ``None`` (and ``drifted`` is False) when there was nothing to
    judge: ``notes`` says why.
    """

    drifted: bool
    auc: float | None  # cross-validated ROC AUC of reference (0) against current (1)
    p_value: float | None  # one-sided: the chance of an AUC this high with no drift
    threshold: float  # the AUC from which a significant difference counts as drift
    alpha: float  # the p-value below which the AUC counts as significant
    reference_rows: int  # rows used per side (balanced, at most max_rows)
    current_rows: int
    # column -> share of the classifier's gain, largest first (sums to 1 when it split)
    importance: dict[str, float] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # the columns the classifier saw
    notes: tuple[str, ...] = ()  # columns left out and why; why there is no verdict

    @property
    def features(self) -> list[str]:
        """The columns that separate the windows, most first (those the classifier used)."""
        return [name for name, share in self.importance.items() if share > 0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "auc": self.auc,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "importance": dict(self.importance),
            "columns": list(self.columns),
            "notes": list(self.notes),
        }


def domain_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    threshold: float = 0.55,
    alpha: float = 0.01,
    folds: int = 5,
    max_rows: int = 50_000,
    seed: int = 0,
) -> DomainDrift:
    """Multivariate drift of ``current`` against ``reference`` (DataFrames, Arrow tables or
    dataset references like ``"loans@1"``) by a domain classifier (see the module docstring).

    Args:
        columns: features to compare (default: every column of either side).
        categorical: columns to treat as categories although they hold numbers.
        threshold: the AUC (above 0.5) from which a significant difference is drift.
        alpha: the p-value below which the classifier's AUC is significant.
        folds: cross-validation folds (2 to 10).
        max_rows: rows used per side at most; the larger side is subsampled to the smaller.
        seed: seeds the subsample, the folds and the classifier (same inputs, same result).

    Returns:
        A :class:`DomainDrift`: ``drifted``, ``auc``, ``p_value``, the columns that separate
        the windows (``importance``) and ``notes`` on what was left out.

    Raises:
        InvalidInput: an argument out of range (named), or ``columns`` or ``categorical``
            naming a column neither side has.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> before = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
        >>> after = pd.DataFrame({"x": rng.normal(1, 1, 2000)})
        >>> result = domain_drift(before, after)
        >>> result.drifted, result.features
        (True, ['x'])
    """
    _check_arguments(columns, categorical, threshold, alpha, folds, max_rows, seed)
    ref_table = _table(reference, "reference")
    cur_table = _table(current, "current")
    names = _names(ref_table, cur_table, columns, categorical)
    wanted, notes = _plan(ref_table, cur_table, names, set(categorical))
    rows = min(ref_table.num_rows, cur_table.num_rows, max_rows)

    def no_verdict(note: str, rows: int = 0) -> DomainDrift:
        return DomainDrift(
            False, None, None, float(threshold), float(alpha), rows, rows, notes=(*notes, note)
        )

    if rows < MIN_ROWS:
        return no_verdict(
            f"too few rows to train on: the reference has {ref_table.num_rows}, the current "
            f"window {cur_table.num_rows} (at least {MIN_ROWS} each)"
        )
    rng = np.random.default_rng(seed)
    ref_sample = ref_table.select(list(wanted)).take(_subsample(ref_table.num_rows, rows, rng))
    cur_sample = cur_table.select(list(wanted)).take(_subsample(cur_table.num_rows, rows, rng))
    matrix, used, categories, left_out = encode(ref_sample, cur_sample, wanted)
    notes += left_out
    if not used:
        return no_verdict("no column left to compare", rows)
    auc, p_value, gain = _classify(matrix, rows, rng, folds, categories, seed)
    return DomainDrift(
        drifted=bool(p_value < alpha and auc >= threshold),
        auc=auc,
        p_value=p_value,
        threshold=float(threshold),
        alpha=float(alpha),
        reference_rows=rows,
        current_rows=rows,
        importance=_shares(used, gain),
        columns=tuple(used),
        notes=tuple(notes),
    )


def _classify(
    matrix: np.ndarray,
    rows: int,
    rng: np.random.Generator,
    folds: int,
    categories: list[int],
    seed: int,
) -> tuple[float, float, np.ndarray]:
    """The cross-validated AUC of reference rows (the first ``rows``) against current
    rows, its p-value, and the classifier's gain per column."""
    labels = np.repeat([0.0, 1.0], rows)
    # each side's rows dealt evenly into the folds: every fold is balanced
    fold = np.concatenate([rng.permutation(rows) % folds for _ in range(2)])
    scores, gain = _cross_validate(matrix, labels, fold, folds, categories, seed)
    auc, p_value = _auc_test(scores, labels, fold, folds)
    return auc, p_value, gain


def _shares(used: list[str], gain: np.ndarray) -> dict[str, float]:
    """Each column's share of the classifier's gain, largest first."""
    total = float(gain.sum())
    order = sorted(range(len(used)), key=lambda i: -gain[i])
    return {used[i]: float(gain[i]) / total if total > 0 else 0.0 for i in order}


# -- arguments and columns ---------------------------------------------------------------


def _check_arguments(
    columns: Sequence[str] | None,
    categorical: Sequence[str],
    threshold: float,
    alpha: float,
    folds: int,
    max_rows: int,
    seed: int,
) -> None:
    def number(value: object) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def integer(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if not number(threshold) or not 0.5 < threshold <= 1:
        raise InvalidInput(
            f"threshold must be an AUC above 0.5 and at most 1 (e.g. 0.55); got {threshold!r}."
        )
    if not number(alpha) or not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be a p-value between 0 and 1 (e.g. 0.01); got {alpha!r}.")
    if not integer(folds) or not 2 <= folds <= MAX_FOLDS:
        raise InvalidInput(f"folds must be an integer from 2 to {MAX_FOLDS}; got {folds!r}.")
    if not integer(max_rows) or max_rows < MIN_ROWS:
        raise InvalidInput(
            f"max_rows must be an integer of at least {MIN_ROWS} (rows per side); got {max_rows!r}."
        )
    if not integer(seed):
        raise InvalidInput(f"seed must be an integer; got {seed!r}.")
    for argument, value in (("columns", columns), ("categorical", categorical)):
        if value is None and argument == "columns":
            continue
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidInput(
                f"{argument} must be a list of column names (e.g. ['age']); got {value!r}."
            )
        if not all(isinstance(name, str) for name in value):
            raise InvalidInput(f"{argument} must hold column names (strings); got {value!r}.")
    if columns is not None and not columns:
        raise InvalidInput("columns must name at least one column (or be None for all).")


def _names(
    ref_table: Any, cur_table: Any, columns: Sequence[str] | None, categorical: Sequence[str]
) -> list[str]:
    known = list(ref_table.column_names)
    known += [n for n in cur_table.column_names if n not in set(known)]
    for argument, value in (("columns", columns or ()), ("categorical", categorical)):
        unknown = [name for name in value if name not in set(known)]
        if unknown:
            raise InvalidInput(
                f"{argument} names columns neither window has: {unknown} (the columns are {known})."
            )
    return list(dict.fromkeys(columns)) if columns is not None else known


def _kind(column_type: Any, categorical: bool) -> str | None:
    """``category``, ``time`` (timestamps and dates), ``number`` or None (unsupported)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column_type):
        column_type = column_type.value_type
    if categorical or pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
        return "category"
    if pa.types.is_timestamp(column_type) or pa.types.is_date(column_type):
        return "time"
    if (
        pa.types.is_integer(column_type)
        or pa.types.is_floating(column_type)
        or pa.types.is_boolean(column_type)
        or pa.types.is_decimal(column_type)
        or pa.types.is_duration(column_type)
        or pa.types.is_time(column_type)
    ):
        return "number"
    return None


def _plan(
    ref_table: Any, cur_table: Any, names: Sequence[str], categorical: set[str]
) -> tuple[dict[str, str], list[str]]:
    """The columns both sides have with one supported kind (name -> kind), and notes."""
    import pyarrow as pa

    wanted: dict[str, str] = {}
    notes: list[str] = []
    for name in names:
        in_ref, in_cur = name in ref_table.column_names, name in cur_table.column_names
        if not (in_ref and in_cur):
            side = "reference" if in_ref else "current window"
            notes.append(f"{name!r} is only in the {side}: left out")
            continue
        ref_type = ref_table.schema.field(name).type
        cur_type = cur_table.schema.field(name).type
        if pa.types.is_null(ref_type) or pa.types.is_null(cur_type):
            side = "reference" if pa.types.is_null(ref_type) else "current window"
            notes.append(f"{name!r} is all missing in the {side}: left out")
            continue
        kinds = _kind(ref_type, name in categorical), _kind(cur_type, name in categorical)
        if None in kinds:
            odd = ref_type if kinds[0] is None else cur_type
            notes.append(f"{name!r} holds {odd}, which has no numeric meaning: left out")
        elif kinds[0] != kinds[1]:
            notes.append(
                f"{name!r} holds {KINDS[str(kinds[0])]} in the reference but "
                f"{KINDS[str(kinds[1])]} in the current window: left out"
            )
        else:
            wanted[name] = str(kinds[0])
    return wanted, notes


def _subsample(available: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    if available <= rows:
        return np.arange(available)
    return np.sort(rng.choice(available, rows, replace=False))


# -- classifier and test -----------------------------------------------------------------


def _cross_validate(
    matrix: np.ndarray,
    labels: np.ndarray,
    fold: np.ndarray,
    folds: int,
    categories: list[int],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold scores of every row and the classifier's gain per column, summed."""
    import lightgbm as lgb

    scores = np.empty(len(labels))
    gain = np.zeros(matrix.shape[1])
    for k in range(folds):
        held_out = fold == k
        # leaves of at least 1/40 of the training rows (10 to 100 rows)
        leaf = max(10, min(100, int((~held_out).sum()) // 40))
        params = {**PARAMS, "min_data_in_leaf": leaf, "seed": seed}
        train = lgb.Dataset(
            matrix[~held_out], labels[~held_out], categorical_feature=categories, params=params
        )
        booster = lgb.train(params, train, num_boost_round=ROUNDS)
        scores[held_out] = booster.predict(matrix[held_out], raw_score=True)
        gain += booster.feature_importance("gain")
    return scores, gain


def _auc_test(
    scores: np.ndarray, labels: np.ndarray, fold: np.ndarray, folds: int
) -> tuple[float, float]:
    """The folds' mean AUC and a one-sided p-value valid however the folds correlate (see
    the module docstring)."""
    from scipy.stats import rankdata

    aucs, z_scores = [], []
    for k in range(folds):
        held_out = fold == k
        ranks = rankdata(scores[held_out])
        positive = labels[held_out] == 1
        n1, n0 = int(positive.sum()), int((~positive).sum())
        size = n1 + n0
        auc = (float(ranks[positive].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
        # the variance of the AUC under permutation of the fold's labels, ties included
        variance = float(np.sum((ranks - ranks.mean()) ** 2)) / (n1 * n0 * size * (size - 1))
        aucs.append(auc)
        z_scores.append((auc - 0.5) / math.sqrt(variance) if variance > 0 else 0.0)
    z = float(np.mean(z_scores))
    return float(np.mean(aucs)), 0.5 * math.erfc(z / math.sqrt(2))
