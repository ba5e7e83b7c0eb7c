"""Explanations of registered models: local (``sy.explain``) and global (recorded).

``sy.explain("churn@champion", rows)`` gives each input column's SHAP contribution to each
row's output, the base value they add to and the output itself (log-odds of the positive
class for boosted and linear classifiers, the probability for forests and model-agnostic
explanations, the raw value for regressors); ``explain_global`` records mean |SHAP| and
permutation importance with the version as ``explanation`` evidence. The method table is in
``_explain_methods``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.governance._explain_methods import (
    BACKGROUND_ROWS,
    Explainer,
    agnostic,
    build_explainer,
)

if TYPE_CHECKING:
    from shipyard.models import LoadedModel

__all__ = ["Explanation", "explain", "explainer_for"]

CACHE_SIZE = 16
_lock = threading.Lock()
_cache: OrderedDict[str, Explainer] = OrderedDict()


@dataclass(frozen=True)
class Explanation:
    """Per-feature contributions of some rows, in the model's original feature space.

    Attributes:
        model: the version explained (``churn@7``).
        method: ``tree``, ``linear``, ``exact`` or ``permutation``.
        note: why a fallback method was used, else None.
        output: what the contributions add up to: ``log-odds``, ``probability`` or ``raw``.
        features: the input columns, in the order of ``values``' second axis.
        classes: the classes explained (one per value of the last axis), or None (a
            regressor, or a binary classifier's positive class).
        values: SHAP values, (rows, features) or (rows, features, classes).
        base_value: the expected output (a float, or one per class).
        prediction: the model's output each row: ``values.sum(axis=1) + base_value``.
        data: the rows explained, as the model took them.
    """

    model: str
    method: str
    note: str | None
    output: str
    features: list[str]
    classes: list[Any] | None
    values: np.ndarray
    base_value: float | list[float]
    prediction: np.ndarray
    data: pd.DataFrame

    def contributions(self, row: int = 0) -> dict[str, Any]:
        """``{feature: contribution}`` of one row (a list per class for multiclass)."""
        return {f: _plain(self.values[row, i]) for i, f in enumerate(self.features)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the method, base value and, per row, contributions and prediction."""
        return {
            "model": self.model,
            "method": self.method,
            "note": self.note,
            "output": self.output,
            "features": list(self.features),
            "classes": self.classes,
            "base_value": self.base_value,
            "rows": [
                {"contributions": self.contributions(i), "prediction": _plain(self.prediction[i])}
                for i in range(len(self.values))
            ],
        }


def _plain(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else [float(v) for v in array]


def _classifier(loaded: Any) -> bool:
    return loaded.classes is not None


def _background(loaded: Any) -> pd.DataFrame | None:
    from shipyard.models import sample

    rows = sample(loaded.version)
    if rows is None or loaded.signature is None:
        return None
    return loaded.signature.frame(loaded.validate(rows[loaded.signature.names]))


def _agnostic_predict(loaded: Any) -> Any:
    classes = loaded.classes

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if classes is None:
            return np.asarray(loaded.predict(frame), dtype=np.float64)
        proba = np.asarray(loaded.predict_proba(frame), dtype=np.float64)
        return proba[:, 1] if proba.shape[1] == 2 else proba

    return predict


def explainer_for(loaded: Any, refused: str | None = None) -> Explainer:
    """The explainer of a loaded (native) model, built once per version and cached;
    ``refused``: why the fast method failed on this model (build the fallback instead).

    Raises:
        InvalidInput: the version has no signature, or no sample rows for a model only a
            model-agnostic method can explain.
    """
    key = loaded.version.id
    with _lock:
        hit = _cache.get(key)
        if hit is not None and (refused is None or hit.note is not None):
            _cache.move_to_end(key)
            return hit
    if loaded.signature is None:
        raise InvalidInput(
            f"Model {loaded.version.ref} was registered without a signature, so its inputs "
            "cannot be explained. Register it again with X=<training data>."
        )
    features = list(loaded.signature.names)
    background = _background(loaded)
    built, note = None, refused
    if refused is None:
        try:
            built = build_explainer(
                loaded.native, loaded.version.flavor, features, _classifier(loaded), background
            )
        except Exception as exc:  # shap refused this model: fall back, and say so
            note = _refusal(exc)
    if built is None:
        built = _fallback(loaded, features, background, note)
    with _lock:
        _cache[key] = built
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def _refusal(exc: Exception) -> str:
    said = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return f"shap's exact method failed on this model ({said}); "


def _fallback(
    loaded: Any, features: list[str], background: pd.DataFrame | None, note: str | None
) -> Explainer:
    if background is None:
        raise InvalidInput(
            f"Model {loaded.version.ref} needs a model-agnostic explanation, which needs "
            "background rows; register it with X=<training data> (a sample is kept)."
        )
    kind = type(loaded.native).__name__
    note = (note or f"no exact SHAP method for {kind}; ") + (
        "used shap's model-agnostic explainer on the model's output"
    )
    rows = BACKGROUND_ROWS
    members = len(getattr(loaded.native, "estimators", None) or ())
    if members > 1:
        # An ensemble (sy.automl's vote) predicts through every member for each of the
        # method's thousands of coalitions per row and background row: fewer background rows
        # keep its explanation in seconds, not minutes (5 members: 10 rows, about 15 s).
        rows = max(10, BACKGROUND_ROWS // (2 * members))
        note += f", over {rows} background rows (an ensemble of {members} models)"
    output = "raw" if loaded.classes is None else "probability"
    return agnostic(_agnostic_predict(loaded), features, background, output, note + ".", rows)


def explain_loaded(loaded: Any, rows: Any, ref: str | None = None) -> Explanation:
    """Explain ``rows`` (any form ``LoadedModel.predict`` takes) with a native model."""
    explainer = explainer_for(loaded)
    frame = loaded.signature.frame(loaded.validate(rows))
    try:
        raw = explainer.explain(frame)
    except ShipyardError:
        raise
    except Exception as exc:  # the fast method failed on these rows: fall back, say so
        if explainer.note is not None:
            raise InvalidInput(f"The model could not be explained: {_refusal(exc)}") from exc
        explainer = explainer_for(loaded, refused=_refusal(exc))
        raw = explainer.explain(frame)
    classes = loaded.classes
    explained = None
    if classes is not None and raw.values.ndim == 3:
        explained = list(classes)
    elif classes is not None and len(classes) == 2:
        explained = [classes[1]]
    base = raw.base
    return Explanation(
        model=ref or loaded.version.ref,
        method=explainer.method,
        note=explainer.note,
        output=explainer.output,
        features=explainer.features,
        classes=explained if raw.values.ndim == 3 else None,
        values=raw.values,
        base_value=float(base) if base.ndim == 0 else [float(b) for b in base],
        prediction=raw.output,
        data=frame,
    )


def explain(ref: str | LoadedModel, rows: Any) -> Explanation:
    """Each input column's contribution to the model's output for ``rows``.

    Contributions are SHAP values, equal to what the ``shap`` library computes for the same
    model and rows, summed back to the original columns when the model encodes them; they
    add up, with the base value, to the model's output (see :attr:`Explanation.output`).

    Args:
        ref: a model version (``churn@champion``, ``churn@7``) or a loaded model (one in
            its ONNX form is explained with its native form).
        rows: one record (a dict), a list of records, a dict of columns or a DataFrame.

    Raises:
        NotFound: no such model version.
        InvalidInput: rows that do not fit the model's signature (the column is named).

    Example:
        >>> e = sy.explain("churn@champion", {"age": 41, "plan": "pro"})  # doctest: +SKIP
        >>> e.contributions()                                           # doctest: +SKIP
        {'age': 0.31, 'plan': -0.12}
    """
    from shipyard.models import LoadedModel, load

    if isinstance(ref, LoadedModel) and ref.format == "native":
        loaded = ref
    elif isinstance(ref, LoadedModel):
        loaded = load(ref.version.ref, format="native", check_environment=False)
    elif isinstance(ref, str):
        loaded = load(ref, format="native")
    else:
        raise InvalidInput(
            f"ref: expected a model version ('churn@7') or a loaded model, got "
            f"{type(ref).__name__}."
        )
    return explain_loaded(loaded, _rows(rows), loaded.version.ref)


def _rows(rows: Any) -> Any:
    if isinstance(rows, (pd.DataFrame, Mapping, list)):
        return rows
    raise InvalidInput(
        "rows must be a record (dict), a list of records, a dict of columns or a DataFrame; "
        f"got {type(rows).__name__}."
    )


def clear_cache() -> None:
    """Forget the built explainers (a test changing models under the same ids)."""
    with _lock:
        _cache.clear()
