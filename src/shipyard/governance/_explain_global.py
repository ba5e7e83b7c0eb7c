"""Global explanations: mean |SHAP| per input column and permutation importance, recorded
with the version as ``explanation`` evidence (the gates, the card and the UI read it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.governance._explain import explain_loaded, explainer_for

__all__ = ["GlobalExplanation", "explain_global", "explanation"]

SAMPLE_ROWS = 200  # rows of SHAP values kept for charts
REPEATS = 5  # shuffles per column for permutation importance
LABEL = "__label__"  # the stored sample's label column
FAST = ("tree", "linear")  # methods fast enough for every row asked for
AGNOSTIC_ROWS = 20  # rows explained by a model-agnostic method, at most


@dataclass(frozen=True)
class GlobalExplanation:
    """What drives a model over a set of rows (the ``explanation`` evidence's data).

    Attributes:
        model: the version (``churn@7``).
        method, note, output: as in :class:`~shipyard.governance.Explanation`.
        data: ``sample`` (the rows stored at registration), a dataset version or ``frame``.
        rows: how many rows were explained.
        features: the input columns.
        mean_abs_shap: ``{feature: mean |SHAP|}`` (averaged over classes for multiclass).
        base_value: the expected output (one per class for multiclass).
        classes: the classes explained, or None.
        permutation: ``{feature: {"mean", "std"}}`` drop in ``scoring`` when the column is
            shuffled, or None when no target was known.
        scoring: ``accuracy`` (classifiers) or ``r2`` (regressors), or None.
        sample: up to 200 rows' ``shap`` values (toward each row's predicted class for
            multiclass) and input ``values``, for charts.
    """

    model: str
    method: str
    note: str | None
    output: str
    data: str
    rows: int
    features: list[str]
    mean_abs_shap: dict[str, float]
    base_value: float | list[float]
    classes: list[Any] | None
    permutation: dict[str, dict[str, float]] | None
    scoring: str | None
    sample: dict[str, list[list[Any]]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The evidence record's JSON object (``model`` is not part of it)."""
        return {
            "method": self.method,
            "note": self.note,
            "output": self.output,
            "data": self.data,
            "rows": self.rows,
            "features": list(self.features),
            "mean_abs_shap": dict(self.mean_abs_shap),
            "base_value": self.base_value,
            "classes": self.classes,
            "permutation": self.permutation,
            "scoring": self.scoring,
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, model: str, data: dict[str, Any]) -> GlobalExplanation:
        return cls(
            model=model,
            method=str(data.get("method")),
            note=data.get("note"),
            output=str(data.get("output")),
            data=str(data.get("data")),
            rows=int(data.get("rows") or 0),
            features=list(data.get("features") or []),
            mean_abs_shap=dict(data.get("mean_abs_shap") or {}),
            base_value=data.get("base_value", 0.0),
            classes=data.get("classes"),
            permutation=data.get("permutation"),
            scoring=data.get("scoring"),
            sample=dict(data.get("sample") or {"shap": [], "values": []}),
        )

    def top(self, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` columns with the largest mean |SHAP|, largest first."""
        ranked = sorted(self.mean_abs_shap.items(), key=lambda kv: -kv[1])
        return ranked[:n]

    def figure(self) -> dict[str, Any]:
        """A plotly figure (as a dict): mean |SHAP| per column, a horizontal bar chart."""
        ranked = self.top(len(self.features))[::-1]
        return {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [v for _, v in ranked],
                    "y": [k for k, _ in ranked],
                }
            ],
            "layout": {"title": {"text": f"Mean |SHAP| ({self.output})"}},
        }


def _frame(ref: str, data: Any) -> tuple[pd.DataFrame, str]:
    from shipyard.models import sample

    if data is None:
        rows = sample(ref)
        if rows is None:
            raise InvalidInput(
                f"data: model {ref} was registered without sample rows; pass a dataset "
                "version or a DataFrame to explain it on."
            )
        return rows, "sample"
    if isinstance(data, str):
        from shipyard.data import get as get_dataset

        version = get_dataset(data)
        return version.to_pandas(), version.ref
    if isinstance(data, pd.DataFrame):
        return data, "frame"
    raise InvalidInput(
        f"data: expected a dataset version ('loans@3'), a DataFrame or None; "
        f"got {type(data).__name__}."
    )


def _labels(frame: pd.DataFrame, target: str | None, source: str) -> Any:
    if target is None:
        return frame[LABEL] if source == "sample" and LABEL in frame.columns else None
    if target not in frame.columns:
        raise InvalidInput(f"target: the data has no column {target!r}.")
    return frame[target]


def _score(loaded: Any, predicted: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy (classifiers) or R² (regressors) of ``predicted`` against ``labels``."""
    if loaded.classes is not None:
        return float(np.mean(predicted.astype(str) == labels.astype(str)))
    truth = labels.astype(np.float64)
    total = float(np.sum((truth - truth.mean()) ** 2)) or 1.0
    return 1.0 - float(np.sum((truth - predicted.astype(np.float64)) ** 2)) / total


def permutation_importance(
    loaded: Any, frame: pd.DataFrame, labels: Any, features: Sequence[str], seed: int = 0
) -> dict[str, dict[str, float]]:
    """Drop in score when each column is shuffled (``REPEATS`` seeded shuffles).

    Written here rather than through ``sklearn.inspection.permutation_importance``: that one
    predicts once per shuffle, and a registered model's ``predict`` (a pipeline behind the
    flavor) costs milliseconds of overhead per call; here the shuffles of one column are
    scored in one call, on one thread (OpenMP teams spin on shared cores).
    """
    from threadpoolctl import threadpool_limits

    truth, rows = np.asarray(labels), len(frame)
    rng = np.random.default_rng(seed)
    out = {}
    with threadpool_limits(limits=1):
        base = _score(loaded, np.asarray(loaded.predict(frame)), truth)
        for name in features:
            stacked = pd.concat([frame] * REPEATS, ignore_index=True)
            column = frame[name].to_numpy()
            shuffles = [column[rng.permutation(rows)] for _ in range(REPEATS)]
            stacked[name] = np.concatenate(shuffles)
            predicted = np.asarray(loaded.predict(stacked))
            drops = [
                base - _score(loaded, predicted[i * rows : (i + 1) * rows], truth)
                for i in range(REPEATS)
            ]
            out[name] = {"mean": float(np.mean(drops)), "std": float(np.std(drops))}
    return out


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _chart_rows(values: np.ndarray, prediction: np.ndarray, frame: pd.DataFrame) -> Any:
    keep = min(len(values), SAMPLE_ROWS)
    shown = values[:keep]
    if shown.ndim == 3:  # toward each row's predicted class
        shown = shown[np.arange(keep), :, np.argmax(prediction[:keep], axis=1)]
    cells = frame.head(keep).astype(object).to_numpy().tolist()
    return {
        "shap": [[float(v) for v in row] for row in shown],
        "values": [[_json_value(v) for v in row] for row in cells],
    }


def explain_global(
    ref: str, data: Any = None, *, target: str | None = None, rows: int = 1000
) -> GlobalExplanation:
    """Mean |SHAP| per input column (and permutation importance when the target is known)
    over up to ``rows`` rows, recorded with the version as ``explanation`` evidence.

    Args:
        ref: the model version (``churn@7``).
        data: a dataset version (``loans@3``), a DataFrame, or None for the rows stored at
            registration (their labels, when stored, are the target).
        target: the label column of ``data`` (enables permutation importance).
        rows: at most this many rows (a seeded random sample of larger data; at most 20
            for a model only a model-agnostic method explains).

    Raises:
        InvalidInput: ``rows`` not a positive integer, a missing target or input column.
        NotFound: no such model or dataset version.
    """
    from shipyard.models import load, record_evidence

    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidInput(f"rows: expected a positive integer, got {rows!r}.")
    loaded = load(ref, format="native")
    frame, source = _frame(loaded.version.ref, data)
    labels = _labels(frame, target, source)
    if explainer_for(loaded).method not in FAST:  # model-agnostic: seconds per row
        rows = min(rows, AGNOSTIC_ROWS)
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=0)
        labels = None if labels is None else labels.loc[frame.index]
    if not len(frame):
        raise InvalidInput("data: there are no rows to explain.")
    local = explain_loaded(loaded, frame, loaded.version.ref)
    magnitude = np.abs(local.values).mean(axis=0)
    if magnitude.ndim == 2:
        magnitude = magnitude.mean(axis=1)
    permutation = None
    if labels is not None:
        inputs = frame[local.features].reset_index(drop=True)
        permutation = permutation_importance(loaded, inputs, labels, local.features)
    result = GlobalExplanation(
        model=loaded.version.ref,
        method=local.method,
        note=local.note,
        output=local.output,
        data=source,
        rows=len(frame),
        features=local.features,
        mean_abs_shap={f: float(m) for f, m in zip(local.features, magnitude, strict=True)},
        base_value=local.base_value,
        classes=local.classes,
        permutation=permutation,
        scoring=None if labels is None else "accuracy" if loaded.classes else "r2",
        sample=_chart_rows(local.values, local.prediction, local.data),
    )
    record_evidence(loaded.version.ref, "explanation", result.to_dict())
    return result


def explanation(ref: str) -> GlobalExplanation | None:
    """The latest global explanation recorded for the version ``ref`` names, or None."""
    from shipyard.models import evidence, get

    records = evidence(ref, "explanation")
    if not records:
        return None
    return GlobalExplanation.from_dict(get(ref).ref, records[0].data)
