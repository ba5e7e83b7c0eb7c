"""Monitor definitions in the metadata store: what is watched, how, how often, who is told.

``create("loans-drift", deployment="loans", window="1h", every="1h", channels=["log"])``
stores a monitor; :func:`shipyard.monitoring.check` runs it. A monitor watches either a
deployment's traffic (windows of its inference log, with feedback for performance) or a
dataset (its newest version against a reference version). Everything a check needs is in
the stored spec, checked here when the monitor is created, so a scheduled check never fails
on a typo made a week earlier.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard._refs import check_name
from shipyard.errors import InvalidInput
from shipyard.monitoring._channels import parse_channel
from shipyard.monitoring._detector import METRICS, TARGETS
from shipyard.monitoring._detectors import DETECTOR_TABLE
from shipyard.monitoring._http import client, monitor_of, monitor_path, refuse_remote
from shipyard.monitoring._monitor_store import SqlMonitorStore
from shipyard.monitoring._values import UNITS, Monitor, format_duration
from shipyard.store import default_database

__all__ = [
    "DETECTORS",
    "Monitor",
    "create",
    "delete_monitor",
    "format_duration",
    "get",
    "list_monitors",
    "monitor_store",
    "parse_duration",
    "resolve_detectors",
    "set_enabled",
]


DETECTORS = tuple(DETECTOR_TABLE)
DEFAULT_DETECTORS = {
    target: tuple(d.name for d in DETECTOR_TABLE.values() if target in d.default_for)
    for target in TARGETS
}
LOG_REFERENCES = ("log:first", "log:previous")
LONGEST = 10 * 365.25 * 86400.0  # durations beyond ten years are typos
MOST_ROWS = 1_000_000_000  # a window of rows at most
_default: SqlMonitorStore | None = None


def monitor_store() -> SqlMonitorStore:
    """The monitor store of the default metadata database (built once per database): the
    edge where the public functions below and ``check`` find their store."""
    refuse_remote("creating, pausing or deleting monitors")
    global _default
    database = default_database()
    if _default is None or _default.database is not database:
        _default = SqlMonitorStore(database)
    return _default


def parse_duration(value: str | float | int, what: str, zero: bool = False) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"1w"`` (``0`` only
    where ``zero`` allows it)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if match is None:
            raise InvalidInput(
                f"{what} must be a duration like 30s, 15m, 1h, 2d or 1w; got {value!r}."
            )
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if not (seconds >= 0 if zero else seconds > 0):
        adjective = "non-negative" if zero else "positive"
        raise InvalidInput(f"{what} must be a {adjective} duration; got {value!r}.")
    if seconds > LONGEST:
        raise InvalidInput(f"{what} must be at most 10 years; got {value!r}.")
    return seconds


def parse_window(value: str | int) -> dict[str, float]:
    """A whole number of rows (``5000``, ``"5000"``) or a duration (``"1h"``)."""
    if isinstance(value, bool) or (isinstance(value, numbers.Real) and not isinstance(
        value, numbers.Integral
    )):  # fmt: skip
        raise InvalidInput(
            f"window must be a whole number of rows or a duration like '1h'; got {value!r}."
        )
    if isinstance(value, numbers.Integral) or (isinstance(value, str) and value.strip().isdigit()):
        rows = int(value)
        if not 1 <= rows <= MOST_ROWS:
            raise InvalidInput(
                f"window must be at least one row and at most {MOST_ROWS:,}; got {value!r}."
            )
        return {"rows": float(rows)}
    return {"seconds": parse_duration(value, "window")}


def _real(value: object) -> bool:
    """A finite real number (not a bool)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _columns_and_task(kind: str, target: str) -> tuple[set[str], str | None]:
    """The columns a monitor of ``target`` will see and, for a deployment, its main model's
    task (classification or regression; None when unknown)."""
    if kind == "dataset":
        from shipyard import data as datasets

        version = datasets.resolve(f"{target}@latest")
        schema = version.schema()
        return ({c.name for c in schema.columns} if schema is not None else set()), None
    from shipyard import models
    from shipyard.serving import deployments

    columns = {"prediction", "probability"}
    task = None
    routes = sorted(deployments.served(target).routes, key=lambda r: -r.weight)
    for i, route in enumerate(routes):
        signature = models.get(route.model).signature
        if signature is None:
            return set(), None  # a model without a signature: its inputs are unknown
        columns |= {c.name for c in signature.inputs}
        if i == 0:
            task = "classification" if signature.classes is not None else "regression"
    return columns, task


def create(
    name: str,
    *,
    deployment: str | None = None,
    dataset: str | None = None,
    reference: str | None = None,
    window: str | int = 1000,
    detectors: Sequence[str] | None = None,
    every: str | float | None = None,
    channels: Sequence[str] = ("log",),
    cooldown: str | float = "1h",
    drift_share: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    categorical: Sequence[str] = (),
    metric: str | None = None,
    metric_threshold: float | None = None,
    min_rows: int = 30,
    weighted: bool = True,
    on_alert: Sequence[str] = (),
) -> Monitor:
    """Store a monitor.

    Args:
        name: the monitor's name.
        deployment: watch this deployment's traffic (its inference log and feedback), or
        dataset: watch this dataset: each check compares its newest version to ``reference``.
        reference: what "normal" is — a dataset version (``"loans@1"``); for a deployment
            also ``"log:first"`` (the first window it logged) or ``"log:previous"`` (the
            window before the current one). Default: the dataset the deployment's first
            route was trained on, else ``"log:first"``.
        window: the current window of a deployment: a number of rows (the newest) or a
            duration (``"1h"``: rows logged in the last hour).
        detectors: any of ``data_drift``, ``prediction_drift``, ``quality``,
            ``performance`` (needs feedback), ``multivariate`` (a domain classifier).
        every: the schedule (``"1h"``); None: checks run only when asked.
        channels: where alerts go: ``log``, ``webhook:https://...``, ``email:a@b.org``.
        cooldown: how long checks must find a detector recovered before its alert
            resolves (crossing again meanwhile keeps the one alert open, no new notice;
            0: the first recovered check resolves it).
        drift_share: the share of drifted features at which the data drifts.
        thresholds: per-feature thresholds of the deciding drift statistic.
        categorical: columns to treat as categories although they hold numbers.
        metric: ``accuracy``, ``error_rate``, ``mae`` or ``rmse`` (default by the task).
        metric_threshold: alert when the metric is worse than this (accuracy below it,
            errors above it); concept drift (a lasting rise of the error) alerts regardless.
        min_rows: fewer rows in a window than this: no verdict ("no data"), no alert.
        weighted: for a deployment, weigh the data drift verdict by how much the model
            leans on each input (outputs moved by shuffling it), so drift in columns the
            model ignores does not page anyone.
        on_alert: ``pipeline:NAME``: each alert runs it (through ``shipyard scheduler``).

    Raises:
        InvalidInput: a field that makes no sense, named; Conflict: the name is taken;
        NotFound: the deployment or dataset (or reference) does not exist.
    """
    check_name("Monitor", name)
    if (deployment is None) == (dataset is None):
        raise InvalidInput("A monitor watches a deployment or a dataset: give exactly one.")
    kind = "deployment" if deployment is not None else "dataset"
    target = str(deployment if deployment is not None else dataset)
    chosen = resolve_detectors(kind, detectors)
    _check_fields(drift_share, thresholds, categorical, metric, metric_threshold, min_rows)
    _check_columns(kind, target, [*(thresholds or {}), *categorical], metric)
    spec = {
        "reference": _reference(kind, target, reference),
        "window": parse_window(window) if kind == "deployment" else {},
        "detectors": list(chosen),
        "channels": list(_channels(channels)),
        "cooldown": parse_duration(cooldown, "cooldown", zero=True),
        "drift_share": float(drift_share),
        "thresholds": {k: float(v) for k, v in (thresholds or {}).items()},
        "categorical": list(categorical),
        "metric": metric,
        "metric_threshold": None if metric_threshold is None else float(metric_threshold),
        "min_rows": int(min_rows),
        "weighted": bool(weighted),
        "on_alert": list(_actions(on_alert)),
    }
    period = None if every is None else parse_duration(every, "every")
    return monitor_store().insert(name, kind, target, spec, period)


def resolve_detectors(kind: str, detectors: Sequence[str] | None) -> tuple[str, ...]:
    """The detectors asked for (or the kind's defaults), each known and fit for the kind."""
    if detectors is not None and (isinstance(detectors, str) or not list(detectors)):
        raise InvalidInput("detectors must be a list of at least one detector (or None).")
    chosen = tuple(detectors) if detectors else DEFAULT_DETECTORS[kind]
    unknown = [d for d in chosen if d not in DETECTORS]
    if unknown:
        raise InvalidInput(f"detectors: unknown {unknown}; choose from {', '.join(DETECTORS)}.")
    if any(kind not in DETECTOR_TABLE[d].targets for d in chosen):
        fit = [d.name for d in DETECTOR_TABLE.values() if kind in d.targets]
        unfit = [d.name for d in DETECTOR_TABLE.values() if kind not in d.targets]
        needs = "a deployment's traffic" if kind == "dataset" else "a dataset's versions"
        raise InvalidInput(
            f"detectors: {_listed(unfit)} need{'s' if len(unfit) == 1 else ''} {needs}; "
            f"a {kind} monitor takes {_listed(fit)}."
        )
    return chosen


def _listed(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def _check_fields(
    drift_share: float,
    thresholds: Mapping[str, float] | None,
    categorical: Sequence[str],
    metric: str | None,
    metric_threshold: float | None,
    min_rows: int,
) -> None:
    if not _real(drift_share) or not 0 < drift_share <= 1:
        raise InvalidInput(f"drift_share must be a number in (0, 1]; got {drift_share!r}.")
    for feature, value in (thresholds or {}).items():
        if not _real(value) or value < 0:
            raise InvalidInput(f"thresholds[{feature!r}] must be a non-negative number.")
    if isinstance(categorical, str):
        raise InvalidInput(f"categorical must be a list of column names; got {categorical!r}.")
    if metric is not None and metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    if metric_threshold is not None and not _real(metric_threshold):
        raise InvalidInput(f"metric_threshold must be a number; got {metric_threshold!r}.")
    if isinstance(min_rows, bool) or not isinstance(min_rows, numbers.Integral) or min_rows < 1:
        raise InvalidInput(f"min_rows must be a positive number of rows; got {min_rows!r}.")


def _channels(channels: Sequence[str]) -> tuple[str, ...]:
    """Each channel, checked against the channels table."""
    if isinstance(channels, str):
        raise InvalidInput(f"channels must be a list of channels; got {channels!r}.")
    return tuple(parse_channel(c) for c in channels)


def _actions(on_alert: Sequence[str]) -> tuple[str, ...]:
    """Each ``pipeline:NAME`` (the format only: the pipeline may be registered later)."""
    if isinstance(on_alert, str):
        raise InvalidInput(f"on_alert must be a list like ['pipeline:NAME']; got {on_alert!r}.")
    for action in on_alert:
        kind, _, target = str(action).partition(":")
        try:
            check_name("Pipeline", target)
        except InvalidInput:
            kind = ""
        if kind != "pipeline":
            raise InvalidInput(f"on_alert entries must be 'pipeline:NAME'; got {action!r}.")
    return tuple(dict.fromkeys(str(a) for a in on_alert))


def _check_columns(kind: str, target: str, named: Sequence[str], metric: str | None) -> None:
    """The columns named in thresholds and categorical exist in what the monitor watches,
    and the metric fits the deployment's task."""
    columns, task = _columns_and_task(kind, target)
    unknown_columns = sorted({c for c in named if c not in columns})
    if columns and unknown_columns:
        raise InvalidInput(
            f"thresholds/categorical name columns the {kind} {target!r} does not have: "
            f"{unknown_columns} (it has {', '.join(sorted(columns)[:20])})."
        )
    if metric is not None and task is not None:
        wanted = "classification" if metric in ("accuracy", "error_rate") else "regression"
        if wanted != task:
            raise InvalidInput(
                f"metric {metric} is for {wanted}; the deployment's model does {task}."
            )


def get(name: str) -> Monitor:
    remote = client()
    if remote is not None:
        return monitor_of(remote.get(monitor_path(name)))
    return monitor_store().get(name)


def list_monitors() -> list[Monitor]:
    remote = client()
    if remote is not None:
        return [monitor_of(m) for m in remote.pages("/api/monitors")]
    return monitor_store().monitors()


def set_enabled(name: str, enabled: bool) -> Monitor:
    """Pause (False) or resume (True) a monitor's schedule."""
    return monitor_store().set_enabled(name, enabled)


def delete_monitor(name: str) -> None:
    """Delete a monitor with its checks, results and alerts."""
    monitor_store().delete(name)


def _reference(kind: str, target: str, reference: str | None) -> str:
    from shipyard import data as datasets

    if kind == "dataset":
        datasets.resolve(f"{target}@latest")  # NotFound names the dataset
        if reference is None:
            raise InvalidInput(
                "reference: a dataset monitor compares its newest version to a reference "
                f"version; give one like '{target}@1'."
            )
    else:
        from shipyard.serving import deployments

        deployment = deployments.served(target)  # a deployment, or a model served plainly
        if reference is None:
            return _trained_on(deployment) or "log:first"
    if reference in LOG_REFERENCES:
        if kind == "dataset":
            raise InvalidInput(f"reference: {reference} applies to a deployment's log only.")
        return reference
    version = datasets.resolve(reference)  # NotFound / InvalidInput name the reference
    return version.ref


def _trained_on(deployment: Any) -> str | None:
    from shipyard import models

    for route in deployment.routes:
        version = models.get(route.model)
        if version.datasets:
            return str(version.datasets[0])
    return None
