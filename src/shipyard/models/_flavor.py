"""What a model flavor is: the :class:`Flavor` protocol, and the helpers flavors share.

A flavor turns a fitted model into bytes plus a small JSON ``meta`` and back, gives a
:class:`Predictor` over validated columns (see ``_signature.py``), converts the model to
ONNX (or says in one line why it cannot), and brings small fitted :class:`Example` models
for the contract battery (``shipyard.testing.flavors``). The table of flavors is in
``_flavors.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._signature import Columns, Signature

__all__ = [
    "BoosterPredictor",
    "Example",
    "Flavor",
    "NativePredictor",
    "Predictor",
    "Saved",
    "check_fitted",
    "classes_of",
    "labels_from",
    "refused_input",
    "two_columns",
]


class Predictor(Protocol):
    """Predictions from validated columns (one array per signature input)."""

    def predict(self, columns: Columns) -> np.ndarray: ...

    def predict_proba(self, columns: Columns) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Saved:
    """A model as bytes, with what its flavor needs to load it again."""

    data: bytes
    meta: dict[str, Any]


def _predict(model: Any, X: Any) -> np.ndarray:
    return np.asarray(model.predict(X))


def _predict_proba(model: Any, X: Any) -> np.ndarray | None:
    return np.asarray(model.predict_proba(X)) if hasattr(model, "predict_proba") else None


@dataclass(frozen=True)
class Example:
    """A small fitted model of a flavor, for the contract battery.

    Attributes:
        name: names the case in test ids (``sklearn-pipeline``).
        fit: builds the fitted model from training inputs and binary labels.
        task: ``classification`` (the battery gives labels 0 and 1) or ``regression``.
        numeric: the model takes only the numeric columns (else every column, categories
            included).
        predict, predict_proba: what the original model answers for a DataFrame (the
            battery compares the loaded model with these).
    """

    name: str
    fit: Callable[[Any, Any], Any]
    task: str = "classification"
    numeric: bool = False
    predict: Callable[[Any, Any], np.ndarray] = _predict
    predict_proba: Callable[[Any, Any], np.ndarray | None] = _predict_proba


class Flavor(Protocol):
    """One kind of model the registry can store: an entry of ``FLAVORS``.

    Attributes:
        name: stored with each version (``sklearn``); never renamed.
        needs_signature: its predictor is fed the signature's columns, so registering one
            without a signature is refused.
        packages: the distributions its environment records.
        order: where detection tries it, lowest first: 10 for a flavor that recognises its
            own library's types, 90 for one that accepts a base class other libraries
            extend (scikit-learn's ``BaseEstimator``), 100 for the catch-all Python flavor.
        deterministic: saving the same model twice gives the same bytes.
        onnx_unsupported: None when :meth:`to_onnx` converts, else the one-line reason.

    Flavors are stateless and thread-safe. ``save`` raises InvalidInput for a model it
    cannot store (unfitted, unpicklable); ``load`` gets bytes whose sha256 the caller checked
    and raises ShipyardError when they cannot be loaded here; ``to_onnx`` raises
    ExportRefused.
    """

    @property
    def name(self) -> str: ...

    @property
    def needs_signature(self) -> bool: ...

    @property
    def packages(self) -> tuple[str, ...]: ...

    @property
    def order(self) -> int: ...

    @property
    def deterministic(self) -> bool: ...

    @property
    def onnx_unsupported(self) -> str | None: ...

    def handles(self, model: Any) -> bool:
        """Whether ``model`` is of this flavor."""
        ...

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        """The model as bytes and meta (``serialization`` and ``trusted``: scikit-learn)."""
        ...

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        """The model object from saved bytes."""
        ...

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        """Predictions over validated columns, for a loaded model."""
        ...

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        """The model as ONNX bytes, and the converter with its version."""
        ...

    def examples(self) -> Sequence[Example]:
        """Small fitted models of this flavor for the contract battery."""
        ...


# -- helpers shared by flavors ------------------------------------------------------------


def classes_of(model: Any) -> list[Any] | None:
    """The model's ``classes_`` as plain values (None when it has none)."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes]


def labels_from(proba: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    labels: np.ndarray = np.asarray(classes)[np.argmax(proba, axis=1)]
    return labels


def two_columns(p: np.ndarray) -> np.ndarray:
    """A binary classifier's P(class 1) as the two-column probabilities."""
    p = np.asarray(p, dtype=np.float64)
    return p if p.ndim == 2 else np.column_stack([1.0 - p, p])


@contextlib.contextmanager
def refused_input() -> Iterator[None]:
    """A model that refuses valid-looking input (a category its encoder never saw, a
    shape it does not take) raises InvalidInput with the library's words, not a crash."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"The model refused the input: {type(exc).__name__}: {exc}") from exc


def check_fitted(model: Any) -> None:
    """InvalidInput for a scikit-learn-style estimator that was never fitted."""
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


class NativePredictor:
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


class BoosterPredictor:
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
