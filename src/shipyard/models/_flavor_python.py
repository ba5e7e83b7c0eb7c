"""The generic Python flavor: any object with ``predict``, pickled (see :class:`PythonModel`)."""

from __future__ import annotations

import abc
import io
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._flavor import Example, NativePredictor, Predictor, Saved, classes_of
from shipyard.models._onnx import ExportRefused
from shipyard.models._signature import Columns, Signature

__all__ = ["PythonFlavor", "PythonModel"]


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


class PythonFlavor:
    """Any object with a ``predict`` method, pickled; tried after every other flavor."""

    name = "python"
    needs_signature = False
    packages = ("numpy", "pandas")
    order = 100  # anything with predict
    deterministic = True
    onnx_unsupported = "no converter knows arbitrary Python code"

    def handles(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
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
            "classes": classes_of(model),
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
        return NativePredictor(model, sig, frame=sig is not None)

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        raise ExportRefused(f"ONNX export of a Python model: {self.onnx_unsupported}.")

    def examples(self) -> Sequence[Example]:
        return (Example("python", _Logit.fitted, numeric=True),)


class _Logit(PythonModel):
    """The contract battery's Python model: a fixed logistic score of the first column."""

    def __init__(self, center: float, scale: float) -> None:
        self.center = center
        self.scale = scale

    @classmethod
    def fitted(cls, X: Any, y: Any) -> _Logit:
        first = X.iloc[:, 0].to_numpy(np.float64)
        return cls(float(np.mean(first)), float(np.std(first)) or 1.0)

    def predict_proba(self, df: Any) -> np.ndarray:
        z = (df.iloc[:, 0].to_numpy(np.float64) - self.center) / self.scale
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, df: Any) -> np.ndarray:
        return (self.predict_proba(df)[:, 1] > 0.5).astype(np.int64)


FLAVOR = PythonFlavor()
