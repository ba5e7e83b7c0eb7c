"""Fairness: a model version's metrics per group of a sensitive attribute, through Fairlearn.

``sy.governance.fairness("churn@7", "loans@3", target="default", sensitive="gender")``
predicts the dataset's rows with the version, then computes with Fairlearn's ``MetricFrame``
(the numbers are Fairlearn's, not a re-implementation): per group the selection rate, true
and false positive rates and accuracy (binary classifiers), accuracy and error (multiclass),
mean absolute error and mean prediction (regression), each with a bootstrap confidence
interval (``MetricFrame``'s ``n_boot``, seeded), the row count, and whether the group is under
``min_group_size`` (reported and marked, never hidden); and the disparities: demographic
parity difference and ratio and equalized odds difference (binary), error difference and
ratio (otherwise). The report is recorded as the version's ``fairness`` evidence, which the
promotion gate ``max_disparity`` and the model card read.

Sensitive attributes are declared with a ``sensitive`` tag (comma-separated column names) on
the model version (``sy.models.register(..., tags={"sensitive": "gender"})``) or on the dataset
version (``sy.datasets.tag("loans@3", sensitive="gender,region")``); ``sensitive=`` overrides
both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.governance._fairness_report import (
    FairnessGroup,
    FairnessReport,
    MetricValue,
    clean_float,
)

if TYPE_CHECKING:
    from shipyard.models import LoadedModel, ModelVersion

__all__ = [
    "Outcomes",
    "fairness",
    "fairness_report",
    "load_data",
    "metric_functions",
    "outcomes",
    "sensitive_columns",
]

MISSING = "(missing)"
"""The group of rows whose sensitive value is null."""

MAX_GROUPS = 200


def fairness(
    ref: str,
    data: str | pd.DataFrame,
    *,
    target: str,
    sensitive: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    min_group_size: int = 30,
    boot: int = 100,
    seed: int = 0,
    record: bool = True,
) -> FairnessReport:
    """Group metrics and disparities of the version ``ref`` on ``data``, through Fairlearn.

    Args:
        ref: the model version (``churn@7``, ``churn@champion``).
        data: a dataset version (``loans@3``) or a DataFrame, with the model's inputs, the
            target and the sensitive columns.
        target: the column with the true labels (or values).
        sensitive: the sensitive column(s); default: the ``sensitive`` tag of the model
            version, else of the dataset version. Several columns make intersectional groups.
        confidence: the level of the bootstrap intervals (0.95: the 2.5% and 97.5% quantiles).
        min_group_size: groups with fewer rows are reported with ``small=True`` and a note.
        boot: bootstrap resamples for the intervals (0: no intervals).
        seed: the bootstrap's random state (the same seed gives the same intervals).
        record: record the report as the version's ``fairness`` evidence.

    Raises:
        InvalidInput: a bad option, a missing target or sensitive column (named), no sensitive
            attribute given or declared, target values the model does not know.
        NotFound: no such model or dataset version.
    """
    from shipyard import models

    _check_options(confidence, min_group_size, boot, seed)
    version = models.get(ref)
    frame, data_ref, tags = load_data(data)
    columns = sensitive_columns(sensitive, version, tags, frame)
    result = outcomes(models.load(version.ref), frame, target)
    features, notes = _groups_frame(frame.loc[result.kept], columns)
    report = _compute(
        (version.ref, data_ref, target, columns),
        result,
        features,
        notes,
        confidence=confidence,
        min_group_size=min_group_size,
        boot=boot,
        seed=seed,
    )
    if record:
        models.record_evidence(version.ref, "fairness", report.to_dict())
    return report


def fairness_report(ref: str) -> FairnessReport | None:
    """The newest recorded fairness report of the version ``ref`` (None if none was)."""
    from shipyard import models

    found = models.evidence(ref, "fairness")
    return FairnessReport.from_dict(found[0].data) if found else None


def _check_options(confidence: object, min_group_size: object, boot: object, seed: object) -> None:
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise InvalidInput(f"confidence: expected a number between 0 and 1, got {confidence!r}.")
    for name, value, low in (("min_group_size", min_group_size, 1), ("boot", boot, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInput(f"{name}: expected a whole number >= {low}, got {value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed: expected a whole number >= 0, got {seed!r}.")
    if 0 < boot < 10:  # type: ignore[operator]
        raise InvalidInput(f"boot: expected 0 (no intervals) or at least 10 resamples, got {boot}.")


def load_data(data: object) -> tuple[pd.DataFrame, str | None, dict[str, str]]:
    """The rows, the dataset version's ref (None for a frame) and its tags."""
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise InvalidInput("data: the DataFrame has no rows.")
        return data.reset_index(drop=True), None, {}
    if not isinstance(data, str):
        raise InvalidInput(
            f"data: expected a dataset version ('loans@3') or a DataFrame, got "
            f"{type(data).__name__}."
        )
    from shipyard import data as datasets

    version = datasets.get(data)
    return version.to_pandas(), version.ref, dict(version.tags)


def sensitive_columns(
    sensitive: str | Sequence[str] | None,
    version: ModelVersion,
    tags: dict[str, str],
    frame: pd.DataFrame,
) -> tuple[str, ...]:
    """The sensitive columns: given, else declared by the model version, else the dataset."""
    if sensitive is None:
        declared = version.tags.get("sensitive") or tags.get("sensitive")
        if not declared:
            raise InvalidInput(
                f"sensitive: none given, and neither {version.ref} nor the dataset declares "
                "a 'sensitive' tag; pass sensitive=['gender'] (or --sensitive gender)."
            )
        sensitive = [c.strip() for c in declared.split(",") if c.strip()]
    names = [sensitive] if isinstance(sensitive, str) else sensitive
    if (
        isinstance(names, str | bytes)
        or not isinstance(names, Sequence)
        or not names
        or not all(isinstance(c, str) and c for c in names)
    ):
        raise InvalidInput(
            f"sensitive: expected a column name or a list of names, got {sensitive!r}."
        )
    for name in names:
        if name not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:12]))
            raise InvalidInput(f"sensitive: column {name!r} is not in the data (it has: {shown}).")
    if len(set(names)) != len(names):
        raise InvalidInput(f"sensitive: a column is named twice in {list(names)}.")
    return tuple(names)


class Outcomes:
    """True and predicted outcomes of the rows with a target: for a binary classifier as
    0/1 (1: the positive class, the second of the model's classes)."""

    def __init__(
        self,
        task: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        kept: np.ndarray,
        positive: Any,
        notes: list[str],
    ) -> None:
        self.task = task
        self.y_true = y_true
        self.y_pred = y_pred
        self.kept = kept
        self.positive = positive
        self.notes = notes


def outcomes(model: LoadedModel, frame: pd.DataFrame, target: str) -> Outcomes:
    """Predict ``frame`` with ``model`` and pair the predictions with ``target``."""
    if not isinstance(target, str) or target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise InvalidInput(f"target: column {target!r} is not in the data (it has: {shown}).")
    kept = frame[target].notna().to_numpy()
    notes = []
    if not kept.all():
        notes.append(f"{int((~kept).sum())} rows without a {target!r} value were left out.")
    if not kept.any():
        raise InvalidInput(f"target: column {target!r} has no values.")
    rows = frame.loc[kept]
    y = rows[target].to_numpy()
    predicted = np.asarray(model.predict(rows))
    classes = model.classes
    if classes is None:
        try:
            y_float, predicted_float = y.astype(np.float64), predicted.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"target: column {target!r} holds values that are not numbers, and "
                f"{model.version.ref} is a regressor (it has no classes)."
            ) from None
        return Outcomes("regression", y_float, predicted_float, kept, None, notes)
    unknown = sorted({_key(v) for v in pd.unique(y)} - {_key(c) for c in classes})
    if unknown:
        raise InvalidInput(
            f"target: values {', '.join(unknown[:5])} of column {target!r} are not among the "
            f"model's classes ({', '.join(map(str, classes))})."
        )
    labels = {_key(c): i for i, c in enumerate(classes)}
    y_true = np.array([labels[_key(v)] for v in y], dtype=np.int64)
    y_pred = np.array([labels.get(_key(v), -1) for v in predicted], dtype=np.int64)
    if len(classes) == 2:  # 1: the positive class, the second of the model's classes
        return Outcomes("binary", y_true, y_pred, kept, _plain(classes[1]), notes)
    return Outcomes("multiclass", y_true, y_pred, kept, None, notes)


def metric_functions(task: str) -> dict[str, Callable[..., Any]]:
    """The metrics ``fairness`` hands to ``MetricFrame`` for a task (``count`` last)."""
    from fairlearn.metrics import (
        count,
        false_positive_rate,
        mean_prediction,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, mean_absolute_error, zero_one_loss

    metrics: dict[str, Callable[..., Any]]
    if task == "binary":
        metrics = {
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "accuracy": accuracy_score,
        }
    elif task == "multiclass":
        metrics = {"accuracy": accuracy_score, "error": zero_one_loss}
    else:
        metrics = {"error": mean_absolute_error, "mean_prediction": mean_prediction}
    return {**metrics, "count": count}


def _groups_frame(rows: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """The sensitive columns of ``rows``; nulls become their own group (with a note)."""
    features = rows[list(columns)].reset_index(drop=True)
    notes = []
    for name in columns:
        nulls = features[name].isna()
        if nulls.any():
            notes.append(f"{int(nulls.sum())} rows with no {name!r} form the group {MISSING!r}.")
            features[name] = features[name].astype(object).where(~nulls, MISSING)
    return features, notes


def _compute(
    names: tuple[str, str | None, str, tuple[str, ...]],
    result: Outcomes,
    features: pd.DataFrame,
    notes: list[str],
    *,
    confidence: float,
    min_group_size: int,
    boot: int,
    seed: int,
) -> FairnessReport:
    from fairlearn.metrics import MetricFrame

    model, data, target, columns = names
    found = len(features.drop_duplicates())
    if found > MAX_GROUPS:
        raise InvalidInput(
            f"sensitive: {found} groups (at most {MAX_GROUPS}); is {', '.join(columns)} an "
            "identifier or a continuous value? Bin it first."
        )
    tail = round((1 - confidence) / 2, 12)  # 0.025, not 0.025000000000000022
    frame = MetricFrame(
        metrics=metric_functions(result.task),
        y_true=result.y_true,
        y_pred=result.y_pred,
        sensitive_features=features,
        **(_bootstrap(boot, tail, seed) if boot else {}),
    )
    groups = _groups(frame, columns, boot > 0, min_group_size)
    notes = [*result.notes, *notes, *_notes(groups, result, features, min_group_size)]
    overall = {k: clean_float(v) for k, v in frame.overall.items() if k != "count"}
    return FairnessReport(
        model=model,
        data=data,
        target=target,
        sensitive=columns,
        rows=len(result.y_true),
        task=result.task,
        confidence=float(confidence),
        min_group_size=min_group_size,
        boot=boot,
        groups=tuple(groups),
        overall=overall,
        disparities=_disparities(frame, result, features),
        notes=tuple(notes),
        positive_label=result.positive,
    )


def _bootstrap(boot: int, tail: float, seed: int) -> dict[str, Any]:
    return {"n_boot": boot, "ci_quantiles": [tail, 1 - tail], "random_state": seed}


def _groups(
    frame: Any, columns: tuple[str, ...], intervals: bool, min_group_size: int
) -> list[FairnessGroup]:
    values = frame.by_group
    low, high = frame.by_group_ci if intervals else (None, None)
    out = []
    for key, row in values.iterrows():
        if not row["count"] or math.isnan(row["count"]):
            continue  # a combination of values no row has: not a group
        parts = key if isinstance(key, tuple) else (key,)
        metrics = {
            name: MetricValue(
                clean_float(row[name]),
                None if low is None else clean_float(low.loc[key, name]),
                None if high is None else clean_float(high.loc[key, name]),
            )
            for name in values.columns
            if name != "count"
        }
        count = int(row["count"])
        group = {c: _plain(v) for c, v in zip(columns, parts, strict=True)}
        out.append(FairnessGroup(group, count, count < min_group_size, metrics))
    return out


def _notes(
    groups: list[FairnessGroup], result: Outcomes, features: pd.DataFrame, min_group_size: int
) -> list[str]:
    notes = []
    for group in groups:
        if group.small:
            notes.append(
                f"Group {group.label} has {group.count} rows, fewer than min_group_size "
                f"{min_group_size}: its metrics and intervals are uncertain."
            )
        if result.task != "binary":
            continue
        mask = np.ones(len(features), dtype=bool)
        for name, value in group.group.items():
            mask &= (features[name].to_numpy() == value) | (
                features[name].astype(str).to_numpy() == str(value)
            )
        positives = int(result.y_true[mask].sum())
        undefined = (
            (positives, "true_positive_rate"),
            (group.count - positives, "false_positive_rate"),
        )
        for missing, rate in undefined:
            if missing == 0:
                kind = "positive" if rate == "true_positive_rate" else "negative"
                notes.append(
                    f"Group {group.label} has no {kind} rows: its {rate} is undefined "
                    "(Fairlearn reports 0)."
                )
    return notes


def _disparities(frame: Any, result: Outcomes, features: pd.DataFrame) -> dict[str, float | None]:
    if result.task == "binary":
        from fairlearn.metrics import (
            demographic_parity_difference,
            demographic_parity_ratio,
            equalized_odds_difference,
        )

        functions = {
            "demographic_parity_difference": demographic_parity_difference,
            "demographic_parity_ratio": demographic_parity_ratio,
            "equalized_odds_difference": equalized_odds_difference,
        }
        call = functools.partial(
            _call, y_true=result.y_true, y_pred=result.y_pred, features=features
        )
        return {name: call(function) for name, function in functions.items()}
    return {
        "error_difference": clean_float(frame.difference()["error"]),
        "error_ratio": clean_float(frame.ratio()["error"]),
    }


def _call(
    function: Callable[..., Any], *, y_true: np.ndarray, y_pred: np.ndarray, features: Any
) -> float | None:
    return clean_float(function(y_true, y_pred, sensitive_features=features))


def _key(value: Any) -> str:
    """A label as text, whole numbers alike whatever their type (``1``, ``1.0``, ``np.int64(1)``),
    so that a target read back as floats still matches integer classes."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    """A JSON value for a group value or label (NumPy scalars unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
