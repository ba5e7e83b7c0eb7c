"""The whole loop on bundled data, as far as Shipyard goes today.

Stages (each later capability adds its own): register the loan applications as a dataset
version (schema inferred, profile stored), register a later, drifted month and diff the two;
train a gradient-boosting model for a few learning rates as child runs of one tracked run
that reads the dataset version (lineage), with learning curves, test metrics and artifacts,
then pick the best; register every model as a version of ``loans-default``, point the
``champion`` alias at the best and promote it to production, export it to ONNX (checked
against the native model) and score the drifted month with it; then let AutoML search model
families for a few seconds and register its best as the ``challenger``; deploy the champion
with the challenger in shadow, serve it over HTTP on 127.0.0.1, send it the drifted month's
applications with their outcomes as feedback, and read the inference log back; then let a
monitor check that traffic against the training data (data, prediction and multivariate
drift, quality, accuracy on the outcomes) and a dataset monitor check the newest month,
raising alerts and writing an HTML report, and read its data back through the platform
REST API (served from a thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import shipyard.data as datasets
import shipyard.models as models
import shipyard.tracking as sy
from shipyard.automl import automl
from shipyard.data import make_loans

TARGET = "default"
SENSITIVE = "gender"
DROP = ["application_id", "applied_at", SENSITIVE, TARGET]
EXPERIMENT = "quickstart-loans"
MODEL = "loans-default"
JSON_HEADERS = {"content-type": "application/json"}


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
    moved: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    model: str = ""
    export: dict[str, Any] = field(default_factory=dict)
    drifted_default_rate: float = 0.0
    challenger: str = ""
    automl_trials: int = 0
    automl_metrics: dict[str, float] = field(default_factory=dict)
    deployment: str = ""
    served: int = 0
    served_p50_ms: float = 0.0
    shadow_agreement: float = 0.0
    logged_rows: int = 0
    feedback_rows: int = 0
    monitor: str = ""
    monitor_status: str = ""
    monitor_findings: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    monitor_report: str = ""
    api: dict[str, Any] = field(default_factory=dict)  # the report data through the REST API


Progress = Callable[[str], None]


def run(
    rows: int = 8_000,
    seed: int = 0,
    learning_rates: tuple[float, ...] = (0.05, 0.1, 0.3),
    progress: Progress | None = None,
    automl_budget: float = 10.0,
    serve_requests: int = 200,
) -> QuickstartResult:
    """Run every stage; ``progress`` is called with the name of each stage as it starts."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    report = progress or (lambda _stage: None)
    stages: list[str] = []

    def stage(name: str) -> None:
        stages.append(name)
        report(name)

    stage("data: register loan applications as a dataset version")
    reference = datasets.register(
        "loans",
        make_loans(rows, seed=seed),
        aliases=["quickstart"],
        description="Synthetic loan applications (shipyard.data.make_loans)",
    )
    stage("data: register a later, drifted month and diff it")
    drifted = datasets.register(
        "loans",
        make_loans(max(rows // 4, 100), seed=seed + 1, drift=0.6),
        description="A later month: poorer, younger applicants (drift=0.6)",
    )
    changes = datasets.diff(reference.ref, drifted.ref).stats
    moved = sorted({f"{c}.{s}" for c, s in zip(changes["column"], changes["stat"], strict=True)})

    with sy.start_run(
        experiment=EXPERIMENT,
        name="loans-gbm-search",
        tags={"stage": "quickstart", "dataset": reference.ref},
    ) as parent:
        frame = datasets.get(reference.ref).to_pandas()  # the run records what it read
        features = frame.drop(columns=DROP)
        categorical = [
            c for c in features.columns if isinstance(features[c].dtype, pd.CategoricalDtype)
        ]
        x_train, x_test, y_train, y_test = train_test_split(
            features, frame[TARGET], test_size=0.25, random_state=seed, stratify=frame[TARGET]
        )
        parent.log_params(
            {
                "rows": rows,
                "seed": seed,
                "target": TARGET,
                "features": len(features.columns),
                "test_size": 0.25,
            }
        )
        parent.log_artifact(frame.head(500), name="data/sample.parquet")
        children: list[tuple[str, float, dict[str, Any], dict[str, float], Any]] = []
        for lr in learning_rates:
            stage(f"train: gradient boosting, learning_rate={lr}")
            params = {
                "model": "hist_gradient_boosting",
                "learning_rate": lr,
                "max_leaf_nodes": 31,
                "max_iter": 200,
                "early_stopping": True,
            }
            with sy.start_run(name=f"gbm-lr{lr}") as child:
                child.log_params(params)
                encoder = ColumnTransformer(
                    [
                        (
                            "cat",
                            OrdinalEncoder(
                                handle_unknown="use_encoded_value", unknown_value=np.nan
                            ),
                            categorical,
                        )
                    ],
                    remainder="passthrough",
                    verbose_feature_names_out=False,
                ).set_output(transform="pandas")
                model = HistGradientBoostingClassifier(
                    learning_rate=lr,
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
                pipeline = Pipeline([("encode", encoder), ("model", model)])
                pipeline.fit(x_train, y_train)
                # Learning curves: sklearn records the (negated) loss per boosting iteration.
                for step, (train, valid) in enumerate(
                    zip(model.train_score_, model.validation_score_, strict=True)
                ):
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
                child.log_artifact(
                    {"labels": [0, 1], "matrix": matrix}, name="confusion_matrix.json"
                )
                children.append((child.id, metrics["auc"], params, metrics, pipeline))

        stage("select: best child run by test AUC")
        best_id, _, best_params, best_metrics, _ = max(children, key=lambda c: c[1])
        parent.log_metrics({f"best_{k}": v for k, v in best_metrics.items()})
        parent.set_tags({"best_run": best_id, "best_learning_rate": best_params["learning_rate"]})

    stage(f"registry: register the models as versions of {MODEL}, promote the best")
    best_ref = ""
    for child_id, _, child_params, _, pipeline in children:
        version = models.register(
            MODEL,
            pipeline,
            X=x_train,
            y=y_train,
            run=child_id,
            datasets=[reference.ref],
            description=f"Gradient boosting, learning_rate={child_params['learning_rate']}",
        )
        if child_id == best_id:
            best_ref = version.ref
    models.set_alias(best_ref, "champion", reason="best test AUC of the quick start")
    models.promote(best_ref, to="production", reason="best test AUC of the quick start")

    stage("registry: export the champion to ONNX, checked against the native model")
    exported = models.export(f"{MODEL}@champion", "onnx")
    champion = models.load(f"{MODEL}@champion", format="onnx")
    later = datasets.get(drifted.ref).to_pandas()
    scored = champion.predict(later)

    stage(f"automl: search model families for {automl_budget:g} s, register the best")
    searched = automl(
        dataset=reference.ref,
        target=TARGET,
        drop=["application_id", SENSITIVE],
        time_budget=automl_budget,
        families=["linear", "lightgbm"],
        seed=seed,
        experiment="quickstart-automl",
    )
    challenger = models.register(
        MODEL, searched, aliases=["challenger"], description="The AutoML search's best"
    )

    stage(f"serving: deploy {MODEL}@champion with the challenger in shadow, send it traffic")
    served = _serve(later, requests=serve_requests)

    stage("monitoring: check the traffic and the newest month against the training data")
    watched = _monitor(reference.ref, requests=serve_requests)

    return QuickstartResult(
        EXPERIMENT,
        parent.id,
        [c[0] for c in children],
        best_id,
        best_params,
        best_metrics,
        dataset=reference.ref,
        drifted=drifted.ref,
        moved=moved,
        stages=stages,
        model=best_ref,
        export=exported.exports["onnx"].report,
        drifted_default_rate=float(np.mean(scored)),
        challenger=challenger.ref,
        automl_trials=len(searched.leaderboard),
        automl_metrics=searched.best.metrics,
        **served,
        **watched,
    )


def _serve(later: pd.DataFrame, requests: int) -> dict[str, Any]:
    """Deployment ``loans`` (champion answers, challenger shadows), served from a thread:
    one-record requests, outcomes posted as feedback, the inference log read back."""
    import time

    import httpx
    import orjson

    from shipyard import serving

    name = "loans"
    routes = {"champion": f"{MODEL}@champion", "challenger": f"{MODEL}@challenger"}
    if any(d.name == name for d in serving.deployments.list_deployments()):
        serving.deployments.delete(name)  # a quick start run again starts afresh
    serving.deployments.create(name, routes, policy="shadow", reason="quick start")
    records = later.drop(columns=[TARGET]).head(requests)
    outcomes = later[TARGET].head(requests).tolist()
    latencies = []
    app = serving.create_app(deployment=name, poll=0)
    with serving.background(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        ids = []
        for record in records.to_dict("records"):
            record["applied_at"] = str(record["applied_at"])
            body = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)  # NaN as null
            started = time.perf_counter()
            answer = client.post("/predict", content=body, headers=JSON_HEADERS)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        feedback = [{"id": i, "label": int(y)} for i, y in zip(ids, outcomes, strict=True)]
        client.post("/feedback", json=feedback).raise_for_status()
    log = serving.read_requests(name).to_pandas()
    log = log[log["request_id"].isin(ids)]
    primary = log[~log["shadow"]].set_index("request_id")["prediction"]
    shadow = log[log["shadow"]].set_index("request_id")["prediction"]
    both = primary.index.intersection(shadow.index)
    agreement = float((primary[both] == shadow[both]).mean()) if len(both) else 0.0
    return {
        "deployment": name,
        "served": len(ids),
        "served_p50_ms": float(np.median(latencies) * 1e3),
        "shadow_agreement": agreement,
        "logged_rows": len(log),
        "feedback_rows": len(serving.read_feedback(name)),
    }


def _monitor(reference: str, requests: int) -> dict[str, Any]:
    """Monitor ``loans-watch`` on the deployment's last ``requests`` rows and
    ``loans-data`` on the dataset's newest version, each checked once; alerts go to the
    log; the deployment monitor's report is written under ``SHIPYARD_HOME/reports``."""
    from shipyard import monitoring
    from shipyard.config import get_settings

    for existing in monitoring.list_monitors():
        if existing.name in ("loans-watch", "loans-data"):
            monitoring.delete_monitor(existing.name)  # a quick start run again starts afresh
    monitoring.create_monitor(
        "loans-watch",
        deployment="loans",
        window=requests,
        every="1h",
        detectors=["data_drift", "prediction_drift", "quality", "performance", "multivariate"],
        metric_threshold=0.75,
        channels=["log"],
    )
    monitoring.create_monitor(
        "loans-data", dataset="loans", reference=reference, every="1d", channels=["log"]
    )
    checked = monitoring.check("loans-watch")
    monitoring.check("loans-data")
    folder = get_settings().home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    page = monitoring.report("loans-watch", folder / "loans-watch.html")
    return {
        "monitor": "loans-watch",
        "monitor_status": checked.status,
        "monitor_findings": {k: str(v["title"]) for k, v in checked.detectors.items()},
        "alerts": [f"{a.id} {a.monitor}: {a.title}" for a in monitoring.list_alerts(status="open")],
        "monitor_report": str(page),
        "api": _through_the_api("loans-watch"),
    }


def _through_the_api(monitor: str) -> dict[str, Any]:
    """The monitor's report data as the platform API answers it (served from a thread)."""
    import httpx

    from shipyard import server, serving

    with serving.background(server.create_app()) as url:
        answer = httpx.get(f"{url}/api/monitors/{monitor}/report", timeout=60)
        answer.raise_for_status()
        body = answer.json()
    return {
        "endpoint": f"GET /api/monitors/{monitor}/report",
        "checks": len(body["checks"]),
        "series": len(body["series"]),
        "alerts": len(body["alerts"]),
    }
