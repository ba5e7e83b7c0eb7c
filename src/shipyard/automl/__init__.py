"""Training and AutoML: preprocessing inside the model, tracked training, model search.

``sy.train("lightgbm", dataset="loans@3", target="default", split="kfold")`` returns a result
that ``sy.models.register("churn", result)`` takes as it is.
"""

from __future__ import annotations

from shipyard.automl._preprocess import DateParts, column_kinds, make_preprocessor
from shipyard.automl._train import ESTIMATORS, TrainResult, estimator, train

__all__ = [
    "ESTIMATORS",
    "DateParts",
    "TrainResult",
    "column_kinds",
    "estimator",
    "make_preprocessor",
    "train",
]
