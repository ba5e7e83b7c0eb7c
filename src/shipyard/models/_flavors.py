"""Flavors: how each kind of model is saved, loaded and asked for predictions.

A flavor turns a fitted model into bytes plus a small JSON ``meta``, and back into a
:class:`Predictor` that takes validated columns (see ``_signature.py``). Formats that carry
no code come first: LightGBM's text model, XGBoost's UBJSON, ONNX, and skops for
scikit-learn, whose loader builds only types on an allow-list (scikit-learn, NumPy, SciPy)
or types the registering user trusted by name. Pickle is used only by the generic Python
flavor and when asked for (``serialization="pickle"``); the registry loads it only after
the artifact's sha256 matches the version's record.
"""

from __future__ import annotations

import abc
import contextlib
import io
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._signature import Columns, Signature

__all__ = ["FLAVORS", "Predictor", "PythonModel", "Saved", "flavor_for", "get_flavor"]

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


def _safe_type(name: str) -> bool:
    """Whether skops may build ``name`` (a dotted type or function name) unasked."""
    if name in SAFE_TYPES or name in SAFE_FUNCTIONS:
        return True
    if not name.startswith(SAFE_MODULES) or "._testing" in name or ".tests." in name:
        return False
    import importlib

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


class Predictor(Protocol):
    """Predictions from validated columns (one array per signature input)."""

    def predict(self, columns: Columns) -> np.ndarray: ...

    def predict_proba(self, columns: Columns) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Saved:
    """A model as bytes, with what its flavor needs to load it again."""

    data: bytes
    meta: dict[str, Any]


class PythonModel(abc.ABC):
    """Base for models no other flavor knows: subclass it and implement :meth:`predict`.

    Files passed as ``artifacts`` at registration are stored with the version and handed
    to :meth:`load` (name -> local path) after the model is loaded. The object is pickled;
    see the registry's notes on safe serialization.

    Example:
        >>> class Threshold(PythonModel):
        ...     def predict(self, df):
        ...         return (df["score"] > 0.5).to_numpy()
    """

    def load(self, artifacts: Mapping[str, Path]) -> None:  # noqa: B027 - optional hook
        """Called after loading, with the local paths of the stored artifacts (optional)."""

    @abc.abstractmethod
    def predict(self, df: Any) -> Any:
        """Predictions for a DataFrame with the signature's columns."""


# -- helpers shared by flavors ------------------------------------------------------------


def _classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    return None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes]


def labels_from(proba: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    labels: np.ndarray = np.asarray(classes)[np.argmax(proba, axis=1)]
    return labels


def two_columns(p: np.ndarray) -> np.ndarray:
    """A binary classifier's P(class 1) as the two-column probabilities."""
    p = np.asarray(p, dtype=np.float64)
    return p if p.ndim == 2 else np.column_stack([1.0 - p, p])


class _Native:
    """Predictor over a model object with scikit-learn's ``predict``/``predict_proba``."""

    def __init__(self, model: Any, signature: Signature | None, frame: bool) -> None:
        self.model = model
        self.signature = signature
        self.frame = frame

    def _input(self, columns: Columns) -> Any:
        if self.frame and self.signature is not None:
            return self.signature.frame(columns)
        return np.column_stack(list(columns.values()))

    def predict(self, columns: Columns) -> np.ndarray:
        with refused_input():
            return np.asarray(self.model.predict(self._input(columns)))

    def predict_proba(self, columns: Columns) -> np.ndarray | None:
        if not hasattr(self.model, "predict_proba"):
            return None
        with refused_input():
            return np.asarray(self.model.predict_proba(self._input(columns)))


@contextlib.contextmanager
def refused_input() -> Iterator[None]:
    """A model that refuses valid-looking input (a category its encoder never saw, a
    shape it does not take) raises InvalidInput with the library's words, not a crash."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"The model refused the input: {type(exc).__name__}: {exc}") from exc


# -- scikit-learn -------------------------------------------------------------------------


class SklearnFlavor:
    name = "sklearn"
    needs_signature = False
    packages = ("scikit-learn", "numpy", "scipy", "skops")

    def handles(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover - scikit-learn is a dependency
            return False
        return isinstance(model, BaseEstimator)

    def save(
        self, model: Any, *, serialization: str = "skops", trusted: Sequence[str] = (), **_: Any
    ) -> Saved:
        _check_fitted(model)
        meta: dict[str, Any] = {
            "format": serialization,
            "classes": _classes(model),
            "feature_names": getattr(model, "feature_names_in_", None) is not None,
            "type": f"{type(model).__module__}.{type(model).__qualname__}",
        }
        if serialization == "pickle":
            return Saved(pickle.dumps(model, protocol=5), meta)
        if serialization != "skops":
            raise InvalidInput(f"serialization must be 'skops' or 'pickle', got {serialization!r}.")
        import skops.io as sio

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
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        try:  # skops refuses any type outside the list recorded at registration
            return sio.loads(data, trusted=sorted(meta.get("trusted", ())))
        except UntrustedTypesFoundException as exc:
            raise ShipyardError(
                f"The stored model holds types that were not trusted at registration "
                f"({exc}); refusing to load it."
            ) from exc

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        return _Native(model, sig, bool(meta.get("feature_names", True)))


def _check_fitted(model: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidInput(
            f"The {type(model).__name__} is not fitted; register a model after fit()."
        ) from exc
    except TypeError:
        pass  # not an estimator check_is_fitted understands; let it through


# -- LightGBM -----------------------------------------------------------------------------


class LightGBMFlavor:
    name = "lightgbm"
    needs_signature = True
    packages = ("lightgbm", "numpy")

    def handles(self, model: Any) -> bool:
        module = type(model).__module__
        if not module.startswith("lightgbm"):
            return False
        import lightgbm as lgb

        return isinstance(model, (lgb.LGBMModel, lgb.Booster))

    def save(self, model: Any, **_: Any) -> Saved:
        import lightgbm as lgb

        if not isinstance(model, lgb.Booster):
            _check_fitted(model)
        booster = model if isinstance(model, lgb.Booster) else model.booster_
        kind = "booster"
        if isinstance(model, lgb.LGBMClassifier):
            kind = "classifier"
        elif isinstance(model, lgb.LGBMRegressor):
            kind = "regressor"
        meta = {"format": "lightgbm-text", "kind": kind, "classes": _classes(model)}
        return Saved(booster.model_to_string().encode(), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        import lightgbm as lgb

        return lgb.Booster(model_str=data.decode())

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        return _BoosterPredictor(
            lambda frame: model.predict(frame, num_threads=1), meta.get("classes"), sig
        )


class _BoosterPredictor:
    """Predictor over a native booster that returns P(class) or raw values."""

    def __init__(
        self, score: Callable[[Any], Any], classes: Sequence[Any] | None, sig: Signature | None
    ) -> None:
        self.score = score
        self.classes = classes
        self.signature = sig

    def _raw(self, columns: Columns) -> np.ndarray:
        if self.signature is None:
            raise InvalidInput("This model has no signature; register it with X=... first.")
        with refused_input():
            return np.asarray(self.score(self.signature.frame(columns)))

    def predict(self, columns: Columns) -> np.ndarray:
        raw = self._raw(columns)
        if self.classes is None:
            return raw
        return labels_from(two_columns(raw), self.classes)

    def predict_proba(self, columns: Columns) -> np.ndarray | None:
        if self.classes is None:
            return None
        return two_columns(self._raw(columns))


# -- XGBoost ------------------------------------------------------------------------------


class XGBoostFlavor:
    name = "xgboost"
    needs_signature = True
    packages = ("xgboost", "numpy")

    def handles(self, model: Any) -> bool:
        module = type(model).__module__
        if not module.startswith("xgboost"):
            return False
        import xgboost as xgb

        return isinstance(model, (xgb.XGBModel, xgb.Booster))

    def save(self, model: Any, **_: Any) -> Saved:
        import xgboost as xgb

        if not isinstance(model, xgb.Booster):
            _check_fitted(model)
        booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        kind = "booster"
        if isinstance(model, xgb.XGBClassifier):
            kind = "classifier"
        elif isinstance(model, xgb.XGBRegressor):
            kind = "regressor"
        meta = {"format": "xgboost-ubj", "kind": kind, "classes": _classes(model)}
        return Saved(bytes(booster.save_raw(raw_format="ubj")), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(data))
        return booster

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        import xgboost as xgb

        def score(frame: Any) -> Any:
            return model.predict(xgb.DMatrix(frame, enable_categorical=True, nthread=1))

        return _BoosterPredictor(score, meta.get("classes"), sig)


# -- ONNX ---------------------------------------------------------------------------------


class OnnxFlavor:
    name = "onnx"
    needs_signature = True
    packages = ("onnxruntime", "onnx")

    def handles(self, model: Any) -> bool:
        return type(model).__module__.startswith("onnx") and type(model).__name__ == "ModelProto"

    def save(self, model: Any, **_: Any) -> Saved:
        return Saved(model.SerializeToString(), {"format": "onnx"})

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        return data  # the session is built by the predictor

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        from shipyard.models._onnx import OnnxPredictor

        if sig is None:
            raise InvalidInput("An ONNX model needs a signature; register it with X=... .")
        return OnnxPredictor(model, meta, sig)


# -- generic Python -----------------------------------------------------------------------


class PythonFlavor:
    name = "python"
    needs_signature = False
    packages = ("numpy", "pandas")

    def handles(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, **_: Any) -> Saved:
        buffer = io.BytesIO()
        try:
            pickle.dump(model, buffer, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"The {type(model).__name__} cannot be pickled ({exc}); define its class at "
                "module level (not inside a function) so it can be loaded again."
            ) from exc
        meta = {
            "format": "pickle",
            "classes": _classes(model),
            "type": f"{type(model).__module__}.{type(model).__qualname__}",
        }
        return Saved(buffer.getvalue(), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        try:
            return pickle.loads(data)  # the caller verified the sha256 against the record
        except (ModuleNotFoundError, AttributeError) as exc:
            raise ShipyardError(
                f"Cannot load the {meta.get('type')} model: {exc}. Its code must be importable "
                "where it is loaded (install the package that defines it)."
            ) from exc

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        return _Native(model, sig, frame=sig is not None)


from shipyard.models._torch import TorchFlavor  # noqa: E402 - it builds on the helpers above

FLAVORS: dict[str, Any] = {
    f.name: f
    for f in (
        LightGBMFlavor(),
        XGBoostFlavor(),
        SklearnFlavor(),
        OnnxFlavor(),
        TorchFlavor(),
        PythonFlavor(),
    )
}


def flavor_for(model: Any, flavor: str | None = None) -> Any:
    """The flavor that handles ``model`` (or the one named)."""
    if flavor is not None:
        chosen = get_flavor(flavor)
        if not chosen.handles(model):
            raise InvalidInput(
                f"Field 'flavor': the {flavor} flavor cannot save a "
                f"{type(model).__module__}.{type(model).__name__}; leave flavor unset to detect it."
            )
        return chosen
    for candidate in FLAVORS.values():
        if candidate.handles(model):
            return candidate
    raise InvalidInput(
        f"No flavor knows how to save a {type(model).__module__}.{type(model).__name__}: "
        "expected a scikit-learn estimator, LightGBM or XGBoost model, ONNX ModelProto, "
        "PyTorch module, or an object with a predict method (subclass "
        "shipyard.models.PythonModel)."
    )


def get_flavor(name: str) -> Any:
    """A flavor by name."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidInput(
            f"Unknown flavor {name!r}; known flavors: {', '.join(FLAVORS)}."
        ) from None
