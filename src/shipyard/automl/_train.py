"""``sy.train``: one model on a dataset version, with its preprocessing inside, tracked.

Splits (holdout or k-fold; stratified for classes; time-ordered when a time column is named),
metrics per fold and their mean, out-of-fold confusion matrix or residuals as artifacts, and a
result that ``sy.models.register`` takes as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard import tracking
from shipyard.automl._families import ESTIMATORS, get_family
from shipyard.automl._problem import (
    build_pipeline,
    check_seed,
    check_target,
    clone_pipeline,
    encoding_for,
    make_splits,
    read_frame,
    score,
    split_target,
    task_of,
)
from shipyard.errors import InvalidInput

__all__ = ["ESTIMATORS", "TrainResult", "estimator", "train"]

SPLITS = ("holdout", "kfold")
SAMPLE_ROWS = 1000


EXPLAIN_ROWS = 500  # sample rows explained at registration


@dataclass
class TrainResult:
    """A trained model and how it scored; ``sy.models.register(name, result)`` takes it.

    Attributes:
        model: the fitted Pipeline (preprocessing, then the estimator).
        task: ``classification`` or ``regression``.
        metrics: the mean over folds (k-fold) or the holdout's scores.
        fold_metrics: each fold's scores.
        run_id: the tracked run.
        dataset: the dataset version trained on (``loans@3``), when it came from one.
        target: the predicted column.
    """

    model: Any
    task: str
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]]
    run_id: str
    dataset: str | None
    target: str
    features: list[str] = field(default_factory=list)
    sample: pd.DataFrame | None = field(default=None, repr=False)

    def registration(self) -> dict[str, Any]:
        """What ``sy.models.register`` records for this result."""
        sample = self.sample if self.sample is not None else pd.DataFrame()
        return {
            "model": self.model,
            "X": sample[self.features] if len(sample) else None,
            "y": sample[self.target] if len(sample) else None,
            "run": self.run_id,
            "datasets": [self.dataset] if self.dataset else [],
        }

    def register(self, name: str, **options: Any) -> Any:
        """Register the model (``sy.models.register(name, self, **options)``), then record
        its global explanation on the stored sample rows and their target
        (``sy.governance.explain_global``); an explanation that fails warns, never undoes
        the registration. Returns the ModelVersion."""
        return register_explained(name, self, options)


def register_explained(name: str, result: Any, options: dict[str, Any]) -> Any:
    """``sy.models.register(name, result)``, then its recorded global explanation."""
    import warnings

    from shipyard import models
    from shipyard.errors import ShipyardError
    from shipyard.governance import explain_global

    version = models.register(name, result, **options)
    try:
        explain_global(version.ref, rows=EXPLAIN_ROWS)
    except ShipyardError as exc:
        warnings.warn(f"{version.ref} registered; its explanation failed: {exc}", stacklevel=3)
    return version


def registration_sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Up to :data:`SAMPLE_ROWS` random rows, holding a missing value in every column that
    has one: the signature inferred from the sample then marks those columns nullable, so
    serving accepts the nulls the model was trained with (a random sample can miss rare
    ones)."""
    sample = frame.sample(min(len(frame), SAMPLE_ROWS), random_state=seed)
    missing = frame.isna()
    lacking = missing.any() & ~sample.isna().any()
    if not lacking.any():
        return sample
    extra = list(dict.fromkeys(missing[c].idxmax() for c in lacking[lacking].index))
    keep = sample.index[: max(0, len(sample) - len(extra))]
    return pd.concat([sample.loc[keep], frame.loc[extra]])


def estimator(name: str, task: str, seed: int = 0) -> Any:
    """A model family by name (``lightgbm``, ``mlp``...), with sensible defaults for ``task``."""
    return get_family(name).build(task, seed)


def train(
    model: Any,
    *,
    target: str,
    dataset: Any = None,
    data: pd.DataFrame | None = None,
    task: str | None = None,
    split: str = "holdout",
    test_size: float = 0.2,
    folds: int = 5,
    time_column: str | None = None,
    preprocess: str | None = "auto",
    drop: tuple[str, ...] | list[str] = (),
    seed: int = 0,
    experiment: str = "train",
    name: str | None = None,
) -> TrainResult:
    """Train one model, tracked, with its preprocessing inside it.

    Args:
        model: an unfitted estimator, or a family name (``linear``, ``random_forest``,
            ``hist_gradient_boosting``, ``lightgbm``, ``xgboost``, ``mlp``).
        target: the column to predict.
        dataset: a dataset version (``"loans@3"`` or a ``DatasetVersion``); or give ``data``.
        data: a DataFrame instead of a dataset version.
        task: ``classification`` or ``regression``; inferred from the model or the target.
        split: ``holdout`` (``test_size`` of the rows) or ``kfold`` (``folds`` folds, then
            refitted on every row). Stratified by class for classification; time-ordered
            (earlier rows train, later rows test) when ``time_column`` is named.
        preprocess: ``auto`` (ordinal codes, no scaling for tree models; one-hot and scaling
            otherwise), an encoding (``onehot``, ``ordinal``, ``target``), or None to use the
            columns as they are.
        drop: columns that are not features (ids, the time column is kept as a datetime).
        seed: makes splits and the model's randomness repeatable.
        experiment, name: where the run is tracked (a child of the active run, if any).

    Raises:
        InvalidInput: an unknown target, a target with one class, a feature identical to the
            target (leakage), too few rows for the folds, an unknown split or family, a bad
            seed; all before anything is tracked.
    """
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {SPLITS}; got {split!r}.")
    check_seed(seed)
    if isinstance(model, str):
        get_family(model)  # an unknown family is named before the data is read
    frame, ref = read_frame(dataset, data)
    features, y = split_target(frame, target, drop)
    if isinstance(model, str):
        model = estimator(model, task or task_of(None, y), seed)
    task = task or task_of(model, y)
    check_target(features, y, target, task)
    encoding = encoding_for(preprocess, model)
    pipeline = build_pipeline(model, features, encoding)
    splits = make_splits(features, y, task, split, test_size, folds, time_column, seed)

    with tracking.start_run(experiment=experiment, name=name or _name(model)) as run:
        if ref is not None:
            datasets_api.get(ref)  # records the read: lineage from the run to the data
        run.log_params(_params(model, split, folds, test_size, seed, target, encoding, frame))
        fold_metrics, predictions, fitted = _fit_folds(run, pipeline, features, y, splits, task)
        metrics = {k: float(np.mean([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
        run.log_metrics(metrics)
        if split == "kfold":
            fitted = clone_pipeline(pipeline).fit(features, y)  # the model to keep sees every row
        _log_curves(run, fitted)
        _log_errors(run, y, predictions, task)
    sample = registration_sample(frame, seed)
    return TrainResult(
        model=fitted,
        task=task,
        metrics=metrics,
        fold_metrics=fold_metrics,
        run_id=str(run.id),
        dataset=ref,
        target=target,
        features=[str(c) for c in features.columns],
        sample=sample,
    )


def _fit_folds(
    run: Any,
    pipeline: Any,
    features: pd.DataFrame,
    y: pd.Series,
    splits: list[tuple[np.ndarray, np.ndarray]],
    task: str,
) -> tuple[list[dict[str, float]], list[tuple[np.ndarray, np.ndarray]], Any]:
    """Each fold fitted and scored (logged to ``run``): its scores, its test rows'
    predictions, and the last fold's fitted pipeline."""
    fold_metrics, predictions = [], []
    fitted = None
    for number, (train_rows, test_rows) in enumerate(splits):
        fitted = clone_pipeline(pipeline)
        started = time.perf_counter()
        fitted.fit(features.iloc[train_rows], y.iloc[train_rows])
        scores = score(fitted, features.iloc[test_rows], y.iloc[test_rows], task)
        scores["fit_seconds"] = time.perf_counter() - started
        run.log_metrics({f"fold_{k}": v for k, v in scores.items()}, step=number)
        fold_metrics.append(scores)
        predictions.append((test_rows, fitted.predict(features.iloc[test_rows])))
    return fold_metrics, predictions, fitted


def _params(
    model: Any,
    split: str,
    folds: int,
    test_size: float,
    seed: int,
    target: str,
    encoding: str | None,
    frame: pd.DataFrame,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": type(model).__name__,
        "split": split,
        "seed": seed,
        "target": target,
        "preprocess": encoding or "none",
        "rows": len(frame),
    }
    params["folds" if split == "kfold" else "test_size"] = folds if split == "kfold" else test_size
    for key, value in model.get_params(deep=False).items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            params[f"model.{key}"] = value
    return params


def _name(model: Any) -> str:
    return type(model).__name__


def _log_curves(run: Any, pipeline: Any) -> None:
    """Learning curves the estimator recorded while fitting (per boosting iteration)."""
    model = pipeline[-1]
    train, valid = getattr(model, "train_score_", None), getattr(model, "validation_score_", None)
    if train is not None and valid is not None and len(valid) == len(train):
        for step, (a, b) in enumerate(zip(train, valid, strict=True)):
            run.log_metrics(
                {"curve_train_score": float(a), "curve_valid_score": float(b)}, step=step
            )
    curve = getattr(model, "loss_curve_", None)
    if curve is not None:
        for step, value in enumerate(curve):
            run.log_metric("curve_train_loss", float(value), step=step)


def _log_errors(
    run: Any, y: pd.Series, predictions: list[tuple[np.ndarray, np.ndarray]], task: str
) -> None:
    """The out-of-fold confusion matrix (classification) or residuals (regression)."""
    rows = np.concatenate([r for r, _ in predictions])
    predicted = np.concatenate([p for _, p in predictions])
    truth = y.to_numpy()[rows]
    if task == "classification":
        from sklearn.metrics import confusion_matrix

        labels = sorted(pd.unique(np.concatenate([truth, predicted])).tolist(), key=str)
        matrix = confusion_matrix(truth, predicted, labels=labels).tolist()
        run.log_artifact(
            {"labels": [_plain(v) for v in labels], "matrix": matrix},
            name="confusion_matrix.json",
        )
    else:
        residuals = pd.DataFrame({"actual": truth, "predicted": predicted})
        residuals["residual"] = residuals["actual"] - residuals["predicted"]
        run.log_artifact(residuals.head(5000), name="residuals.parquet")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
