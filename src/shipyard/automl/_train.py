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
from shipyard.automl._preprocess import ENCODINGS, make_preprocessor
from shipyard.errors import InvalidInput

__all__ = ["ESTIMATORS", "TrainResult", "estimator", "train"]

SPLITS = ("holdout", "kfold")
SAMPLE_ROWS = 1000
TREES = ("Forest", "Boost", "Tree", "LGBM", "XGB")


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


def _estimators() -> dict[str, Any]:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    def lightgbm(task: str, seed: int) -> Any:
        import lightgbm as lgb

        kind = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
        return kind(n_jobs=1, random_state=seed, verbose=-1)

    def xgboost(task: str, seed: int) -> Any:
        import xgboost as xgb

        kind = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
        return kind(n_jobs=1, random_state=seed, tree_method="hist")

    return {
        "linear": lambda task, seed: (
            LogisticRegression(max_iter=1000) if task == "classification" else Ridge()
        ),
        "random_forest": lambda task, seed: (
            RandomForestClassifier if task == "classification" else RandomForestRegressor
        )(n_estimators=200, n_jobs=1, random_state=seed),
        "hist_gradient_boosting": lambda task, seed: (
            HistGradientBoostingClassifier
            if task == "classification"
            else HistGradientBoostingRegressor
        )(random_state=seed),
        "lightgbm": lightgbm,
        "xgboost": xgboost,
        "mlp": lambda task, seed: (MLPClassifier if task == "classification" else MLPRegressor)(
            hidden_layer_sizes=(64, 64), early_stopping=True, max_iter=300, random_state=seed
        ),
    }


ESTIMATORS = (
    "linear",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
    "mlp",
)


def estimator(name: str, task: str, seed: int = 0) -> Any:
    """A model family by name (``lightgbm``, ``mlp``...), with sensible defaults for ``task``."""
    families = _estimators()
    if name not in families:
        raise InvalidInput(f"model must be one of {', '.join(ESTIMATORS)}; got {name!r}.")
    return families[name](task, seed)


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
            target (leakage), too few rows for the folds, an unknown split.
    """
    frame, ref = _frame(dataset, data)
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {SPLITS}; got {split!r}.")
    features, y = split_target(frame, target, drop)
    if isinstance(model, str):
        model = estimator(model, task or _task_of(None, y), seed)
    task = task or _task_of(model, y)
    _check_target(features, y, target, task)
    encoding = _encoding(preprocess, model)
    pipeline = _pipeline(model, features, encoding)
    splits = _splits(features, y, task, split, test_size, folds, time_column, seed)

    with tracking.start_run(experiment=experiment, name=name or _name(model)) as run:
        if ref is not None:
            datasets_api.get(ref)  # records the read: lineage from the run to the data
        run.log_params(_params(model, split, folds, test_size, seed, target, encoding, frame))
        fold_metrics, predictions = [], []
        for number, (train_rows, test_rows) in enumerate(splits):
            fitted = _clone(pipeline)
            started = time.perf_counter()
            fitted.fit(features.iloc[train_rows], y.iloc[train_rows])
            scores = _score(fitted, features.iloc[test_rows], y.iloc[test_rows], task)
            scores["fit_seconds"] = time.perf_counter() - started
            run.log_metrics({f"fold_{k}": v for k, v in scores.items()}, step=number)
            fold_metrics.append(scores)
            predictions.append((test_rows, fitted.predict(features.iloc[test_rows])))
        metrics = {k: float(np.mean([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
        run.log_metrics(metrics)
        if split == "kfold":
            fitted = _clone(pipeline).fit(features, y)  # the model to keep sees every row
        _log_curves(run, fitted)
        _log_errors(run, y, predictions, task)
    sample = frame.sample(min(len(frame), SAMPLE_ROWS), random_state=seed)
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


def _frame(dataset: Any, data: pd.DataFrame | None) -> tuple[pd.DataFrame, str | None]:
    if (dataset is None) == (data is None):
        raise InvalidInput("Give exactly one of dataset='name@version' or data=<DataFrame>.")
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise InvalidInput(f"data must be a DataFrame, got {type(data).__name__}.")
        return data.reset_index(drop=True), None
    version = datasets_api.resolve(dataset) if isinstance(dataset, str) else dataset
    if not isinstance(version, datasets_api.DatasetVersion):
        raise InvalidInput(
            f"dataset must be a reference like 'loans@3' or a DatasetVersion, got "
            f"{type(dataset).__name__}."
        )
    return version.to_pandas(), version.ref


def split_target(
    frame: pd.DataFrame, target: str, drop: tuple[str, ...] | list[str] = ()
) -> tuple[pd.DataFrame, pd.Series]:
    """(features, target) of a frame: the target must exist and have no missing values."""
    if target not in frame.columns:
        raise InvalidInput(
            f"target {target!r} is not a column of the data (columns: "
            f"{', '.join(map(str, frame.columns[:20]))})."
        )
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise InvalidInput(f"drop names columns the data lacks: {missing}.")
    y = frame[target]
    if y.isna().any():
        raise InvalidInput(
            f"target {target!r} has {int(y.isna().sum())} missing values; drop those rows first."
        )
    return frame.drop(columns=[target, *drop]), y


def _task_of(model: Any, y: pd.Series) -> str:
    if model is not None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    if y.dtype.kind == "f" and y.nunique() > 20:
        return "regression"
    return "classification"


def _check_target(features: pd.DataFrame, y: pd.Series, target: str, task: str) -> None:
    if task == "classification" and y.nunique() < 2:
        raise InvalidInput(
            f"target {target!r} has one class only ({y.iloc[0]!r}); a classifier needs two."
        )
    for column in features.columns:
        values = features[column]
        if len(values) and values.astype(str).equals(y.astype(str)):
            raise InvalidInput(
                f"Column {column!r} is identical to the target {target!r}: it leaks the answer. "
                f"Drop it (drop=[{column!r}])."
            )


def _encoding(preprocess: str | None, model: Any) -> str | None:
    if preprocess is None:
        return None
    if preprocess == "auto":
        return "ordinal" if _is_tree(model) else "onehot"
    if preprocess not in ENCODINGS:
        raise InvalidInput(f"preprocess must be 'auto', None or one of {ENCODINGS}.")
    return preprocess


def _is_tree(model: Any) -> bool:
    return any(word in type(model).__name__ for word in TREES)


def _pipeline(model: Any, features: pd.DataFrame, encoding: str | None) -> Any:
    from sklearn.pipeline import Pipeline

    if encoding is None:
        return Pipeline([("model", model)])
    pre = make_preprocessor(features, encoding=encoding, scale=not _is_tree(model))
    return Pipeline([("preprocess", pre), ("model", model)])


def _splits(
    features: pd.DataFrame,
    y: pd.Series,
    task: str,
    split: str,
    test_size: float,
    folds: int,
    time_column: str | None,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import (
        KFold,
        StratifiedKFold,
        TimeSeriesSplit,
        train_test_split,
    )

    rows = np.arange(len(features))
    if split == "kfold" and folds < 2:
        raise InvalidInput(f"folds must be at least 2, got {folds}.")
    if split == "holdout" and not 0 < test_size < 1:
        raise InvalidInput(f"test_size must be between 0 and 1, got {test_size}.")
    needed = folds if split == "kfold" else 2
    smallest = int(y.value_counts().min()) if task == "classification" else len(y)
    if len(y) < 2 * needed or smallest < needed:
        raise InvalidInput(
            f"Too few rows for {split} ({len(y)} rows; the rarest class has {smallest}); "
            f"need at least {needed} of each class. Use fewer folds or more data."
        )
    if time_column is not None:
        if time_column not in features.columns:
            raise InvalidInput(f"time_column {time_column!r} is not a feature column.")
        order = np.argsort(features[time_column].to_numpy(), kind="stable")
        if split == "kfold":
            return [(order[a], order[b]) for a, b in TimeSeriesSplit(folds).split(order)]
        cut = round(len(order) * (1 - test_size))
        return [(order[:cut], order[cut:])]
    stratify = y if task == "classification" else None
    if split == "kfold":
        kind = StratifiedKFold if task == "classification" else KFold
        splitter = kind(folds, shuffle=True, random_state=seed)
        return list(splitter.split(features, y))
    train_rows, test_rows = train_test_split(
        rows, test_size=test_size, random_state=seed, stratify=stratify
    )
    return [(np.sort(train_rows), np.sort(test_rows))]


def _clone(pipeline: Any) -> Any:
    from sklearn.base import clone

    return clone(pipeline)


def _score(model: Any, X: pd.DataFrame, y: pd.Series, task: str) -> dict[str, float]:
    from sklearn import metrics as m

    if task == "regression":
        predicted = model.predict(X)
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y, predicted))),
            "mae": float(m.mean_absolute_error(y, predicted)),
            "r2": float(m.r2_score(y, predicted)),
        }
    predicted = model.predict(X)
    classes = list(getattr(model, "classes_", sorted(pd.unique(y))))
    f1 = (
        m.f1_score(y, predicted, pos_label=classes[-1])
        if len(classes) == 2
        else m.f1_score(y, predicted, average="macro")
    )
    scores = {"accuracy": float(m.accuracy_score(y, predicted)), "f1": float(f1)}
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        if len(classes) == 2:
            scores["auc"] = float(m.roc_auc_score(y == classes[1], proba[:, 1]))
        elif set(y.unique()) == set(classes):
            scores["auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        scores["log_loss"] = float(m.log_loss(y, proba, labels=classes))
    return scores


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
