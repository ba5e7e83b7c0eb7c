"""What the retraining pipeline's steps share: the champion of a deployment, the split of
the new data into training rows and the holdout, and the metrics that compare two models.

The split is a pure function of the data, the champion's inputs, the target, the holdout
share and the seed, so the training, evaluation and registration steps each compute the
same one from the dataset version they are given (no frame travels between steps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import Conflict, InvalidInput

__all__ = [
    "METRICS",
    "Metric",
    "Split",
    "champion_of",
    "default_metric",
    "main_route",
    "scores",
    "split",
]


@dataclass(frozen=True)
class Metric:
    """A metric the gate compares: the task it scores and which way is better."""

    name: str
    task: str
    higher_is_better: bool
    needs_proba: bool = False


#: The metrics ``retraining(metric=...)`` takes.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", "classification", True, needs_proba=True),
        Metric("accuracy", "classification", True),
        Metric("log_loss", "classification", False, needs_proba=True),
        Metric("rmse", "regression", False),
        Metric("mae", "regression", False),
        Metric("r2", "regression", True),
    )
}


def main_route(deployment: Any) -> str:
    """The route that answers now: a running canary's baseline, a promoted canary's
    candidate, else the route with the largest share (the first of equals)."""
    policy = deployment.policy
    if policy.get("kind") == "canary":
        return str(policy["candidate" if policy.get("status") == "promoted" else "baseline"])
    return str(max(deployment.routes, key=lambda r: r.weight).name)


def champion_of(name: str, target: str, *, busy_ok: bool = False) -> dict[str, Any]:
    """What the retraining pipeline needs of deployment ``name``'s champion (the version
    its main route serves): the routes, the exact version, its task and inputs.

    Raises:
        NotFound: no such deployment, or its champion's version is gone.
        InvalidInput: not two routes, or a champion registered without a signature.
        Conflict: a canary is still running on it (unless ``busy_ok``).
    """
    from shipyard import models
    from shipyard.serving import deployments

    found = deployments.get(name)
    if len(found.routes) != 2:
        raise InvalidInput(
            f"deployment: {name!r} has {len(found.routes)} route(s); retraining needs two "
            "(the champion's and one for the candidate's canary)."
        )
    policy = found.policy
    if not busy_ok and policy.get("kind") == "canary" and policy.get("status") == "running":
        raise Conflict(
            f"Deployment {name!r} is still trying {policy['candidate']!r} as a canary; "
            "retrain once the canary has promoted it or rolled it back."
        )
    main = main_route(found)
    other = next(r.name for r in found.routes if r.name != main)
    version = models.get(found.route(main).model)
    signature = version.signature
    if signature is None:
        raise InvalidInput(
            f"deployment: its champion {version.ref} was registered without a signature, so "
            "its inputs are unknown; register it with X=<training rows>."
        )
    if target in signature.names:
        raise InvalidInput(f"target: {target!r} is an input of the champion {version.ref}.")
    return {
        "deployment": name,
        "route": main,
        "other": other,
        "model": version.ref,
        "name": version.name,
        "version": version.version,
        "flavor": version.flavor,
        "exports": sorted(version.exports),
        "datasets": list(version.datasets),
        "task": signature.task,
        "features": signature.names,
        "created_at": version.created_at,
    }


@dataclass(frozen=True)
class Split:
    """The new data as training rows and holdout rows (inputs and target each)."""

    x_train: Any
    y_train: Any
    x_holdout: Any
    y_holdout: Any
    task: str


def task_of(y: Any, given: str | None) -> str:
    """The champion's task, else classification for a target of labels or of a few
    whole numbers, regression otherwise."""
    if given is not None:
        return given
    import pandas as pd

    if pd.api.types.is_float_dtype(y) or (pd.api.types.is_integer_dtype(y) and y.nunique() > 20):
        return "regression"
    return "classification"


def split(frame: Any, champion: Mapping[str, Any], target: str, holdout: float, seed: int) -> Split:
    """The rows with a target, split into training rows and the holdout (stratified by
    class for classification), inputs in the champion's order.

    Raises:
        InvalidInput: a missing column, too few rows, or one class only.
    """
    from sklearn.model_selection import train_test_split

    features = list(champion["features"])
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"The new data lacks {missing} (the champion {champion['model']} takes "
            f"{features}, the target is {target!r})."
        )
    rows = frame[frame[target].notna()]
    x, y = rows[features], rows[target]
    task = task_of(y, champion.get("task"))
    holdout_rows = math.ceil(len(rows) * holdout)
    if len(rows) - holdout_rows < 20 or holdout_rows < 10:
        raise InvalidInput(
            f"The new data has {len(rows)} rows with a target: too few to train on and to "
            f"hold {holdout:g} of them out (at least 20 training and 10 holdout rows)."
        )
    stratify = None
    if task == "classification":
        counts = y.value_counts()
        if len(counts) < 2:
            raise InvalidInput(f"The new data's target {target!r} has one class only.")
        stratify = y if counts.min() >= 2 else None
    parts = train_test_split(x, y, test_size=holdout, random_state=seed, stratify=stratify)
    x_train, x_holdout, y_train, y_holdout = parts
    return Split(x_train, y_train, x_holdout, y_holdout, task)


def default_metric(task: str, has_proba: bool) -> str:
    """AUC for a classifier with probabilities (else accuracy), RMSE for regression."""
    if task == "regression":
        return "rmse"
    return "auc" if has_proba else "accuracy"


def _probabilities(model: Any, x: Any) -> tuple[Any, list[Any]] | None:
    """Class probabilities and the classes in their columns' order, or None."""
    if not hasattr(model, "predict_proba"):
        return None
    classes = getattr(model, "classes_", None)
    if classes is None:
        classes = getattr(model, "classes", None)
    if classes is None:
        return None
    return model.predict_proba(x), list(classes)


def scores(model: Any, x: Any, y: Any, task: str) -> dict[str, float]:
    """Every metric of ``task`` that ``model`` can be scored on over ``(x, y)``."""
    import numpy as np
    from sklearn import metrics as sk

    predicted = np.asarray(model.predict(x))
    truth = np.asarray(y)
    if task == "regression":
        error = predicted.astype(float) - truth.astype(float)
        return {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
            "r2": float(sk.r2_score(truth, predicted)),
        }
    out = {"accuracy": float(np.mean(predicted == truth))}
    found = _probabilities(model, x)
    if found is not None:
        proba, classes = found
        present = set(truth.tolist())
        if present <= set(classes) and len(present) > 1:
            if len(classes) == 2:
                out["auc"] = float(sk.roc_auc_score(truth == classes[1], proba[:, 1]))
            else:
                out["auc"] = float(
                    sk.roc_auc_score(truth, proba, multi_class="ovr", labels=classes)
                )
            out["log_loss"] = float(sk.log_loss(truth, proba, labels=classes))
    return out


def drop_of(metric: Metric, candidate: float, champion: float) -> float:
    """How much worse the candidate is than the champion (negative: better)."""
    return champion - candidate if metric.higher_is_better else candidate - champion
