"""The quick start's state and its offline stages: data, training, registry, AutoML."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import shipyard.data as datasets
import shipyard.models as models
import shipyard.tracking as sy
from shipyard.automl import AutoMLResult, automl
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

TARGET = "default"
SENSITIVE = "gender"
DROP = ["application_id", "applied_at", SENSITIVE, TARGET]
EXPERIMENT = "quickstart-loans"
MODEL = "loans-default"


@dataclass
class QuickstartResult:
    """What the quick start made, for printing and for tests."""

    experiment: str
    parent_run_id: str
    child_run_ids: list[str]
    best_run_id: str
    best_params: dict[str, Any]
    metrics: dict[str, float]
    dataset: str = ""
    drifted: str = ""
    drifted_flags: list[str] = field(default_factory=list)  # its checks that failed, on purpose
    moved: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    model: str = ""
    export: dict[str, Any] = field(default_factory=dict)
    drifted_default_rate: float = 0.0
    challenger: str = ""
    automl_trials: int = 0
    automl_metrics: dict[str, float] = field(default_factory=dict)
    # the search's ensemble: kept, members, cross-validated scores (empty: none tried)
    automl_ensemble: dict[str, Any] = field(default_factory=dict)
    deployment: str = ""
    served: int = 0
    served_p50_ms: float = 0.0
    shadow_agreement: float = 0.0
    logged_rows: int = 0
    feedback_rows: int = 0
    canary_status: str = ""  # promoted, rolled_back, or running when undecided
    canary_requests: int = 0
    canary_why: str = ""
    canary_split: dict[str, float] = field(default_factory=dict)
    monitor: str = ""
    monitor_status: str = ""
    monitor_findings: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    monitor_report: str = ""
    api: dict[str, Any] = field(default_factory=dict)  # the report data through the REST API
    retrain_run: str = ""  # the retraining pipeline run the monitor's alert started
    retrain_status: str = ""
    retrain_alert: str = ""
    retrain_steps: list[str] = field(default_factory=list)
    retrain_error: str = ""
    retrain_candidate: str = ""  # the model version it registered and put on canary
    retrain_canary: str = ""  # promoted, rolled_back, or running when undecided
    retrain_canary_requests: int = 0
    retrain_canary_why: str = ""
    governance: dict[str, Any] = field(default_factory=dict)  # explained, fair, gated, audited


Progress = Callable[[str], None]
LEARNING_RATES = (0.05, 0.1, 0.3)


@dataclass(frozen=True)
class Options:
    """The quick start's knobs, as ``run`` takes them."""

    rows: int = 8_000
    seed: int = 0
    learning_rates: tuple[float, ...] = LEARNING_RATES
    automl_budget: float = 10.0
    serve_requests: int = 200
    canary_requests: int = 1_500

    def __post_init__(self) -> None:
        """Every knob is checked here, before the quick start changes anything."""
        _whole("rows", self.rows, MIN_ROWS, MAX_ROWS)
        _whole("seed", self.seed, 0, MAX_SEED)
        _whole("serve_requests", self.serve_requests, 1, 100_000)
        _whole("canary_requests", self.canary_requests, 1, 1_000_000)
        if not _finite(self.automl_budget) or self.automl_budget <= 0:
            raise InvalidInput(
                f"automl_budget must be a positive number of seconds; got {self.automl_budget!r}."
            )
        rates = self.learning_rates
        if not rates or not all(_finite(r) and r > 0 for r in rates):
            raise InvalidInput(f"learning_rates must be positive numbers; got {rates!r}.")


MIN_ROWS, MAX_ROWS = 1_000, 1_000_000
MAX_SEED = 2**31 - 1  # the steps use seed, seed + 1 and seed + 2


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{name} must be a whole number from {low:,} to {high:,}; got {value!r}."
        )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class _Child:
    """One trained child run: its id, parameters, test metrics and fitted pipeline."""

    run_id: str
    params: dict[str, Any]
    metrics: dict[str, float]
    pipeline: Any


class Loop:
    """What the steps share: the options, the stages printed so far, the parent run (open
    from the first training step to the selection) and what each step made. Attributes are
    set by the step that makes them; a later step reads them."""

    reference: datasets.DatasetVersion
    drifted: datasets.DatasetVersion
    drifted_flags: list[str]
    moved: list[str]
    parent: sy.Run
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]  # x/y train, x/y test
    categorical: list[str]
    best: _Child
    best_ref: str
    export: dict[str, Any]
    later: pd.DataFrame  # the drifted month, as served
    scored: Any
    searched: AutoMLResult
    challenger: str
    served: dict[str, Any]
    canaried: dict[str, Any]
    watched: dict[str, Any]
    looped: dict[str, Any]
    governed: dict[str, Any]

    def __init__(self, options: Options, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.stages: list[str] = []
        self.children: list[_Child] = []
        self.parent_run = ExitStack()

    def stage(self, line: str) -> None:
        self.stages.append(line)
        self.progress(line)


def register_data(loop: Loop, _item: None) -> None:
    loop.reference = datasets.register(
        "loans",
        make_loans(loop.options.rows, seed=loop.options.seed),
        aliases=["quickstart"],
        description="Synthetic loan applications (shipyard.data.make_loans)",
    )


def register_drifted(loop: Loop, _item: None) -> None:
    """The later month: drifted on purpose, so the dataset's checks may flag it (stored
    with its report under the default ``warn`` policy); the summary says which, and why."""
    rows, seed = loop.options.rows, loop.options.seed
    with _flagged_on_purpose():
        loop.drifted = datasets.register(
            "loans",
            make_loans(max(rows // 4, 100), seed=seed + 1, drift=0.6),
            description="A later month: poorer, younger applicants (drift=0.6)",
        )
    failures = (loop.drifted.validation or {}).get("failures", [])
    loop.drifted_flags = [
        f"{f['column'] or f['check']} ({f['check']}, {f['rows']:,} row{'s' * (f['rows'] != 1)})"
        for f in failures
    ]
    changes = datasets.diff(loop.reference.ref, loop.drifted.ref).stats
    pairs = zip(changes["column"], changes["stat"], strict=True)
    loop.moved = sorted({f"{c}.{s}" for c, s in pairs})


@contextmanager
def _flagged_on_purpose() -> Iterator[None]:
    """Hold back the data capability's warning that a new version breaks the schema: the
    quick start drifts its month on purpose and explains the flags in its summary."""

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING

    logger = logging.getLogger("shipyard.data")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _parent(loop: Loop) -> sy.Run:
    """The tracked parent run, started on first use: it reads the dataset version
    (lineage), splits it for training and logs the split's parameters and a sample."""
    if hasattr(loop, "parent"):
        return loop.parent
    from sklearn.model_selection import train_test_split

    seed = loop.options.seed
    loop.parent = parent = loop.parent_run.enter_context(
        sy.start_run(
            experiment=EXPERIMENT,
            name="loans-gbm-search",
            tags={"stage": "quickstart", "dataset": loop.reference.ref},
        )
    )
    frame = datasets.get(loop.reference.ref).to_pandas()  # the run records what it read
    features = frame.drop(columns=DROP)
    loop.categorical = [
        c for c in features.columns if isinstance(features[c].dtype, pd.CategoricalDtype)
    ]
    x_train, x_test, y_train, y_test = train_test_split(
        features, frame[TARGET], test_size=0.25, random_state=seed, stratify=frame[TARGET]
    )
    loop.split = (x_train, x_test, y_train, y_test)
    parent.log_params(
        {
            "rows": loop.options.rows,
            "seed": seed,
            "target": TARGET,
            "features": len(features.columns),
            "test_size": 0.25,
        }
    )
    parent.log_artifact(frame.head(500), name="data/sample.parquet")
    return parent


def _pipeline(learning_rate: float, categorical: list[str], seed: int) -> Any:
    """Ordinal-encode the categorical columns, then gradient boosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encoder = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                categorical,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_leaf_nodes=31,
        max_iter=200,
        early_stopping=True,
        scoring="loss",
        validation_fraction=0.15,
        random_state=seed,
        # Ordinal codes split as numbers: skl2onnx mistranslates HistGradientBoosting
        # categorical splits (the export parity check refuses that model).
        categorical_features=None,
    )
    return Pipeline([("encode", encoder), ("model", model)])


def train(loop: Loop, learning_rate: float) -> None:
    """One child run of the parent: fit, learning curves, test metrics, confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score

    _parent(loop)
    x_train, x_test, y_train, y_test = loop.split
    params = {
        "model": "hist_gradient_boosting",
        "learning_rate": learning_rate,
        "max_leaf_nodes": 31,
        "max_iter": 200,
        "early_stopping": True,
    }
    with sy.start_run(name=f"gbm-lr{learning_rate}") as child:
        child.log_params(params)
        pipeline = _pipeline(learning_rate, loop.categorical, loop.options.seed)
        pipeline.fit(x_train, y_train)
        model = pipeline.named_steps["model"]
        # Learning curves: sklearn records the (negated) loss per boosting iteration.
        curves = zip(model.train_score_, model.validation_score_, strict=True)
        for step, (train, valid) in enumerate(curves):
            child.log_metrics({"train_loss": -train, "valid_loss": -valid}, step=step)
        proba = pipeline.predict_proba(x_test)[:, 1]
        predicted = (proba >= 0.5).astype(int)
        metrics = {
            "auc": float(roc_auc_score(y_test, proba)),
            "accuracy": float(accuracy_score(y_test, predicted)),
            "log_loss": float(log_loss(y_test, proba)),
            "iterations": float(model.n_iter_),
        }
        child.log_metrics(metrics)
        matrix = confusion_matrix(y_test, predicted).tolist()
        child.log_artifact({"labels": [0, 1], "matrix": matrix}, name="confusion_matrix.json")
    loop.children.append(_Child(child.id, params, metrics, pipeline))


def select(loop: Loop, _item: None) -> None:
    """The best child by test AUC, recorded on the parent run, which then ends."""
    parent = _parent(loop)
    loop.best = best = max(loop.children, key=lambda c: c.metrics["auc"])
    parent.log_metrics({f"best_{k}": v for k, v in best.metrics.items()})
    parent.set_tags({"best_run": best.run_id, "best_learning_rate": best.params["learning_rate"]})
    loop.parent_run.close()


def register_models(loop: Loop, _item: None) -> None:
    x_train, _, y_train, _ = loop.split
    for child in loop.children:
        version = models.register(
            MODEL,
            child.pipeline,
            X=x_train,
            y=y_train,
            run=child.run_id,
            datasets=[loop.reference.ref],
            description=f"Gradient boosting, learning_rate={child.params['learning_rate']}",
        )
        if child.run_id == loop.best.run_id:
            loop.best_ref = version.ref
    models.set_alias(loop.best_ref, "champion", reason="best test AUC of the quick start")
    models.promote(loop.best_ref, to="production", reason="best test AUC of the quick start")


def export_champion(loop: Loop, _item: None) -> None:
    exported = models.export(f"{MODEL}@champion", "onnx")
    loop.export = exported.exports["onnx"].report
    champion = models.load(f"{MODEL}@champion", format="onnx")
    loop.later = datasets.get(loop.drifted.ref).to_pandas()
    loop.scored = champion.predict(loop.later)


def search(loop: Loop, _item: None) -> None:
    loop.searched = automl(
        dataset=loop.reference.ref,
        target=TARGET,
        drop=["application_id", SENSITIVE],
        time_budget=loop.options.automl_budget,
        families=["linear", "lightgbm"],
        seed=loop.options.seed,
        experiment="quickstart-automl",
    )
    loop.challenger = models.register(
        MODEL, loop.searched, aliases=["challenger"], description="The AutoML search's best"
    ).ref


def ensemble_summary(result: AutoMLResult) -> dict[str, Any]:
    """What the quick start says of a search's ensemble: kept or not, its members, its
    cross-validated score against the best single model's (empty when none was tried)."""
    ensemble = result.ensemble
    if ensemble is None:
        return {}
    return {
        "kept": ensemble.kept,
        "members": ensemble.describe(),
        "cross_validated": ensemble.cross_validated,
        "single_cross_validated": ensemble.single_cross_validated,
    }
