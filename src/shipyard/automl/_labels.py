"""XGBoost's classifier for any class labels: :class:`XGBLabelClassifier`.

``xgboost.XGBClassifier`` learns classes ``0..n-1`` only: text labels, booleans or integers
such as ``{3, 7}`` fail ("Invalid classes inferred"). The xgboost family builds this thin
scikit-learn classifier instead: it fits the XGBClassifier on the labels' codes (their
index in the sorted ``classes_``, as scikit-learn's classifiers order them), answers the
original labels, and passes its parameters through to the XGBClassifier, so a search's
suggestions and a budget stop's callbacks reach it. Its ONNX form is onnxmltools' XGBoost
converter for the inner model, then a lookup of the labels (``_onnx.py``).

The fitted classifier holds the XGBClassifier and the labels only, so skops stores and
loads it like Shipyard's other steps (no pickle, no extra trust).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from shipyard.automl._onnx import convert_xgb_labels, xgb_labels_shape
from shipyard.models import register_onnx_step

__all__ = ["XGBLabelClassifier"]


class XGBLabelClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """An ``xgboost.XGBClassifier`` fitted on label codes, answering the original labels.

    Args:
        **params: the XGBClassifier's parameters (``n_estimators``, ``learning_rate``...);
            ``get_params`` and ``set_params`` read and write them, all of them.

    Attributes:
        classes_: the labels seen in fit, sorted; ``predict_proba``'s columns follow them.
        model_: the fitted XGBClassifier (classes ``0..n-1``, the index in ``classes_``).

    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = XGBLabelClassifier(n_estimators=5).fit(X, ["no", "no", "yes", "yes"])
    >>> model.classes_.tolist(), model.get_params()["n_estimators"]
    (['no', 'yes'], 5)
    """

    def __init__(self, **params: Any) -> None:
        self._params = params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The XGBClassifier's parameters: the ones set, and its defaults."""
        from xgboost import XGBClassifier

        params: dict[str, Any] = XGBClassifier(**self._params).get_params(deep=False)
        return params

    def set_params(self, **params: Any) -> XGBLabelClassifier:
        """Set XGBClassifier parameters; on a fitted classifier, on its model too (a stop
        removes its clock callback after the fit this way)."""
        self._params = {**self._params, **params}
        if hasattr(self, "model_"):
            self.model_.set_params(**params)
        return self

    def fit(self, X: Any, y: Any, **fit_params: Any) -> XGBLabelClassifier:
        """Fit the XGBClassifier on the codes of ``y``; ``fit_params`` go to its ``fit``."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d
        from xgboost import XGBClassifier

        labels = column_or_1d(y)
        check_classification_targets(labels)
        self.classes_, codes = np.unique(labels, return_inverse=True)
        self.model_ = XGBClassifier(**self._params).fit(X, codes.reshape(-1), **fit_params)
        self.n_features_in_ = self.model_.n_features_in_
        names = getattr(self.model_, "feature_names_in_", None)
        if names is not None:
            self.feature_names_in_ = names
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The original label of each row."""
        codes = np.asarray(self.model_.predict(X), dtype=np.int64)
        return self.classes_[codes]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities, one column per label of ``classes_``."""
        return self.model_.predict_proba(X)

    def get_booster(self) -> Any:
        """The fitted XGBoost booster."""
        return self.model_.get_booster()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # XGBoost takes missing values as they are
        return tags


register_onnx_step(XGBLabelClassifier, convert_xgb_labels, xgb_labels_shape, classifier=True)
