"""How each kind of model is explained: the method table behind ``sy.explain``.

An :class:`Explainer` turns a frame of validated inputs (the signature's dtypes) into SHAP
values in the model's ORIGINAL feature space, a base value and the output they add up to:

- LightGBM and XGBoost boosters: their own exact TreeSHAP (``pred_contrib``), in log-odds
  for classifiers and raw scores for regressors, exactly what ``shap.TreeExplainer`` gives.
- scikit-learn trees, forests and gradient boosting (and LightGBM/XGBoost estimators inside a
  Pipeline): ``shap.TreeExplainer`` on the final estimator; Shipyard's CatBoost step:
  CatBoost's own exact TreeSHAP (category columns included), like the boosters above.
- Linear models: ``shap.LinearExplainer`` with the stored sample rows as background.
- Anything else (a :class:`~shipyard.models.PythonModel`, an MLP, a model the above refuse):
  ``shap``'s model-agnostic KernelExplainer on the model's output (every coalition, so exact,
  up to 10 features), with ``note`` saying why.

A Pipeline's preprocessing is applied first and the final estimator explained on the
encoded columns; each encoded column's value is then summed back to the input column it was
made from (a one-hot column to its source column), which keeps the sum.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BACKGROUND_ROWS",
    "Explainer",
    "Raw",
    "agnostic",
    "build_explainer",
    "shap_module",
    "source_map",
]

AGNOSTIC_EXACT = 10  # up to this many features the model-agnostic method is exact
BACKGROUND_ROWS = 100  # rows of background data for the linear and model-agnostic methods


@dataclass(frozen=True)
class Raw:
    """SHAP values of a batch: ``values`` (rows, features) or (rows, features, classes),
    ``base`` (scalar or per class), ``output`` (rows) or (rows, classes) = sum + base."""

    values: np.ndarray
    base: np.ndarray
    output: np.ndarray


@dataclass
class Explainer:
    """An explainer for one loaded model: ``explain(frame)`` gives :class:`Raw` values."""

    method: str
    output: str  # "log-odds" | "probability" | "raw"
    features: list[str]
    run: Callable[[pd.DataFrame], Raw]
    note: str | None = None

    def explain(self, frame: pd.DataFrame) -> Raw:
        return self.run(frame)


def shap_module() -> Any:
    """``shap``, imported without the deprecation warnings its plotting code raises on
    import under recent matplotlib."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap
    return shap


def _raw(values: np.ndarray, base: Any) -> Raw:
    """Raw values from (rows, features[, classes]) and the base; output = sum + base."""
    values = np.asarray(values, dtype=np.float64)
    base_array = np.asarray(base, dtype=np.float64)
    return Raw(values, base_array, values.sum(axis=1) + base_array)


def _split_contrib(contrib: np.ndarray, features: int, classes: int) -> Raw:
    """A booster's ``pred_contrib`` matrix (rows, (features + 1) * classes) as Raw."""
    if classes <= 1:
        contrib = contrib.reshape(len(contrib), features + 1)
        return _raw(contrib[:, :-1], contrib[0, -1] if len(contrib) else 0.0)
    block = contrib.reshape(len(contrib), classes, features + 1)
    values = np.transpose(block[:, :, :-1], (0, 2, 1))  # rows, features, classes
    return _raw(values, block[0, :, -1] if len(block) else np.zeros(classes))


def _lightgbm(booster: Any, features: list[str], classifier: bool) -> Explainer:
    classes = int(booster.num_model_per_iteration())

    def run(frame: pd.DataFrame) -> Raw:
        data: Any = frame
        if all(t.kind in "fiu" for t in frame.dtypes):  # numbers: skip LightGBM's pandas path
            data = frame.to_numpy(dtype=np.float64)
        contrib = np.asarray(booster.predict(data, pred_contrib=True, num_threads=1))
        return _split_contrib(contrib, len(features), classes)

    return Explainer("tree", "log-odds" if classifier else "raw", features, run)


def _xgboost(booster: Any, features: list[str], classifier: bool) -> Explainer:
    import xgboost as xgb

    def run(frame: pd.DataFrame) -> Raw:
        matrix = xgb.DMatrix(frame, enable_categorical=True, nthread=1)
        contrib = np.asarray(booster.predict(matrix, pred_contribs=True))
        if contrib.ndim == 3:  # rows, classes, features + 1
            classes = contrib.shape[1]
            return _split_contrib(contrib.reshape(len(contrib), -1), len(features), classes)
        return _split_contrib(contrib, len(features), 1)

    return Explainer("tree", "log-odds" if classifier else "raw", features, run)


def _tree_kind(estimator: Any) -> bool:
    if hasattr(estimator, "contributions"):  # Shipyard's CatBoost step: CatBoost's TreeSHAP
        return True
    module = type(estimator).__module__
    if module.startswith(("lightgbm", "xgboost", "catboost")):
        return True
    if module.startswith("sklearn.tree") or module.startswith("sklearn.ensemble"):
        return (
            hasattr(estimator, "estimators_")
            or hasattr(estimator, "tree_")
            or (
                hasattr(estimator, "_predictors")  # HistGradientBoosting*
            )
        )
    return False


def _contributions(estimator: Any) -> Callable[[Any], Any] | None:
    """For an estimator with its own TreeSHAP (``contributions``: LightGBM's
    ``pred_contrib`` layout), a callable that gives shap's Explanation-like values."""
    if not hasattr(estimator, "contributions"):
        return None

    def explain(matrix: Any) -> Any:
        contrib = estimator.contributions(matrix)
        classes = contrib.shape[1] if contrib.ndim == 3 else 1
        raw = _split_contrib(contrib.reshape(len(contrib), -1), contrib.shape[-1] - 1, classes)
        return _Explained(raw.values, np.broadcast_to(raw.base, (len(contrib), *raw.base.shape)))

    return explain


@dataclass(frozen=True)
class _Explained:
    """Values and base values, as ``_shap_values`` reads shap's Explanation."""

    values: np.ndarray
    base_values: np.ndarray


def _linear_kind(estimator: Any) -> bool:
    module = type(estimator).__module__
    return module.startswith("sklearn.linear_model") and hasattr(estimator, "coef_")


def _tree_output(estimator: Any) -> str:
    name = type(estimator).__name__
    if not hasattr(estimator, "predict_proba"):
        return "raw"
    if name.startswith(("RandomForest", "ExtraTrees", "DecisionTree")):
        return "probability"  # shap explains these classifiers' averaged probabilities
    return "log-odds"


def _shap_values(explanation: Any, classifier: bool) -> Raw:
    """An ``shap.Explanation`` as Raw; a binary classifier's positive class only."""
    values = np.asarray(explanation.values, dtype=np.float64)
    base = np.asarray(explanation.base_values, dtype=np.float64)
    if values.ndim == 3 and values.shape[2] == 2 and classifier:
        values, base = values[:, :, 1], base[..., 1]
    if base.ndim >= 1 and len(base):
        base = base[0]  # the same for every row
    return _raw(values, base)


def _matrix(transformed: Any) -> np.ndarray:
    dense = transformed.toarray() if hasattr(transformed, "toarray") else transformed
    return np.asarray(dense, dtype=np.float64)


def _on_estimator(
    shap_explainer: Any,
    prepare: Callable[[pd.DataFrame], Any],
    width: int,
    classifier: bool,
) -> Callable[[pd.DataFrame], Raw]:
    def run(frame: pd.DataFrame) -> Raw:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shap's notices about output shapes
            explained = shap_explainer(prepare(frame))
        raw = _shap_values(explained, classifier)
        assert raw.values.shape[1] == width
        return raw

    return run


def source_map(names: Sequence[str], inputs: Sequence[str]) -> list[int] | None:
    """For each encoded column name, the index of the input column it was made from
    (``region_north`` -> ``region``; ``missingindicator_age`` -> ``age``), or None when a
    name matches no input."""
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    out = []
    for name in names:
        name = str(name)
        if "__" in name:  # verbose names: "transformer__column_value"
            name = name.split("__", 1)[1]
        name = name.removeprefix("missingindicator_")
        found = next(
            (i for i in order if name == inputs[i] or name.startswith(inputs[i] + "_")), None
        )
        if found is None:
            return None
        out.append(found)
    return out


def _summed(
    run: Callable[[pd.DataFrame], Raw], owners: list[int], width: int
) -> Callable[[pd.DataFrame], Raw]:
    """Values over encoded columns summed back to their source columns."""
    matrix = np.zeros((len(owners), width))
    matrix[np.arange(len(owners)), owners] = 1.0

    def summed(frame: pd.DataFrame) -> Raw:
        raw = run(frame)
        values = np.einsum("rek,es->rsk", _as3(raw.values), matrix)
        values = values[:, :, 0] if raw.values.ndim == 2 else values
        return Raw(values, raw.base, raw.output)

    return summed


def _as3(values: np.ndarray) -> np.ndarray:
    return values[:, :, None] if values.ndim == 2 else values


def _sklearn(
    model: Any, features: list[str], background: pd.DataFrame | None, classifier: bool
) -> Explainer | None:
    """Tree or linear explainer for a scikit-learn model or Pipeline; None when neither
    fits (the caller falls back to the model-agnostic method)."""
    shap = shap_module()
    from sklearn.pipeline import Pipeline

    estimator, pre = model, None
    if isinstance(model, Pipeline):
        estimator, pre = model.steps[-1][1], (model[:-1] if len(model.steps) > 1 else None)
    if not (_tree_kind(estimator) or _linear_kind(estimator)):
        return None

    def prepare(frame: pd.DataFrame) -> Any:
        return frame if pre is None else _matrix(pre.transform(frame))

    owners: list[int] | None = None
    width = len(features)
    if pre is not None:
        try:
            names = list(pre.get_feature_names_out())
        except (AttributeError, ValueError, TypeError):
            names = []
        owners = source_map(names, features)
        if owners is None:
            return None
        width = len(names)
    if _tree_kind(estimator):
        output = _tree_output(estimator)
        explainer = _contributions(estimator) or shap.TreeExplainer(estimator)
        method = "tree"
    else:
        if background is None or not len(background):
            return None
        output = "log-odds" if hasattr(estimator, "predict_proba") else "raw"
        masker = shap.maskers.Independent(prepare(background), max_samples=BACKGROUND_ROWS)
        explainer = shap.LinearExplainer(estimator, masker)
        method = "linear"
    run = _on_estimator(explainer, prepare, width, classifier)
    if owners is not None:
        run = _summed(run, owners, len(features))
    return Explainer(method, output, features, run)


class _Codes:
    """Rows as a float matrix for shap's maskers: numbers as they are, anything else (text,
    categories, booleans, dates) as codes of the values seen so far, decoded for the model."""

    def __init__(self, like: pd.DataFrame) -> None:
        self.dtypes = like.dtypes
        self.names = list(like.columns)
        self.numeric = [
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in self.dtypes
        ]
        self.values: dict[str, list[Any]] = {n: [] for n in self.names}
        self.index: dict[str, dict[Any, int]] = {n: {} for n in self.names}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.names)))
        for i, name in enumerate(self.names):
            column = frame[name]
            if self.numeric[i]:
                out[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            index, values = self.index[name], self.values[name]
            for j, value in enumerate(column.astype(object)):
                key = None if pd.isna(value) else value
                if key not in index:
                    index[key] = len(values)
                    values.append(key)
                out[j, i] = index[key]
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i, name in enumerate(self.names):
            column = matrix[:, i]
            if self.numeric[i]:
                data[name] = column
            else:
                values = self.values[name]
                data[name] = [values[int(c)] for c in column]
        return pd.DataFrame(data).astype(dict(zip(self.names, self.dtypes, strict=True)))


def agnostic(
    predict: Callable[[pd.DataFrame], np.ndarray],
    features: list[str],
    background: pd.DataFrame,
    output: str,
    note: str,
    rows: int = BACKGROUND_ROWS,
) -> Explainer:
    """shap's model-agnostic KernelExplainer on ``predict`` (rows -> output) in the original
    feature space, over up to ``rows`` background rows. Up to
    :data:`AGNOSTIC_EXACT` features it evaluates every coalition, so its values are the exact
    Shapley values (method ``exact``); beyond, a seeded sample of coalitions (``kernel``).

    (shap's Exact and Permutation explainers compute the same values but compile numba code
    for tens of seconds on first use; the kernel method needs no compilation.)
    """
    shap = shap_module()
    codes = _Codes(background)

    def call(matrix: np.ndarray) -> np.ndarray:
        return predict(codes.decode(matrix))

    explainer = shap.KernelExplainer(call, codes.encode(background.head(rows)))
    exact = len(features) <= AGNOSTIC_EXACT
    samples: Any = 2 ** len(features) if exact else "auto"

    def run(frame: pd.DataFrame) -> Raw:
        matrix = codes.encode(frame)
        state = np.random.get_state()  # shap samples coalitions from numpy's global RNG
        np.random.seed(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = explainer.shap_values(matrix, nsamples=samples, silent=True)
        finally:
            np.random.set_state(state)
        return _raw(np.asarray(values), explainer.expected_value)

    return Explainer("exact" if exact else "kernel", output, features, run, note)


def build_explainer(
    native: Any,
    flavor: str,
    features: list[str],
    classifier: bool,
    background: pd.DataFrame | None,
) -> Explainer | None:
    """The fast, exact explainer for this native model, or None (use :func:`agnostic`)."""
    if flavor == "lightgbm":
        return _lightgbm(getattr(native, "booster_", native), features, classifier)
    if flavor == "xgboost":
        booster = native.get_booster() if hasattr(native, "get_booster") else native
        return _xgboost(booster, features, classifier)
    if flavor == "sklearn":
        return _sklearn(native, features, background, classifier)
    return None
