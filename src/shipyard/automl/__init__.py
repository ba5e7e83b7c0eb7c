"""Training and AutoML: preprocessing inside the model, tracked training, model search.

``sy.train("lightgbm", dataset="loans@3", target="default", split="kfold")`` and
``sy.automl(dataset="loans@3", target="default", time_budget=120)`` return results that
``sy.models.register("churn", result)`` takes as they are; ``sy.tune`` tunes one model.
"""

from __future__ import annotations

from shipyard.automl._families import FAMILY_TABLE
from shipyard.automl._family import Family
from shipyard.automl._preprocess import DateParts, column_kinds, make_preprocessor
from shipyard.automl._search import AutoMLResult, automl
from shipyard.automl._spaces import FAMILIES
from shipyard.automl._train import ESTIMATORS, TrainResult, estimator, train
from shipyard.automl._tune import tune

__all__ = [
    "ESTIMATORS",
    "FAMILIES",
    "FAMILY_TABLE",
    "AutoMLResult",
    "DateParts",
    "Family",
    "TrainResult",
    "automl",
    "column_kinds",
    "estimator",
    "make_preprocessor",
    "train",
    "tune",
]
