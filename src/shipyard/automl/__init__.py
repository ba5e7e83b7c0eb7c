"""Training and AutoML: preprocessing inside the model, tracked training, model search.

``sy.train("lightgbm", dataset="loans@3", target="default", split="kfold")`` and
``sy.automl(dataset="loans@3", target="default", time_budget=120)`` return results that
``sy.models.register("churn", result)`` takes as they are; ``sy.tune`` tunes one model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.automl._families import ESTIMATORS, FAMILIES, FAMILY_TABLE
    from shipyard.automl._family import Family
    from shipyard.automl._labels import XGBLabelClassifier
    from shipyard.automl._preprocess import DateParts, column_kinds, make_preprocessor
    from shipyard.automl._search import AutoMLResult, automl
    from shipyard.automl._train import TrainResult, estimator, train
    from shipyard.automl._tune import tune


__all__ = [
    "ESTIMATORS",
    "FAMILIES",
    "FAMILY_TABLE",
    "AutoMLResult",
    "DateParts",
    "Family",
    "TrainResult",
    "XGBLabelClassifier",
    "automl",
    "column_kinds",
    "estimator",
    "make_preprocessor",
    "train",
    "tune",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)
