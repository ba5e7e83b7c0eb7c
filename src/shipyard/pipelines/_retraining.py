"""The stock retraining pipeline: newest data → validate → train → evaluate against the
champion → gates → register → canary, registered under a name by :func:`retraining`.

``retraining(deployment="loans", target="default", dataset="loans")`` registers pipeline
``retrain-loans`` whose parameters are its configuration, so ``sy.pipelines.run(
"retrain-loans")`` (in any process), ``enqueue`` and a monitor's ``on_alert`` run it. The
body is :func:`retrain`; its steps live in :mod:`shipyard.pipelines._retraining_steps`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.pipelines._api import Pipeline, register
from shipyard.pipelines._graph import check_name
from shipyard.pipelines._records import PipelineVersion
from shipyard.pipelines._retraining_eval import METRICS, champion_of
from shipyard.pipelines._retraining_steps import (
    canary,
    evaluate,
    find_champion,
    gate,
    load_gate,
    newest_data,
    register_candidate,
    train_candidate,
    validate_data,
)

__all__ = ["TRAIN_MODES", "retrain", "retraining"]

#: How ``retraining`` trains the candidate.
TRAIN_MODES = ("refit", "automl")


def retrain(
    deployment: str,
    target: str,
    dataset: str | None = None,
    train: str = "refit",
    budget: float = 60.0,
    metric: str | None = None,
    tolerance: float = 0.01,
    holdout: float = 0.2,
    gates: Sequence[str] = (),
    canary_params: Mapping[str, Any] | None = None,
    model: str | None = None,
    seed: int = 0,
    strict: bool = False,
) -> Any:
    """Retrain the champion of ``deployment`` and try the candidate as its canary (the
    body of every pipeline :func:`retraining` registers; its parameters are the
    configuration)."""
    check_config(train, budget, metric, tolerance, holdout, seed, strict)
    champion = find_champion(deployment, target)
    version = newest_data(deployment, target, dataset, champion)
    ref = validate_data(version, champion, target, strict)
    trained = train_candidate(ref, champion, target, train, budget, holdout, seed)
    scored = evaluate(trained, ref, champion, target, holdout, seed, metric)
    passed = gate(scored, tolerance, list(gates), deployment)
    candidate = register_candidate(trained, passed, champion, target, holdout, seed, model)
    return canary(candidate, champion, dict(canary_params or {}))


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number; got {value!r}.")
    return float(value)


def check_config(
    train: str,
    budget: float,
    metric: str | None,
    tolerance: float,
    holdout: float,
    seed: int,
    strict: bool,
) -> None:
    """Refuse a configuration that cannot run (InvalidInput naming the field)."""
    if train not in TRAIN_MODES:
        raise InvalidInput(f"train must be one of {', '.join(TRAIN_MODES)}; got {train!r}.")
    if _number("budget", budget) <= 0:
        raise InvalidInput(f"budget must be > 0 seconds; got {budget!r}.")
    if metric is not None and metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    _number("tolerance", tolerance)
    if not 0 < _number("holdout", holdout) < 1:
        raise InvalidInput(f"holdout must be a share between 0 and 1; got {holdout!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput(f"seed must be a whole number; got {seed!r}.")
    if not isinstance(strict, bool):
        raise InvalidInput(f"strict must be true or false; got {strict!r}.")


def _gate_paths(gates: Sequence[str | Callable[..., Any]]) -> list[str]:
    """Each gate as ``module:qualname`` (a gate runs in a step's process, so it must be a
    function importable there: defined at a module's top level)."""
    if isinstance(gates, (str, bytes)) or not isinstance(gates, Sequence):
        raise InvalidInput(f"gates must be a list of functions; got {gates!r}.")
    paths = []
    for item in gates:
        if isinstance(item, str):
            path = item
        elif callable(item):
            path = f"{getattr(item, '__module__', '')}:{getattr(item, '__qualname__', '')}"
        else:
            raise InvalidInput(f"gates: {item!r} is not a function.")
        try:
            found = load_gate(path) if "<" not in path else None
        except (ImportError, AttributeError, ValueError):
            found = None
        if found is None or (not isinstance(item, str) and found is not item):
            raise InvalidInput(
                f"gates: {path!r} cannot be imported by name; a gate must be a function "
                "defined at the top level of a module."
            )
        paths.append(path)
    return paths


def _check_deployment(
    deployment: str, target: str, dataset: str | None, canary_params: Mapping[str, Any]
) -> dict[str, Any]:
    """Refuse a deployment, dataset or canary setting that cannot work now."""
    from shipyard import data, serving

    for field, value in (("deployment", deployment), ("target", target)):
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{field} must be a name; got {value!r}.")
    if dataset is not None and (not isinstance(dataset, str) or not dataset):
        raise InvalidInput(f"dataset must be a dataset's name (or name@alias); got {dataset!r}.")
    try:
        champion = champion_of(deployment, target, busy_ok=True)  # a live canary ends first
        if dataset is not None:
            columns = data.schema(data.resolve(dataset).name).names
            if target not in columns:
                raise InvalidInput(f"target: dataset {dataset!r} has no column {target!r}.")
    except NotFound as exc:
        raise InvalidInput(f"deployment/dataset: {exc}") from None
    if not isinstance(canary_params, Mapping):
        raise InvalidInput(
            f"canary must be a dict of canary policy settings; got {canary_params!r}."
        )
    given = {**canary_params, "baseline": champion["route"], "candidate": champion["other"]}
    try:
        serving.POLICIES["canary"].check([champion["route"], champion["other"]], given)
    except ShipyardError as exc:
        raise InvalidInput(f"canary: {exc}") from None
    return champion


def retraining(
    name: str | None = None,
    *,
    deployment: str,
    target: str,
    dataset: str | None = None,
    train: str = "refit",
    budget: float = 60.0,
    metric: str | None = None,
    tolerance: float = 0.01,
    holdout: float = 0.2,
    gates: Sequence[str | Callable[..., Any]] = (),
    canary: Mapping[str, Any] | None = None,
    model: str | None = None,
    seed: int = 0,
    strict: bool = False,
) -> PipelineVersion:
    """Register the stock retraining pipeline for ``deployment`` (``retrain-<deployment>``).

    Each run: takes the newest data (``dataset``'s newest version; without one, the
    deployment's logged answers joined with the labels posted since the champion was
    registered, kept as dataset ``<deployment>-labelled``), validates it against its
    dataset's schema, trains a candidate (``refit``: the champion's configuration fitted
    again; ``automl``: the best model a search finds in ``budget`` seconds), scores it and
    the champion (the version the deployment's main route serves) on the same holdout
    (``holdout`` of the rows), passes the gates (the metric may drop at most ``tolerance``
    below the champion's, in its own units; every function in ``gates`` returns None or a
    reason to block), registers it as a version of the champion's model (or ``model``)
    with lineage to the dataset version, the pipeline run and the alert that started it,
    and puts it on the deployment's other route as a canary (``canary``: the canary
    policy's settings), which promotes or rolls it back. A blocked gate fails the run at
    step ``gate``: nothing is registered or deployed.

    Args:
        metric: ``auc``, ``accuracy``, ``log_loss``, ``rmse``, ``mae`` or ``r2``
            (default: AUC for a classifier, else accuracy; RMSE for regression).
        gates: functions ``(candidate_metrics, champion_metrics, context) -> str | None``
            defined at a module's top level (or ``"module:function"``); ``context`` holds
            ``run``, ``pipeline``, ``step``, ``trigger`` (what started the run: an alert's
            id under ``alert``), ``deployment``, ``champion_ref``, ``dataset`` (the version
            trained on), ``metric``, ``task`` and ``holdout_rows``.
        strict: also refuse new data outside the schema's ``min``/``max`` (by default
            only types, nulls, categories, uniqueness, patterns and columns count: bounds
            inferred from a first version are its observed range, which drift moves).
        model: register the candidate under this name (default: the champion's model).
        seed: the holdout split's and the training's seed.

    Returns:
        The registered :class:`PipelineVersion`.

    Raises:
        InvalidInput: a bad setting, an unknown deployment or dataset, a deployment without
            exactly two routes (one line naming the field; nothing is registered).

    Example:
        >>> sy.pipelines.retraining(deployment="loans", target="default", dataset="loans")
        ... # doctest: +SKIP
        >>> sy.pipelines.run("retrain-loans").status  # doctest: +SKIP
        'succeeded'
    """
    check_config(train, budget, metric, tolerance, holdout, seed, strict)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidInput(f"model must be the name to register candidates under; got {model!r}.")
    paths = _gate_paths(gates)
    settings = dict(canary or {}) if canary is None or isinstance(canary, Mapping) else canary
    champion = _check_deployment(deployment, target, dataset, settings)
    label = check_name(name if name is not None else f"retrain-{deployment}", "name")
    params = {
        "deployment": deployment, "target": target, "dataset": dataset, "train": train,
        "budget": float(budget), "metric": metric, "tolerance": float(tolerance),
        "holdout": float(holdout), "gates": paths, "canary_params": settings,
        "model": model, "seed": seed, "strict": strict,
    }  # fmt: skip
    description = (
        f"Retrain {champion['name']} for deployment {deployment!r} ({train} on "
        f"{dataset or 'the labelled inference log'}) and try it as a canary"
    )
    return register(Pipeline(retrain, label, description, "local", config=params), params)
