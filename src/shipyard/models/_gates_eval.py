"""Scoring a version on a dataset version for the ``max_drop`` gate: the metric and its
bootstrap confidence interval, recorded as the version's "evaluation" evidence (and reused
by the next check on the same data, target and metric)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.models._policies import DROP_METRICS
from shipyard.models._types import Evidence, ModelVersion

__all__ = ["BOOT", "evaluate", "recorded_value", "score"]

BOOT = 200  # bootstrap resamples of the interval (seeded: the same data gives the same one)
CONFIDENCE = 0.95


def score(metric: str, truth: Any, predicted: Any, proba: Any, classes: Sequence[Any]) -> float:
    """``metric`` of predictions against ``truth`` (NumPy arrays)."""
    import numpy as np
    from sklearn import metrics as sk

    if metric == "accuracy":
        return float(np.mean(predicted == truth))
    if metric == "f1":
        if len(classes) == 2:
            return float(sk.f1_score(truth, predicted, pos_label=classes[1]))
        return float(sk.f1_score(truth, predicted, average="macro"))
    if metric in ("auc", "log_loss"):
        if proba is None:
            raise InvalidInput(f"max_drop.metric: {metric} needs class probabilities.")
        if metric == "log_loss":
            return float(sk.log_loss(truth, proba, labels=list(classes)))
        if len(classes) == 2:
            return float(sk.roc_auc_score(truth == classes[1], proba[:, 1]))
        return float(sk.roc_auc_score(truth, proba, multi_class="ovr", labels=list(classes)))
    error = predicted.astype(float) - truth.astype(float)
    if metric == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    return float(sk.r2_score(truth, predicted))


def _interval(
    metric: str, truth: Any, predicted: Any, proba: Any, classes: Sequence[Any]
) -> tuple[float | None, float | None]:
    import numpy as np

    rng = np.random.default_rng(0)
    values = []
    n = len(truth)
    for _ in range(BOOT):
        rows = rng.integers(0, n, n)
        try:
            part = None if proba is None else proba[rows]
            values.append(score(metric, truth[rows], predicted[rows], part, classes))
        except ValueError:  # one class only in this resample (AUC): skip it
            continue
    finite = [v for v in values if np.isfinite(v)]
    if len(finite) < BOOT // 2:
        return None, None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def recorded_value(found: Sequence[Evidence], data: str, target: str, metric: str) -> float | None:
    """The metric from the newest "evaluation" on ``data`` and ``target``, if any."""
    for item in found:
        if item.kind != "evaluation":
            continue
        entry = item.data.get("metrics", {}).get(metric)
        if item.data.get("data") == data and item.data.get("target") == target and entry:
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, int | float):
                return float(value)
    return None


def evaluate(version: ModelVersion, data: str, target: str, metric: str) -> dict[str, Any]:
    """The "evaluation" record of ``version`` scored on dataset version ``data``."""
    import numpy as np

    from shipyard import data as datasets
    from shipyard.models._api import load

    if metric not in DROP_METRICS:
        raise InvalidInput(f"max_drop.metric: expected one of {', '.join(DROP_METRICS)}.")
    frame = datasets.resolve(data).to_pandas()
    if target not in frame.columns:
        raise InvalidInput(
            f"max_drop.target: {target!r} is not a column of {data} "
            f"(columns: {', '.join(map(str, frame.columns[:20]))})."
        )
    loaded = load(version.ref, check_environment=False)
    x = frame.drop(columns=[target])
    truth = np.asarray(frame[target])
    predicted = np.asarray(loaded.predict(x))
    classes = list(loaded.classes or [])
    proba = np.asarray(loaded.predict_proba(x)) if metric in ("auc", "log_loss") else None
    value = score(metric, truth, predicted, proba, classes)
    low, high = _interval(metric, truth, predicted, proba, classes)
    return {
        "data": data,
        "target": target,
        "rows": len(truth),
        "metrics": {metric: {"value": value, "low": low, "high": high}},
    }
