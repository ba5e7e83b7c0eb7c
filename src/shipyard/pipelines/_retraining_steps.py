"""The steps of the stock retraining pipeline (see :mod:`shipyard.pipelines._retraining`).

champion → newest-data → validate → train → evaluate → gate → register → canary. Steps
that read state which moves (the deployment, the newest data, the schema) or change it
(register, canary) are never cached; training and evaluation are, by the dataset version
and champion they are given. Each step imports the capabilities it uses when it runs, so that
importing ``shipyard.pipelines`` (in every pipeline worker) stays light.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.pipelines._api import get_run
from shipyard.pipelines._graph import Step, step
from shipyard.pipelines._retraining_eval import (
    METRICS,
    champion_of,
    default_metric,
    drop_of,
    scores,
    split,
)
from shipyard.pipelines._task import RUN_ENV, STEP_ENV

__all__ = [
    "Gate",
    "GateBlocked",
    "canary",
    "evaluate",
    "find_champion",
    "gate",
    "load_gate",
    "newest_data",
    "register_candidate",
    "train_candidate",
    "validate_data",
]

#: Schema checks that fail the validate step only with ``strict=True``.
RANGE_CHECKS = ("min", "max")
#: Labelled rows the inference log must have since the last training to retrain on it.
MIN_LOG_ROWS = 50

#: A promotion gate: (candidate's metrics, champion's metrics, context) -> a reason to
#: block, or None to let the candidate through.
Gate = Callable[[Mapping[str, float], Mapping[str, float], Mapping[str, Any]], "str | None"]


class GateBlocked(ShipyardError):
    """A promotion gate refused the candidate (the gate step fails with the reason)."""

    http_status = 409


def _run_context() -> dict[str, Any]:
    """The pipeline run this step belongs to: its id, pipeline, step and trigger."""
    run_id = os.environ.get(RUN_ENV)
    if not run_id:
        return {"run": None, "pipeline": None, "step": None, "trigger": None}
    found = get_run(run_id)
    return {
        "run": run_id,
        "pipeline": found.pipeline,
        "step": os.environ.get(STEP_ENV),
        "trigger": found.trigger,
    }


def _alert_of(trigger: Mapping[str, Any] | None) -> str | None:
    """The id of the alert that started the run, when an alert did."""
    if not trigger:
        return None
    for key in ("alert", "alert_id"):
        if trigger.get(key):
            return str(trigger[key])
    return None


def _find_champion(deployment: str, target: str) -> dict[str, Any]:
    """The deployment's champion: the version its main route serves, and its routes."""
    return champion_of(deployment, target)


def _newest_data(
    deployment: str, target: str, dataset: str | None, champion: Mapping[str, Any]
) -> Any:
    """The dataset's newest version or, without a dataset, the inference log's answers
    joined with the labels posted since the champion was registered (kept as a version of
    dataset ``<deployment>-labelled``); refused when the champion was trained on it."""
    from shipyard import data

    if dataset is not None:
        found = data.resolve(dataset)
    else:
        found = _register_log(deployment, target, float(champion["created_at"]))
    if found.ref in champion["datasets"]:
        raise InvalidInput(
            f"No new data: {found.ref} is what the champion {champion['model']} was trained "
            f"on; register a newer version of {found.name!r} first."
        )
    return found


def _register_log(deployment: str, target: str, since: float) -> Any:
    """The labelled answers since ``since`` as a version of ``<deployment>-labelled``."""
    from shipyard import data

    frame, since = _labelled_log(deployment, target, since)
    return data.register(
        f"{deployment}-labelled",
        frame,
        description=(
            f"Answers of deployment {deployment!r} joined with the labels posted since "
            f"{since:.0f} (epoch seconds), for retraining"
        ),
        tags={"source": "inference-log", "deployment": deployment, "since": f"{since:.3f}"},
    )


def _labelled_log(deployment: str, target: str, since: float) -> tuple[Any, float]:
    """The logged answers of ``deployment`` with a label posted at or after ``since``:
    the model inputs and ``target``, one row per answered row."""
    from shipyard import serving

    feedback = serving.read_feedback(deployment, since=since)
    requests = serving.read_requests(deployment, shadow=False)
    if feedback is None or requests is None:
        raise InvalidInput(
            f"The inference log of {deployment!r} has no labelled answers since the last "
            "training; give dataset= or post feedback first."
        )
    labels = feedback.to_pandas()
    labels = labels[labels["label"].notna()].drop_duplicates("request_id", keep="last")
    labels = labels.assign(label__=labels["label"].map(json.loads))[["request_id", "label__"]]
    rows = requests.to_pandas()
    inputs = serving.InferenceLog.inputs(requests)
    rows["rows__"] = rows.groupby("request_id")["row"].transform("count")
    joined = rows.merge(labels, on="request_id")
    joined[target] = [
        _label_of(label, int(row), int(n))
        for label, row, n in zip(joined["label__"], joined["row"], joined["rows__"], strict=True)
    ]
    frame = joined.loc[joined[target].notna(), [*inputs, target]].reset_index(drop=True)
    if len(frame) < MIN_LOG_ROWS:
        raise InvalidInput(
            f"The inference log of {deployment!r} has {len(frame)} labelled answers since the "
            f"last training; at least {MIN_LOG_ROWS} are needed (or give dataset=)."
        )
    return frame, since


def _label_of(label: Any, row: int, rows: int) -> Any:
    """A row's label: the item of a list of labels (one per row of its request), or the
    label of a one-row request."""
    if isinstance(label, list):
        return label[row] if len(label) == rows else None
    return label if rows == 1 else None


def _validate_data(version: Any, champion: Mapping[str, Any], target: str, strict: bool) -> str:
    """Check the new version against its dataset's schema and the champion's inputs; its
    reference (``loans@4``). Values outside the schema's ``min``/``max`` fail it only when
    ``strict`` (bounds inferred from a first version are its observed range, which the
    drift that calls for retraining moves); else they are printed to the step's log."""
    from shipyard import data

    report = data.validate(version.ref, against=version.name)
    failures = [f for f in report.failures if strict or f.check not in RANGE_CHECKS]
    for moved in (f for f in report.failures if f not in failures):
        print(f"outside the schema's range, kept: {moved.message}")
    if failures:
        found = "; ".join(f"[{f.check}] {f.message.rstrip('.')}" for f in failures[:5])
        more = len(failures) - 5
        raise InvalidInput(
            f"Dataset version {version.ref} does not match the schema of {version.name!r}: "
            f"{found}{f' (and {more} more)' if more > 0 else ''}."
        )
    columns = set(data.schema(version.name).names)
    missing = [c for c in [*champion["features"], target] if c not in columns]
    if missing:
        raise InvalidInput(
            f"Dataset version {version.ref} lacks {missing}, which the champion "
            f"{champion['model']} takes (or the target)."
        )
    return str(version.ref)


def _train_candidate(
    ref: str,
    champion: Mapping[str, Any],
    target: str,
    mode: str,
    budget: float,
    holdout: float,
    seed: int,
) -> dict[str, Any]:
    """Fit the candidate on the training rows: the champion's configuration refitted
    (``refit``) or the best model an AutoML search finds within ``budget`` seconds; tracked
    in a run that read the dataset version."""
    from shipyard import data, tracking

    with tracking.start_run(
        experiment=f"retrain-{champion['deployment']}",
        name=f"{mode} on {ref}",
        tags={"dataset": ref, "champion": champion["model"], "train": mode},
    ) as run:
        parts = split(data.get(ref).to_pandas(), champion, target, holdout, seed)
        run.log_params(
            {"train": mode, "champion": champion["model"], "dataset": ref, "target": target,
             "holdout": holdout, "seed": seed, "rows": len(parts.x_train)}
        )  # fmt: skip
        if mode == "refit":
            model = _refit(champion, parts.x_train, parts.y_train)
        else:
            model = _search(parts, target, budget, seed)
    return {"model": model, "run_id": str(run.id), "task": parts.task}


def _refit(champion: Mapping[str, Any], x: Any, y: Any) -> Any:
    """The champion's estimator, unfitted (same configuration), fitted on ``x``, ``y``."""
    from sklearn.base import clone

    from shipyard import models

    native = models.load(champion["model"], check_environment=False).native
    try:
        fresh = clone(native)
    except Exception as exc:
        raise InvalidInput(
            f"train='refit' needs a scikit-learn estimator to refit; the champion "
            f"{champion['model']} is a {champion['flavor']} model ({type(exc).__name__}). "
            "Use train='automl'."
        ) from None
    return fresh.fit(x, y)


def _search(parts: Any, target: str, budget: float, seed: int) -> Any:
    """The best model of an AutoML search over the training rows (a child run)."""
    from shipyard.automl import automl

    frame = parts.x_train.assign(**{target: parts.y_train})
    found = automl(
        data=frame, target=target, task=parts.task, time_budget=budget, seed=seed,
        experiment="retrain-automl",
    )  # fmt: skip
    return found.best.model


def _evaluate(
    trained: Mapping[str, Any],
    ref: str,
    champion: Mapping[str, Any],
    target: str,
    holdout: float,
    seed: int,
    metric: str | None,
) -> dict[str, Any]:
    """Score the candidate and the champion on the same holdout rows."""
    from shipyard import data, models

    parts = split(data.resolve(ref).to_pandas(), champion, target, holdout, seed)
    loaded = models.load(champion["model"], check_environment=False)
    served = loaded.native if hasattr(loaded.native, "predict") else loaded
    candidate = scores(trained["model"], parts.x_holdout, parts.y_holdout, parts.task)
    incumbent = scores(served, parts.x_holdout, parts.y_holdout, parts.task)
    chosen = metric or default_metric(parts.task, "auc" in candidate and "auc" in incumbent)
    if chosen not in candidate or chosen not in incumbent:
        raise InvalidInput(
            f"metric: {chosen!r} cannot score both models on this {parts.task} task "
            f"(they have {sorted(set(candidate) & set(incumbent))})."
        )
    return {
        "metric": chosen,
        "higher_is_better": METRICS[chosen].higher_is_better,
        "candidate": candidate,
        "champion": incumbent,
        "champion_ref": champion["model"],
        "holdout_rows": len(parts.y_holdout),
        "dataset": ref,
        "task": parts.task,
    }


def load_gate(path: str) -> Gate:
    """The gate function ``module:qualname`` names."""
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise InvalidInput(f"gates: {path!r} is not a function.")
    gate_fn: Gate = target
    return gate_fn


def _gate(
    evaluation: Mapping[str, Any], tolerance: float, gates: Sequence[str], deployment: str
) -> dict[str, Any]:
    """Let the candidate through only if its metric drops at most ``tolerance`` below the
    champion's and no gate function blocks it; else fail with every reason."""
    name = evaluation["metric"]
    candidate, incumbent = evaluation["candidate"], evaluation["champion"]
    drop = drop_of(METRICS[name], candidate[name], incumbent[name])
    reasons = []
    if drop > tolerance:
        reasons.append(
            f"{name} {candidate[name]:.4f} against the champion's {incumbent[name]:.4f} on "
            f"{evaluation['holdout_rows']} holdout rows: a drop of {drop:.4f}, beyond the "
            f"tolerance of {tolerance:g}"
        )
    context = {**_run_context(), **evaluation, "deployment": deployment}
    for path in gates:
        reason = load_gate(path)(dict(candidate), dict(incumbent), context)
        if reason:
            reasons.append(f"gate {path}: {reason}")
    policy = _policy_gates(evaluation)
    reasons.extend(f"policy gate {r['name']}: {r['detail']}" for r in policy["failed"])
    if reasons:
        raise GateBlocked("the candidate is not promoted: " + "; ".join(reasons) + ".")
    return {**evaluation, "drop": drop, "tolerance": tolerance, "gates": list(gates),
            "policy": policy}  # fmt: skip


def _policy_gates(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The model's promotion policy on the holdout scores (its metric gates: the others
    are checked on the registered version when the canary or a person promotes it)."""
    from shipyard import models

    name = str(evaluation["champion_ref"]).partition("@")[0]
    report = models.check_scores(name, evaluation["candidate"], evaluation["champion"])
    failed = [r._asdict() for r in report.failed]
    return {"version": report.policy_version, "passed": report.passed, "failed": failed}


def _register_candidate(
    trained: Mapping[str, Any],
    passed: Mapping[str, Any],
    champion: Mapping[str, Any],
    target: str,
    holdout: float,
    seed: int,
    model: str | None,
) -> Any:
    """Register the candidate as a version of the champion's model (or ``model``), with
    lineage: the dataset version, the training run, the pipeline run and its alert;
    exported to ONNX when the champion is."""
    from shipyard import data, models

    ref = passed["dataset"]
    parts = split(data.resolve(ref).to_pandas(), champion, target, holdout, seed)
    run = _run_context()
    alert = _alert_of(run["trigger"])
    name = passed["metric"]
    tags = {"pipeline": run["pipeline"], "pipeline_run": run["run"], "alert": alert,
            "champion": champion["model"], "dataset": ref,
            "trigger": (run["trigger"] or {}).get("kind")}  # fmt: skip
    started = f"pipeline {run['pipeline']} run {run['run']}" if run["run"] else "retraining"
    registered = models.register(
        model or champion["name"],
        trained["model"],
        X=parts.x_train,
        y=parts.y_train,
        run=trained["run_id"],
        datasets=[ref],
        metrics={f"holdout_{k}": v for k, v in passed["candidate"].items()},
        tags={k: v for k, v in tags.items() if v is not None},
        description=(
            f"Retrained by {started}{f' for alert {alert}' if alert else ''} on {ref}: "
            f"holdout {name} {passed['candidate'][name]:.4f} vs the champion "
            f"{champion['model']}'s {passed['champion'][name]:.4f}"
        ),
        reason=f"retraining of deployment {champion['deployment']}",
    )
    return _export_like(registered, champion.get("exports") or [])


def _export_like(version: Any, formats: Sequence[str]) -> Any:
    """The candidate exported to ONNX (and int8) when the champion is, so that both serve
    alike and the canary compares models, not runtimes; a refused export is printed to
    the step's log and the candidate serves natively."""
    from shipyard import models

    if "onnx" not in formats:
        return version
    try:
        quantize = "int8" if "onnx-int8" in formats else None
        return models.export(version.ref, "onnx", quantize=quantize)
    except models.ExportRefused as exc:
        print(f"{version.ref} serves natively: its ONNX export was refused ({exc})")
        return version


def _canary(version: Any, champion: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Put the candidate on the deployment's other route as a canary against the route
    serving now; the canary policy promotes or rolls it back (this step does not wait)."""
    from shipyard.serving import deployments

    name = champion["deployment"]
    current = champion_of(name, "")  # the deployment as it is now (refusing a live canary)
    baseline, spare = current["route"], current["other"]
    why = f"retraining: {version.ref} as a canary"
    if deployments.get(name).route(spare).weight > 0:  # the spare route idle first
        deployments.set_policy(name, "fixed", split={baseline: 100, spare: 0}, reason=why)
    deployments.set_route(name, spare, version.ref, reason=why)
    placed = deployments.set_policy(
        name, "canary", baseline=baseline, candidate=spare, reason=why, **dict(params)
    )
    return deployments.as_dict(placed)


# The steps, as the pipeline's body calls them (a step's function runs in a worker).
find_champion: Step = step(_find_champion, name="champion", cache=False)
newest_data: Step = step(_newest_data, name="newest-data", cache=False)
validate_data: Step = step(_validate_data, name="validate", cache=False)
train_candidate: Step = step(_train_candidate, name="train")
evaluate: Step = step(_evaluate, name="evaluate")
gate: Step = step(_gate, name="gate", cache=False)
register_candidate: Step = step(_register_candidate, name="register", cache=False)
canary: Step = step(_canary, name="canary", cache=False)
