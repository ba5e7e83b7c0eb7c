"""A loaded model: one interface whatever the flavor or format behind it."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._flavor import Predictor
from shipyard.models._signature import Columns, Signature
from shipyard.models._types import ModelVersion

__all__ = ["LoadedModel"]


class LoadedModel:
    """A model version ready to predict; inputs are checked against its signature.

    Attributes:
        version: the registry record it was loaded from.
        format: ``native`` (its flavor's own format), ``onnx`` or ``onnx-int8``.
        native: the underlying object (a scikit-learn estimator, a LightGBM booster, the
            ONNX bytes...).

    Example:
        >>> model = sy.models.load("churn@champion")              # doctest: +SKIP
        >>> model.predict_proba({"age": 41, "income": 52000.0})   # doctest: +SKIP
    """

    def __init__(self, version: ModelVersion, fmt: str, native: Any, predictor: Predictor) -> None:
        self.version = version
        self.format = fmt
        self.native = native
        self._predictor = predictor
        self._signature = version.signature
        classes = None if self._signature is None else self._signature.classes
        self._labels = None if classes is None else np.asarray(classes)  # indexed per call

    def __repr__(self) -> str:
        return f"<LoadedModel {self.version.ref} {self.version.flavor} ({self.format})>"

    def with_version(self, version: ModelVersion) -> LoadedModel:
        """The same loaded model, described by a fresher record of its version."""
        if version == self.version:
            return self
        return LoadedModel(version, self.format, self.native, self._predictor)

    @property
    def signature(self) -> Signature | None:
        """What the model takes and returns (None if it was registered without one)."""
        return self._signature

    @property
    def classes(self) -> tuple[Any, ...] | None:
        """Class labels of a classifier, in the order of :meth:`predict_proba`'s columns."""
        return None if self._signature is None else self._signature.classes

    def validate(self, data: Any) -> Columns:
        """Check ``data`` against the signature; one array per input column.

        Raises:
            InvalidInput: a missing column, a wrong type or an unknown category (named).
        """
        if self._signature is None:
            raise InvalidInput(
                f"Model {self.version.ref} was registered without a signature, so its inputs "
                "cannot be checked. Register it again with X=<training data>."
            )
        return self._signature.validate(data)

    def predict(self, data: Any) -> np.ndarray:
        """Predicted labels (classifiers) or values (regressors), one per row.

        ``data``: a DataFrame, Arrow table, one record as a dict, a dict of columns, a list
        of records or a 2-D array in signature order.
        """
        if self._signature is None:
            return np.asarray(self.native.predict(data))
        return self._predictor.predict(self._signature.validate(data))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one row per input row, columns in :attr:`classes` order.

        Raises:
            InvalidInput: the model is not a classifier with probabilities.
        """
        if self._signature is None:
            if hasattr(self.native, "predict_proba"):
                return np.asarray(self.native.predict_proba(data))
            proba = None
        else:
            proba = self._predictor.predict_proba(self._signature.validate(data))
        if proba is None:
            raise InvalidInput(
                f"Model {self.version.ref} gives no probabilities (it is not a classifier "
                "that has them); use predict()."
            )
        return proba

    def predict_columns(self, columns: Columns) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and probabilities (or None) for columns already validated."""
        proba = self._predictor.predict_proba(columns)
        if proba is not None and self._labels is not None:
            return self._labels[np.argmax(proba, axis=1)], proba
        return self._predictor.predict(columns), proba
