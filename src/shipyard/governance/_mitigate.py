"""Mitigation: a new candidate version of a binary classifier with a fairness constraint.

``sy.governance.mitigate("churn@7", "loans@3", target="default", sensitive="gender")`` wraps
the version with Fairlearn's ``ThresholdOptimizer`` (group-specific thresholds on its scores;
the new version takes the sensitive columns as inputs too), or refits it under
``ExponentiatedGradient`` (a reduction: a randomized mix of refitted models, needing a
scikit-learn compatible estimator), registers the result as a NEW version of the same model
(never promoted: the gates decide), and records on it the ``mitigation`` evidence (accuracy
and disparities before and after, on the same rows) and its ``fairness`` report.

Both of Fairlearn's mitigated predictors are randomized where the constraint asks for it:
predictions use a fixed random state (``seed``), so the same batch gives the same answers.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from shipyard.errors import InvalidInput
from shipyard.governance._fairness import (
    fairness,
    load_data,
    outcomes,
    sensitive_columns,
)
from shipyard.governance._fairness_report import FairnessReport
from shipyard.models import PythonModel

if TYPE_CHECKING:
    from shipyard.models import LoadedModel, ModelVersion

__all__ = ["CONSTRAINTS", "METHODS", "FairModel", "mitigate"]

METHODS = ("threshold_optimizer", "exponentiated_gradient")
CONSTRAINTS = ("demographic_parity", "equalized_odds")
SUMMARY = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)


def mitigate(
    ref: str,
    data: str | pd.DataFrame,
    *,
    target: str,
    sensitive: str | Sequence[str] | None = None,
    method: str = "threshold_optimizer",
    constraint: str = "demographic_parity",
    evaluate_on: str | pd.DataFrame | None = None,
    seed: int = 0,
) -> ModelVersion:
    """Register a fairness-constrained candidate version of the binary classifier ``ref``.

    Args:
        ref: the version to mitigate (``churn@7``).
        data: the rows to fit the mitigation on (a dataset version or a DataFrame) with the
            model's inputs, the target and the sensitive columns.
        target: the true labels' column.
        sensitive: the sensitive column(s); default: the declared ``sensitive`` tag (see
            ``fairness``).
        method: ``threshold_optimizer`` (post-processing, keeps the model) or
            ``exponentiated_gradient`` (refits it under the constraint).
        constraint: ``demographic_parity`` or ``equalized_odds``.
        evaluate_on: rows to measure before and after on (default: ``data``); a held-out
            dataset version gives the honest trade-off.
        seed: the random state of the mitigated predictions.

    Returns:
        The new version (tagged ``mitigation``, ``mitigated_from`` and ``sensitive``; no alias,
        stage ``none``), with ``mitigation`` and ``fairness`` evidence recorded on it.

    Raises:
        InvalidInput: an unknown method or constraint, a model that is not a binary
            classifier, a missing column (named), a model that cannot be refitted.
    """
    from shipyard import models

    _check(method, constraint, seed)
    version = models.get(ref)
    base = models.load(version.ref)
    if base.classes is None or len(base.classes) != 2 or version.signature is None:
        raise InvalidInput(
            f"ref: {version.ref} is not a binary classifier with a signature; mitigation "
            "needs one (its classes and input columns)."
        )
    frame, data_ref, tags = load_data(data)
    columns = sensitive_columns(sensitive, version, tags, frame)
    result = outcomes(base, frame, target)
    rows = frame.loc[result.kept].reset_index(drop=True)
    before = _measure(version.ref, evaluate_on, data, target, columns, seed)
    wrapped = _fit(base, method, constraint, rows, result.y_true, columns, seed)
    needs = columns if method == "threshold_optimizer" else ()  # the reduction reads no group
    inputs = list(dict.fromkeys([*version.signature.names, *needs]))
    new = models.register(
        version.name,
        wrapped,
        X=rows[inputs],
        y=rows[target],
        datasets=[data_ref] if data_ref else [],
        description=f"{version.ref} mitigated: {method}, {constraint} on {', '.join(columns)}",
        tags={"mitigation": method, "mitigated_from": version.ref, "sensitive": ",".join(columns)},
        reason=f"fairness mitigation of {version.ref}",
    )
    after = _measure(new.ref, evaluate_on, data, target, columns, seed, record=True)
    record = {"method": method, "constraint": constraint, "from": version.ref, "data": data_ref}
    models.record_evidence(new.ref, "mitigation", _trade_off(record, before, after, evaluate_on))
    return models.get(new.ref)


def _check(method: object, constraint: object, seed: object) -> None:
    if method not in METHODS:
        raise InvalidInput(f"method: expected one of {', '.join(METHODS)}, got {method!r}.")
    if constraint not in CONSTRAINTS:
        raise InvalidInput(
            f"constraint: expected one of {', '.join(CONSTRAINTS)}, got {constraint!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed: expected a whole number >= 0, got {seed!r}.")


def _measure(
    ref: str,
    evaluate_on: str | pd.DataFrame | None,
    data: str | pd.DataFrame,
    target: str,
    columns: tuple[str, ...],
    seed: int,
    record: bool = False,
) -> FairnessReport:
    where = data if evaluate_on is None else evaluate_on
    return fairness(
        ref, where, target=target, sensitive=list(columns), boot=0, seed=seed, record=record
    )


def _trade_off(
    record: dict[str, Any],
    before: FairnessReport,
    after: FairnessReport,
    evaluate_on: object,
) -> dict[str, Any]:
    """The ``mitigation`` record: what was done, on which rows, and the metrics before and
    after on the same rows."""
    return {
        **record,
        "evaluated_on": after.data if evaluate_on is not None else record["data"],
        "target": after.target,
        "sensitive": list(after.sensitive),
        "rows": after.rows,
        "before": _summary(before),
        "after": _summary(after),
    }


def _summary(report: FairnessReport) -> dict[str, float | None]:
    return {
        "accuracy": report.overall.get("accuracy"),
        "selection_rate": report.overall.get("selection_rate"),
        **{k: report.disparities.get(k) for k in SUMMARY},
    }


@contextmanager
def _quiet() -> Iterator[None]:
    """Fairlearn's mitigation code trips pandas' deprecation warnings (pandas 4 changes);
    only those, and only from Fairlearn's modules, are silenced."""
    from pandas.errors import Pandas4Warning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Pandas4Warning, module=r"fairlearn\.")
        yield


def _fit(
    base: LoadedModel,
    method: str,
    constraint: str,
    rows: pd.DataFrame,
    y: np.ndarray,
    columns: tuple[str, ...],
    seed: int,
) -> FairModel:
    assert base.signature is not None and base.classes is not None
    features = list(base.signature.names)
    X, groups = rows[features], rows[list(columns)]
    if method == "threshold_optimizer":
        from fairlearn.postprocessing import ThresholdOptimizer

        scorer = Scores(base)
        mitigator: Any = ThresholdOptimizer(
            estimator=scorer,
            constraints=constraint,
            prefit=True,
            predict_method="predict_proba" if scorer.has_proba() else "predict",
        )
    else:
        from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient

        moment = DemographicParity() if constraint == "demographic_parity" else EqualizedOdds()
        mitigator = ExponentiatedGradient(_refittable(base), constraints=moment)
    with _quiet():
        mitigator.fit(X, y, sensitive_features=groups)
    return FairModel(mitigator, method, features, columns, base.classes, seed)


def _refittable(base: LoadedModel) -> Any:
    """A fresh copy of the version's estimator that takes ``sample_weight``."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    try:
        estimator = clone(base.native)
    except (TypeError, AttributeError, RuntimeError):
        estimator = None
    if estimator is None or not hasattr(estimator, "fit"):
        raise InvalidInput(
            f"method: exponentiated_gradient refits the model, and {base.version.ref}'s "
            f"{type(base.native).__name__} is not a scikit-learn compatible estimator; use "
            "method='threshold_optimizer'."
        )
    return WeightedPipeline(estimator) if isinstance(estimator, Pipeline) else estimator


class Scores(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A registered binary classifier as a fitted estimator: ``ThresholdOptimizer`` reads
    its scores (P(positive class)) or, without probabilities, its 0/1 predictions."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __getstate__(self) -> dict[str, Any]:
        """The version and its native model: a flavor's predictor may hold a lambda (it is
        rebuilt from the flavor when the mitigated version loads)."""
        return {"version": self.model.version, "native": self.model.native}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from shipyard.models import FLAVORS, LoadedModel

        version, native = state["version"], state["native"]
        predictor = FLAVORS[version.flavor].predictor(
            native, version.flavor_meta, version.signature
        )
        self.model = LoadedModel(version, "native", native, predictor)

    def has_proba(self) -> bool:
        native = self.model.native
        return bool(hasattr(native, "predict_proba") or self.model.version.flavor != "python")

    def fit(self, X: Any, y: Any) -> Scores:
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        positive = str(self.model.classes[1])
        return np.array([str(v) == positive for v in self.model.predict(X)], dtype=np.int64)


class WeightedPipeline(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A scikit-learn pipeline whose ``sample_weight`` goes to its last step (what the
    reductions pass on each refit)."""

    def __init__(self, pipeline: Any = None) -> None:
        self.pipeline = pipeline

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> WeightedPipeline:
        from sklearn.base import clone

        self.pipeline_ = clone(self.pipeline)
        last = self.pipeline_.steps[-1][0]
        params = {} if sample_weight is None else {f"{last}__sample_weight": sample_weight}
        self.pipeline_.fit(X, y, **params)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.pipeline_.predict(X))


class FairModel(PythonModel):
    """A mitigated binary classifier: Fairlearn's fitted mitigator, the columns it reads
    (the base model's inputs, and the sensitive ones for a threshold optimizer) and the
    base model's class labels. Predictions use the fixed random state ``seed``."""

    def __init__(
        self,
        mitigator: Any,
        method: str,
        features: Sequence[str],
        sensitive: Sequence[str],
        classes: Sequence[Any],
        seed: int,
    ) -> None:
        self.mitigator = mitigator
        self.method = method
        self.features = list(features)
        self.sensitive = list(sensitive)
        self.classes_ = np.asarray(classes)
        self.seed = seed

    def predict(self, df: Any) -> np.ndarray:
        frame = df if isinstance(df, pd.DataFrame) else pd.DataFrame(df)
        X, seed = frame[self.features], self.seed
        with _quiet():
            if self.method == "threshold_optimizer":
                groups = frame[self.sensitive]
                chosen = self.mitigator.predict(X, sensitive_features=groups, random_state=seed)
            else:
                chosen = self.mitigator.predict(X, random_state=self.seed)
        labels: np.ndarray = self.classes_[np.asarray(chosen, dtype=np.int64)]
        return labels
