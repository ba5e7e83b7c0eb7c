"""The scikit-learn flavor: skops (builds only trusted types), or pickle when asked.

skops's loader builds only types on an allow-list (scikit-learn, NumPy, SciPy, LightGBM,
XGBoost, Shipyard) or types the registering user trusted by name. Pickle is used only when
asked for (``serialization="pickle"``); the registry loads it only after the artifact's
sha256 matches the version's record. ONNX conversion is skl2onnx's, with the converters
of ``_onnx_steps.py`` for steps it lacks or mishandles; each input column is one graph input.
"""

from __future__ import annotations

import importlib
import pickle
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._flavor import (
    Example,
    NativePredictor,
    Predictor,
    Saved,
    check_fitted,
    classes_of,
)
from shipyard.models._onnx import TEXT_TYPES, one_matrix, run_converter
from shipyard.models._signature import Columns, Signature
from shipyard.models._skops import skops_io

__all__ = ["SklearnFlavor"]

# What skops may build without the registering user naming it: classes of scikit-learn,
# SciPy, LightGBM, XGBoost and Shipyard (its preprocessing) but not their test helpers;
# NumPy's dtypes, scalar types and ufuncs (np.log1p in a FunctionTransformer); and
# scikit-learn functions named here (it wraps check_array in partials). Not other functions:
# scikit-learn's test helpers run scripts, numpy.load reads files, builtins.eval runs code.
SAFE_MODULES = ("sklearn.", "numpy.", "scipy.", "lightgbm.", "xgboost.", "shipyard.")
SAFE_FUNCTIONS = frozenset({"sklearn.utils.validation.check_array"})
# functools.partial carries a function, and skops lists that function as a type of its own,
# so the partial adds nothing to trust; OrderedDict is a plain container.
SAFE_TYPES = frozenset({"functools.partial", "collections.OrderedDict"})
# skl2onnx 1.20 writes bools into HistGradientBoosting's int attributes; protobuf 6 warns
# (an error under -W error), protobuf 7 refuses
_BOOL_AS_INT = r"Field onnx\.AttributeProto\.ints: Expected an int, got a boolean"


def _safe_type(name: str) -> bool:
    """Whether skops may build ``name`` (a dotted type or function name) unasked."""
    if name in SAFE_TYPES or name in SAFE_FUNCTIONS:
        return True
    if not name.startswith(SAFE_MODULES) or "._testing" in name or ".tests." in name:
        return False
    module, _, attr = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    if isinstance(found, np.ufunc):
        return True
    if isinstance(found, type):
        if name.startswith("numpy."):  # dtypes and scalar types only
            return issubclass(found, (np.dtype, np.generic))
        return True
    return False


class SklearnFlavor:
    """scikit-learn estimators and pipelines (any ``BaseEstimator``), saved with skops."""

    name = "sklearn"
    needs_signature = False
    packages = ("scikit-learn", "numpy", "scipy", "skops")
    order = 90  # LightGBM's and XGBoost's models are BaseEstimators too
    deterministic = False  # skops writes a zip with the time in it
    onnx_unsupported = None

    def handles(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover - scikit-learn is a dependency
            return False
        return isinstance(model, BaseEstimator)

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        check_fitted(model)
        meta: dict[str, Any] = {
            "format": serialization,
            "classes": classes_of(model),
            "feature_names": getattr(model, "feature_names_in_", None) is not None,
            "type": f"{type(model).__module__}.{type(model).__qualname__}",
        }
        if serialization == "pickle":
            return Saved(pickle.dumps(model, protocol=5), meta)
        if serialization != "skops":
            raise InvalidInput(f"serialization must be 'skops' or 'pickle', got {serialization!r}.")
        sio = skops_io()
        data = sio.dumps(model)
        needed = sio.get_untrusted_types(data=data)
        unsafe = sorted(t for t in needed if t not in trusted and not _safe_type(t))
        if unsafe:
            raise InvalidInput(
                f"The model holds types skops will not load without your trust: {unsafe}. "
                "If you trust this code, pass trusted=[...] with those names; or "
                "serialization='pickle' (loaded only after its hash is verified)."
            )
        meta["trusted"] = sorted(needed)
        return Saved(data, meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        if meta.get("format") == "pickle":
            return pickle.loads(data)  # the caller verified the sha256 against the record
        sio = skops_io()
        from skops.io.exceptions import UntrustedTypesFoundException

        try:  # skops refuses any type outside the list recorded at registration
            return sio.loads(data, trusted=sorted(meta.get("trusted", ())))
        except UntrustedTypesFoundException as exc:
            raise ShipyardError(
                f"The stored model holds types that were not trusted at registration "
                f"({exc}); refusing to load it."
            ) from exc

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        return NativePredictor(model, sig, bool(meta.get("feature_names", True)))

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        return run_converter("skl2onnx", model, lambda: _convert(model, signature))

    def examples(self) -> Sequence[Example]:
        return (
            Example("sklearn-pipeline", _pipeline),
            Example("sklearn-hist-gbm", _hist_gbm, numeric=True),
            Example("sklearn-ridge", _ridge, task="regression", numeric=True),
        )


def _convert(model: Any, signature: Signature) -> Any:
    from skl2onnx import convert_sklearn, get_latest_tested_opset_version
    from sklearn.base import is_classifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from shipyard.models._onnx_steps import converter_tables

    last = model
    while isinstance(last, Pipeline):
        last = last.steps[-1][1]
    named = getattr(model, "feature_names_in_", None) is not None
    if named and _selects_by_name(model, Pipeline, ColumnTransformer):
        types = [(c.name, _input_type(c.type)) for c in signature.inputs]
    else:
        from skl2onnx.common.data_types import FloatTensorType

        width = getattr(model, "n_features_in_", len(signature.inputs))
        one_matrix(signature, type(model).__name__, width, codes=False)
        types = [("input", FloatTensorType([None, len(signature.inputs)]))]
    options = {id(last): {"zipmap": False}} if is_classifier(last) else None
    converters, shapes = converter_tables(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _BOOL_AS_INT, DeprecationWarning)
        return convert_sklearn(
            model,
            initial_types=types,
            options=options,
            # onnxmltools' tree converters (LightGBM, XGBoost in a Pipeline) write ai.onnx.ml 3
            target_opset={"": get_latest_tested_opset_version(), "ai.onnx.ml": 3},
            custom_conversion_functions=converters,
            custom_shape_calculators=shapes,
        )


def _selects_by_name(model: Any, pipeline: Any, columns: Any) -> bool:
    """Whether the model reads its columns by name (a ColumnTransformer first, or a vote
    whose every member does), so the graph takes one input per column."""
    while isinstance(model, pipeline):
        model = model.steps[0][1]
    members = getattr(model, "estimators_", None)
    if type(model).__name__ in ("VotingClassifier", "VotingRegressor") and members:
        return all(_selects_by_name(m, pipeline, columns) for m in members)
    return isinstance(model, columns)


def _input_type(kind: str) -> Any:
    """The graph input of one signature column (see ``_onnx.py`` for how each is fed)."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    if kind in TEXT_TYPES:
        return StringTensorType([None, 1])
    if kind == "datetime":
        return Int64TensorType([None, 1])  # seconds since the epoch
    return FloatTensorType([None, 1])


# -- examples for the contract battery ------------------------------------------------------


def _pipeline(X: Any, y: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categories = [str(c) for c in X.select_dtypes("category").columns]
    numeric = [c for c in X.columns if c not in categories]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), categories),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1_000))]).fit(X, y)


def _hist_gbm(X: Any, y: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(X, y)


def _ridge(X: Any, y: Any) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge().fit(X, y)


FLAVOR = SklearnFlavor()
