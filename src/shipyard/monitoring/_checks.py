"""Running a monitor: read its windows, run its detectors, store the results, act on alerts.

A check of a deployment monitor reads the current window of the deployment's inference log
(the answered rows; shadow copies are the shadow's business) and the reference (a dataset
version, or an earlier window of the log), then runs the monitor's detectors:

- ``data_drift``: :func:`~shipyard.monitoring.drift` over the model's input columns;
- ``prediction_drift``: the same on the outputs (``prediction``, and the top class's
  ``probability`` for classifiers). Against a dataset reference, the reference's outputs are
  the deployment's main model's predictions on it;
- ``quality``: :func:`~shipyard.monitoring.quality` (missing values, ranges, categories);
- ``performance``: the window's rows that have feedback labels: the metric (accuracy or an
  error) against ``metric_threshold``, and concept drift — Page–Hinkley over the metric of
  consecutive blocks of labelled rows, each block standardised by its expected spread, so
  its thresholds hold for any error rate;
- ``multivariate``: a domain classifier told to separate the windows.

Everything is stored in one transaction: the check (with each detector's evidence and the
distributions its report charts), one result row per feature and statistic (the time
series), and the alerts it opens, updates or resolves. Notices go out after it commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.monitoring._alerts import Finding, apply_findings, notify
from shipyard.monitoring._channels import finite
from shipyard.monitoring._concept import PageHinkley
from shipyard.monitoring._drift import DriftReport, drift
from shipyard.monitoring._monitors import METRICS, Monitor, get, list_monitors
from shipyard.monitoring._quality import quality
from shipyard.store import default_database
from shipyard.store._schema import Base

__all__ = ["Check", "check", "checks", "run_due", "series"]

log = logging.getLogger("shipyard.monitoring")

_t = Base.metadata.tables
CHECKS, RESULTS, MONITORS = _t["monitor_checks"], _t["monitor_results"], _t["monitors"]

# columns the inference log adds around a model's inputs
LOG_COLUMNS = (
    "request_id", "row", "at", "route", "model", "version", "latency_ms",
    "prediction", "probability", "shadow",
)  # fmt: skip
REFERENCE_SCORED_ROWS = 20_000  # rows of a dataset reference scored for prediction drift
ID_ROWS = 100  # a column whose values are all distinct over this many rows is an identifier
ID_NAME = re.compile(r"(?i:(^|[^a-z])(id|uuid|key)$)|[a-z](Id|ID)$")
IMPORTANCE_ROWS, MOST_WEIGHED = 1_000, 200  # rows shuffled per column; columns at most
_IMPORTANCE: dict[tuple[str, str, tuple[str, ...]], dict[str, float] | None] = {}
# concept drift: Page–Hinkley on block metrics standardised to unit spread; simulated on
# stable error rates from 2% to 40% and 500 to 20,000 labelled rows, these settings raised
# no alarm in 600 runs and found a rise from 15% to 30% errors within ~200 rows
PH_DELTA, PH_THRESHOLD, PH_MIN_BLOCKS, MIN_BLOCK = 0.5, 10.0, 5, 25


@dataclass(frozen=True)
class Check:
    """One run of a monitor: its status (``ok``, ``alert``, ``no data``, ``failed``), the
    windows it read, and what each detector found (``detectors[name]``: flagged, title,
    evidence)."""

    id: int
    monitor: str
    at: float
    status: str
    rows: int
    reference_rows: int
    window_start: float | None
    window_end: float | None
    seconds: float
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "at": self.at,
            "status": self.status,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "seconds": self.seconds,
            "error": self.error,
            "detectors": {
                name: {k: v for k, v in found.items() if k != "charts"}
                for name, found in self.detectors.items()
            },
        }


@dataclass
class _Windows:
    current: Any  # Arrow table
    reference: Any
    inputs: list[str]
    start: float | None = None
    end: float | None = None
    reference_label: str = ""
    reference_predictions: Any = None  # Arrow table with prediction (and probability)
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not judged
    note: str = ""


@dataclass
class _Outcome:
    finding: Finding | None  # None: no verdict (``note`` says why)
    results: list[tuple[str, str, float | None, float | None, bool]] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    error: bool = False  # the detector failed (``note`` holds the error)


def check(name: str, *, now: float | None = None, log_dir: str | Path | None = None) -> Check:
    """Run the monitor ``name`` once over its current window and store what it found.

    A failure to read the windows (a deleted dataset, an unreadable log) is stored as a
    ``failed`` check and returned, so a schedule goes on; a detector that fails (a broken
    model) fails alone, with its error in ``detectors[name]["error"]``, and the others
    still judge. Alerts of a detector without a verdict are left as they are.

    Raises:
        NotFound: no such monitor (or it was deleted while the check ran).
    """
    monitor = get(name)
    started = time.perf_counter()
    now = time.time() if now is None else now
    windows: _Windows | None = None
    detectors: dict[str, _Outcome] = {}
    error = ""
    try:
        windows = _windows(monitor, now, log_dir)
    except ShipyardError as exc:
        error = str(exc)
    except Exception as exc:  # an unreadable file: recorded as a failed check
        error = f"{type(exc).__name__}: {exc}"
    ready = windows is not None and windows.current is not None and windows.reference is not None
    if ready and windows is not None and windows.current.num_rows >= monitor.min_rows:
        for detector in monitor.detectors:
            detectors[detector] = _detect(detector, monitor, windows, log_dir)
    seconds = time.perf_counter() - started
    return _store(monitor, now, windows, detectors, error, seconds)


def _detect(
    detector: str, monitor: Monitor, windows: _Windows, log_dir: str | Path | None
) -> _Outcome:
    try:
        return _DETECTORS[detector](monitor, windows, log_dir)
    except ShipyardError as exc:
        return _Outcome(None, note=str(exc), error=True)
    except Exception as exc:  # a model that raises on the window: this detector fails alone
        log.warning("monitor %s: %s failed", monitor.name, detector, exc_info=True)
        return _Outcome(None, note=f"{type(exc).__name__}: {exc}", error=True)


def run_due(*, log_dir: str | Path | None = None) -> list[Check]:
    """Check every enabled monitor whose schedule says it is due. A monitor deleted
    meanwhile is skipped; one that cannot be checked does not stop the others."""
    done = []
    for monitor in list_monitors():
        if not monitor.due:
            continue
        try:
            done.append(check(monitor.name, log_dir=log_dir))
        except NotFound:
            continue
        except Exception:
            log.exception("monitor %s could not be checked", monitor.name)
    return done


def checks(name: str, limit: int = 50) -> list[Check]:
    """A monitor's checks, newest first."""
    from sqlalchemy import select

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive number of checks; got {limit!r}.")
    monitor = get(name)
    with default_database().read() as conn:
        rows = conn.execute(
            select(CHECKS)
            .where(CHECKS.c.monitor_id == monitor.id)
            .order_by(CHECKS.c.id.desc())
            .limit(limit)
        ).all()
    return [_check(monitor.name, row) for row in rows]


def series(
    name: str,
    *,
    feature: str | None = None,
    metric: str | None = None,
    from_check: int | None = None,
) -> Any:
    """A monitor's stored results as a DataFrame (``at``, ``check_id``, ``detector``,
    ``feature``, ``metric``, ``value``, ``threshold``, ``flagged``), oldest first: the
    statistic of each feature over time (from the check ``from_check`` on, if given)."""
    import pandas as pd
    from sqlalchemy import select

    monitor = get(name)
    query = select(
        RESULTS.c.at, RESULTS.c.check_id, RESULTS.c.detector, RESULTS.c.feature,
        RESULTS.c.metric, RESULTS.c.value, RESULTS.c.threshold, RESULTS.c.flagged,
    ).where(RESULTS.c.monitor_id == monitor.id)  # fmt: skip
    if feature is not None:
        query = query.where(RESULTS.c.feature == feature)
    if metric is not None:
        query = query.where(RESULTS.c.metric == metric)
    if from_check is not None:
        query = query.where(RESULTS.c.check_id >= from_check)
    with default_database().read() as conn:
        rows = conn.execute(query.order_by(RESULTS.c.at, RESULTS.c.check_id)).all()
    columns = ["at", "check_id", "detector", "feature", "metric", "value", "threshold", "flagged"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    types = {"at": "float64", "check_id": "int64", "value": "float64", "threshold": "float64"}
    for column in ("detector", "feature", "metric"):
        types[column] = "str"
    frame = frame.astype(types)
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


# -- windows -----------------------------------------------------------------------------


def _windows(monitor: Monitor, now: float, log_dir: str | Path | None) -> _Windows:
    from shipyard import data as datasets

    if monitor.target_kind == "dataset":
        current = datasets.resolve(f"{monitor.target}@latest")
        reference = datasets.resolve(monitor.reference)
        table, before = current.to_arrow(), reference.to_arrow()
        names = list(before.column_names)  # columns the newest version dropped count too
        names += [n for n in table.column_names if n not in names]
        windows = _Windows(
            table, before, names, reference_label=f"{reference.ref} vs {current.ref}"
        )
        return _skip_unjudgeable(windows, monitor)
    from shipyard.serving import read_requests

    size = monitor.window
    if "rows" in size:
        current = read_requests(
            monitor.target, log_dir, until=now, last=int(size["rows"]), shadow=False
        )
    else:
        current = read_requests(
            monitor.target, log_dir, since=now - size["seconds"], until=now, shadow=False
        )
    if current is None or current.num_rows == 0:
        windows = _Windows(None, None, [], reference_label=monitor.reference)
        folder = _log_folder(log_dir) / monitor.target
        if not folder.is_dir():
            windows.note = f"no inference log at {folder}"
        return windows
    inputs = [c for c in current.column_names if c not in LOG_COLUMNS]
    start, end = _at_bounds(current)
    windows = _Windows(current, None, inputs, start, end, monitor.reference)
    if monitor.reference == "log:first":
        if "rows" in size:
            reference = read_requests(
                monitor.target, log_dir, first=int(size["rows"]), shadow=False
            )
        else:
            oldest = read_requests(monitor.target, log_dir, first=1, shadow=False)
            since = float(oldest.column("at")[0].as_py())
            reference = read_requests(
                monitor.target, log_dir, since=since, until=since + size["seconds"],
                shadow=False,
            )  # fmt: skip
        windows.reference, windows.reference_predictions = reference, reference
    elif monitor.reference == "log:previous":
        if "rows" in size:
            reference = read_requests(
                monitor.target, log_dir, until=start, last=int(size["rows"]), shadow=False
            )
        else:
            reference = read_requests(
                monitor.target, log_dir, since=now - 2 * size["seconds"],
                until=now - size["seconds"], shadow=False,
            )  # fmt: skip
        windows.reference, windows.reference_predictions = reference, reference
    else:
        version = datasets.resolve(monitor.reference)
        windows.reference = version.to_arrow()
        windows.reference_label = version.ref
    return _skip_unjudgeable(windows, monitor)


def _skip_unjudgeable(windows: _Windows, monitor: Monitor) -> _Windows:
    """Leave out what drift cannot judge: timestamps (a later window is later by design)
    and identifiers, whose every reference value is distinct (new rows bring new ids):
    text, or integers named like an id (``id``, ``*_id``, ``uuid``, ``key``) — other
    numbers are distinct too (amounts in cents) and are judged. Both are named in the
    evidence; ``categorical`` columns are always kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reference = windows.reference
    for name in list(windows.inputs):
        if name in monitor.categorical:
            continue
        column = None if reference is None or name not in reference.column_names else (
            reference.column(name)
        )  # fmt: skip
        other = windows.current
        if column is None and name not in other.column_names:
            continue
        kind = (column if column is not None else other.column(name)).type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            windows.skipped[name] = "a timestamp: a later window is later by design"
        elif (
            column is not None
            and (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or (pa.types.is_integer(kind) and ID_NAME.search(name) is not None)
            )
            and len(column) >= ID_ROWS
            and pc.count_distinct(column).as_py() == len(column)
        ):
            windows.skipped[name] = "an identifier: every reference value is distinct"
    windows.inputs = [n for n in windows.inputs if n not in windows.skipped]
    return windows


def _log_folder(log_dir: str | Path | None) -> Path:
    if log_dir is not None:
        return Path(log_dir)
    from shipyard.config import get_settings

    return get_settings().home / "inference"


def _at_bounds(table: Any) -> tuple[float | None, float | None]:
    import pyarrow.compute as pc

    bounds = pc.min_max(table.column("at")).as_py()
    return bounds["min"], bounds["max"]


def _inputs_of(table: Any, inputs: Sequence[str]) -> Any:
    return table.select([c for c in inputs if c in table.column_names])


# -- detectors ---------------------------------------------------------------------------


def _data_drift(monitor: Monitor, windows: _Windows, _log_dir: object) -> _Outcome:
    thresholds = {k: v for k, v in monitor.thresholds.items() if k in windows.inputs}
    importance = _model_importance(monitor, windows) if monitor.weighted else None
    report = drift(
        _inputs_of(windows.reference, windows.inputs),
        _inputs_of(windows.current, windows.inputs),
        columns=windows.inputs,
        categorical=monitor.categorical,
        thresholds=thresholds,
        drift_share=monitor.drift_share,
        importance=importance,
    )
    if _judged(report) == 0:  # every column missing, empty or too short on a side
        return _Outcome(None, note=_unjudged(report))
    drifted = report.drifted_features
    title = (
        f"data drift in {len(drifted)} of {_judged(report)} features ({_names(drifted)})"
        if report.drifted
        else f"no data drift ({len(drifted)} of {_judged(report)} features drifted)"
    )
    evidence = {
        **_window_evidence(windows),
        "share": report.share,
        "drift_share": report.drift_share,
        "weighted": report.weighted,
        "features": _drifted_evidence(report),
    }
    if importance:
        top = sorted(importance.items(), key=lambda item: -item[1])[:10]
        evidence["importance"] = {name: round(value, 4) for name, value in top}
    outcome = _Outcome(Finding(report.drifted, title, evidence))
    outcome.results = _drift_results(report)
    outcome.results.append(("", "drift_share", report.share, report.drift_share, report.drifted))
    outcome.charts = _charts(report)
    return outcome


def _model_importance(monitor: Monitor, windows: _Windows) -> dict[str, float] | None:
    """How much the deployment's main model leans on each input, without labels: the mean
    change of its outputs (probabilities, or predictions in units of their spread) when
    one column of reference rows is shuffled. Columns the model does not read weigh 0.
    None for a dataset monitor, a model that cannot be loaded, or over ``MOST_WEIGHED``
    columns. Cached per model version and reference."""
    if monitor.target_kind != "deployment" or len(windows.inputs) > MOST_WEIGHED:
        return None
    from shipyard import models
    from shipyard.serving import deployments

    try:
        main = max(deployments.get(monitor.target).routes, key=lambda r: r.weight)
        version = models.get(main.model)
        key = (version.id, windows.reference_label, tuple(windows.inputs))
        if key not in _IMPORTANCE:
            _IMPORTANCE[key] = _shuffle_importance(models.load(version.ref, format="auto"), windows)
        return _IMPORTANCE[key]
    except ShipyardError:
        return None


def _shuffle_importance(model: Any, windows: _Windows) -> dict[str, float] | None:
    table = _inputs_of(windows.reference, windows.inputs)
    if table.num_rows > IMPORTANCE_ROWS:
        rng = np.random.default_rng(0)
        table = table.take(np.sort(rng.choice(table.num_rows, IMPORTANCE_ROWS, False)))
    frame = table.to_pandas()
    read = {c.name for c in model.signature.inputs} if model.signature is not None else None
    classifier = model.classes is not None

    def outputs(data: Any) -> np.ndarray:
        if classifier:
            return np.asarray(model.predict_proba(data), dtype=np.float64)
        return np.asarray(model.predict(data), dtype=np.float64).reshape(-1, 1)

    try:
        base = outputs(frame)
    except (ShipyardError, ValueError, TypeError):
        return None  # reference rows the model refuses: no weights, plain shares
    scale = 1.0 if classifier else float(base.std()) or 1.0
    rng = np.random.default_rng(1)
    weights: dict[str, float] = {}
    for name in windows.inputs:
        if read is not None and name not in read:
            weights[name] = 0.0
            continue
        shuffled = frame.copy()
        shuffled[name] = rng.permutation(shuffled[name].to_numpy())
        try:
            moved = np.abs(outputs(shuffled) - base).sum(axis=1)
        except (ShipyardError, ValueError, TypeError):
            return None
        weights[name] = float(moved.mean() / scale)
    return weights if sum(weights.values()) > 0 else None


def _prediction_drift(monitor: Monitor, windows: _Windows, _log_dir: object) -> _Outcome:
    reference = windows.reference_predictions
    if reference is None:
        reference = _score_reference(monitor, windows)
    classifier = _is_classifier(windows.current)
    outputs = ["prediction", "probability"] if classifier else ["prediction"]
    outputs = [c for c in outputs if c in reference.column_names]
    report = drift(
        reference.select(outputs),
        windows.current.select(outputs),
        categorical=["prediction"] if classifier else [],
        thresholds={k: v for k, v in monitor.thresholds.items() if k in outputs},
    )
    if _judged(report) == 0:
        return _Outcome(None, note=_unjudged(report))
    drifted = report.drifted_features
    title = f"prediction drift ({_names(drifted)})" if drifted else "no prediction drift"
    evidence = {**_window_evidence(windows), "features": _drifted_evidence(report)}
    outcome = _Outcome(Finding(bool(drifted), title, evidence))
    outcome.results = _drift_results(report)
    outcome.charts = _charts(report)
    return outcome


def _quality(monitor: Monitor, windows: _Windows, _log_dir: object) -> _Outcome:
    frame = quality(
        _inputs_of(windows.reference, windows.inputs),
        _inputs_of(windows.current, windows.inputs),
        categorical=monitor.categorical,
    )
    frame = frame[frame["column"].isin(windows.inputs)]
    issues = frame[frame["issue"] != ""]
    title = (
        f"data quality: {len(issues)} column(s) with issues ({_names(list(issues['column']))})"
        if len(issues)
        else "data quality ok"
    )
    evidence = {
        **_window_evidence(windows),
        "issues": {
            str(r.column): {"issue": r.issue, "examples": r.examples}
            for r in issues.itertuples(index=False)
        },
    }
    outcome = _Outcome(Finding(bool(len(issues)), title, evidence))
    for r in frame.itertuples(index=False):
        issue = str(r.issue)
        if r.current_missing is not None and not math.isnan(r.current_missing):
            outcome.results.append(
                (str(r.column), "missing", float(r.current_missing), None, "missing" in issue)
            )
        outcome.results.append(
            (str(r.column), "out_of_range", float(r.out_of_range), None, "range" in issue)
        )
        outcome.results.append(
            (str(r.column), "unseen", float(r.unseen), None, "never had" in issue)
        )
    outcome.charts = {"quality": frame.astype(object).where(frame.notna(), None).to_dict("records")}
    return outcome


def _performance(monitor: Monitor, windows: _Windows, log_dir: str | Path | None) -> _Outcome:
    from shipyard.serving import read_feedback

    feedback = read_feedback(monitor.target, log_dir)
    labelled = _labelled(windows.current, feedback)
    classifier = _is_classifier(windows.current)
    metric = monitor.metric or ("accuracy" if classifier else "mae")
    errors, unusable = (
        (np.array([]), 0) if labelled is None else _errors(metric, labelled[0], labelled[1])
    )
    results: list[tuple[str, str, float | None, float | None, bool]] = [
        ("", "labelled_rows", float(len(errors)), None, False)
    ]
    if len(errors) < monitor.min_rows:
        note = f"{len(errors)} labelled rows in the window; a verdict needs {monitor.min_rows}"
        if unusable:
            note += f" ({unusable} labels that {metric} cannot use were left out)"
        return _Outcome(None, results, note=note)
    value = _metric(metric, errors)
    limit = monitor.metric_threshold
    worse = limit is not None and (value < limit if METRICS[metric] == "min" else value > limit)
    change = _concept_change(errors if metric in ("accuracy", "error_rate") else _exceeds(errors))
    evidence: dict[str, Any] = {
        **_window_evidence(windows),
        "metric": metric,
        "labelled_rows": len(errors),
        "unusable_labels": unusable,
        "value": value,
        "threshold": limit,
        "concept_drift": change is not None,
    }
    if change is not None:
        evidence["change_after_rows"] = change
    problems = []
    if worse:
        relation = "below" if METRICS[metric] == "min" else "above"
        problems.append(f"{metric} {value:.4g} {relation} {limit:g}")
    if change is not None:
        problems.append(f"concept drift: the error rose after {change} labelled rows")
    title = "; ".join(problems) if problems else f"{metric} {value:.4g}"
    outcome = _Outcome(Finding(bool(problems), title, evidence))
    outcome.results = [
        ("", metric, value, limit, worse),
        *results,
        ("", "concept_drift", 1.0 if change is not None else 0.0, None, change is not None),
    ]
    return outcome


def _exceeds(errors: np.ndarray) -> np.ndarray:
    """A regressor's errors as 0/1: above the upper quartile of the window's first third.
    The share of such rows stays near 25% while nothing changes, whatever the errors'
    distribution (heavy tails included), and rises when the errors grow."""
    early = errors[: max(len(errors) // 3, 1)]
    above: np.ndarray = (errors > np.quantile(early, 0.75)).astype(np.float64)
    return above


def _multivariate(monitor: Monitor, windows: _Windows, _log_dir: object) -> _Outcome:
    from shipyard.monitoring._domain import domain_drift

    result = domain_drift(
        _inputs_of(windows.reference, windows.inputs),
        _inputs_of(windows.current, windows.inputs),
        categorical=monitor.categorical,
    )
    if result.auc is None:  # too few rows or no usable column: the notes say which
        return _Outcome(None, charts={"notes": list(result.notes)})
    if result.drifted:
        title = (
            f"multivariate drift: a classifier tells the windows apart (AUC {result.auc:.3f}; "
            f"most by {_names(result.features, 3)})"
        )
    else:
        title = f"no multivariate drift (AUC {result.auc:.3f})"
    evidence = {**_window_evidence(windows), **result.to_dict(), "features": result.features}
    outcome = _Outcome(Finding(result.drifted, title, evidence))
    outcome.results = [("", "domain_auc", result.auc, result.threshold, result.drifted)]
    outcome.results += [
        (name, "domain_importance", share, None, False) for name, share in result.importance.items()
    ]
    return outcome


_DETECTORS = {
    "data_drift": _data_drift,
    "prediction_drift": _prediction_drift,
    "quality": _quality,
    "performance": _performance,
    "multivariate": _multivariate,
}


# -- helpers of the detectors --------------------------------------------------------------


def _judged(report: DriftReport) -> int:
    return sum(f.method is not None for f in report.features)


def _unjudged(report: DriftReport) -> str:
    reasons = "; ".join(f"{f.feature}: {f.note}" for f in report.features[:5] if f.note)
    return f"no feature could be judged ({reasons or 'no features'})"


def _names(names: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _window_evidence(windows: _Windows) -> dict[str, Any]:
    return {
        "window": {
            "start": windows.start,
            "end": windows.end,
            "rows": 0 if windows.current is None else windows.current.num_rows,
        },
        "reference": windows.reference_label,
        "reference_rows": 0 if windows.reference is None else windows.reference.num_rows,
        "skipped": windows.skipped,
    }


def _drifted_evidence(report: DriftReport) -> dict[str, Any]:
    return {
        f.feature: {"method": f.method, "statistic": f.statistic, "threshold": f.threshold}
        for f in report.features
        if f.drifted
    }


def _drift_results(
    report: DriftReport,
) -> list[tuple[str, str, float | None, float | None, bool]]:
    rows: list[tuple[str, str, float | None, float | None, bool]] = []
    for f in report.features:
        for metric, value in f.stats.items():
            deciding = _deciding_key(f.method) == metric
            rows.append(
                (
                    f.feature,
                    metric,
                    _finite(value),
                    f.threshold if deciding else None,
                    f.drifted if deciding else False,
                )
            )
    return rows


def _deciding_key(method: str | None) -> str | None:
    keys = {"ks": "ks_p_value", "chisquare": "chisquare_p_value", "wasserstein": "wasserstein_norm"}
    return None if method is None else keys.get(method, method)


def _charts(report: DriftReport) -> dict[str, Any]:
    return {
        f.feature: {
            "drifted": f.drifted,
            "method": f.method,
            "statistic": _finite(f.statistic),
            "note": f.note,
            **f.distribution,
        }
        for f in report.features
        if f.distribution
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _is_classifier(table: Any) -> bool:
    """Classifiers log the top class's probability; regressors log NaN there."""
    import pyarrow as pa

    if "probability" in table.column_names:
        values = table.column("probability").to_numpy(zero_copy_only=False)
        if np.isfinite(values.astype(np.float64)).any():
            return True
    kind = table.column("prediction").type if "prediction" in table.column_names else None
    return kind is not None and not (pa.types.is_floating(kind) or pa.types.is_integer(kind))


def _score_reference(monitor: Monitor, windows: _Windows) -> Any:
    """The deployment's main model's outputs on (a sample of) the dataset reference."""
    import pyarrow as pa

    from shipyard import models
    from shipyard.serving import deployments

    deployment = deployments.get(monitor.target)
    main = max(deployment.routes, key=lambda r: r.weight)
    model = models.load(main.model, format="auto")
    table = windows.reference
    if table.num_rows > REFERENCE_SCORED_ROWS:
        rng = np.random.default_rng(0)
        table = table.take(np.sort(rng.choice(table.num_rows, REFERENCE_SCORED_ROWS, False)))
    frame = table.to_pandas()
    signature = model.signature
    if signature is not None:
        frame = frame[[c.name for c in signature.inputs if c.name in frame.columns]]
    out = {"prediction": model.predict(frame)}
    if model.classes is not None:
        out["probability"] = model.predict_proba(frame).max(axis=1)
    return pa.table(out)


def _labelled(current: Any, feedback: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(predicted, actual, time) of the window's rows that have a feedback label, in time
    order. A request's label is a value (for every row of it) or a list (one per row)."""
    if feedback is None or "label" not in feedback.column_names:
        return None
    labels: dict[str, Any] = {}
    for request_id, label in zip(
        feedback.column("request_id").to_pylist(), feedback.column("label").to_pylist(), strict=True
    ):
        if label is not None:
            labels[request_id] = json.loads(label)  # the latest label of a request wins
    predicted, actual, at = [], [], []
    for request_id, row, prediction, when in zip(
        current.column("request_id").to_pylist(),
        current.column("row").to_pylist(),
        current.column("prediction").to_pylist(),
        current.column("at").to_pylist(),
        strict=True,
    ):
        if request_id not in labels:
            continue
        label = labels[request_id]
        if isinstance(label, list):
            if row >= len(label):
                continue
            label = label[row]
        if label is None:
            continue
        predicted.append(prediction)
        actual.append(label)
        at.append(when)
    if not predicted:
        return None
    return np.array(predicted, dtype=object), np.array(actual, dtype=object), np.array(at)


def _errors(metric: str, predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row: 1.0 for a wrong class and 0.0 for a right one (accuracy, error_rate), the
    absolute error (mae) or the squared error (rmse); and how many rows were left out
    (labels that are not finite numbers, for mae and rmse)."""
    if metric in ("accuracy", "error_rate"):
        wrong = [0.0 if _same(p, a) else 1.0 for p, a in zip(predicted, actual, strict=True)]
        return np.array(wrong, dtype=np.float64), 0
    both = np.array([_number(p) for p in predicted]), np.array([_number(a) for a in actual])
    usable = np.isfinite(both[0]) & np.isfinite(both[1])
    difference = both[0][usable] - both[1][usable]
    errors = np.abs(difference) if metric == "mae" else difference**2
    return errors, int((~usable).sum())


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _same(predicted: Any, actual: Any) -> bool:
    if predicted == actual:
        return True
    try:  # JSON has one number type: 1 and 1.0 and "1" name the same class
        return float(predicted) == float(actual)
    except (TypeError, ValueError):
        return str(predicted) == str(actual)


def _metric(metric: str, errors: np.ndarray) -> float:
    mean = float(errors.mean())
    return {"accuracy": 1 - mean, "error_rate": mean, "mae": mean, "rmse": math.sqrt(mean)}[metric]


def _concept_change(errors: np.ndarray) -> int | None:
    """Labelled rows after which Page–Hinkley saw the error rise, or None. The errors are
    averaged over blocks (at least 25 rows, and enough to expect five errors), each block's
    mean standardised by the spread a block of that size has when nothing changes."""
    mean, spread = float(errors.mean()), float(errors.std())
    if spread == 0:
        return None
    rate = min(mean, 1 - mean) if set(np.unique(errors)) <= {0.0, 1.0} else 1.0
    block = max(MIN_BLOCK, math.ceil(5 / rate)) if rate > 0 else MIN_BLOCK
    count = len(errors) // block
    if count < PH_MIN_BLOCKS:
        return None
    means = errors[: count * block].reshape(count, block).mean(axis=1)
    detector = PageHinkley(delta=PH_DELTA, threshold=PH_THRESHOLD, min_values=PH_MIN_BLOCKS)
    for i, value in enumerate((means - mean) / (spread / math.sqrt(block))):
        if detector.update(float(value)):
            return (i + 1) * block
    return None


# -- storing -------------------------------------------------------------------------------


def _store(
    monitor: Monitor,
    now: float,
    windows: _Windows | None,
    detectors: Mapping[str, _Outcome],
    error: str,
    seconds: float,
) -> Check:
    from sqlalchemy import insert, select, update

    rows = 0 if windows is None or windows.current is None else windows.current.num_rows
    reference_rows = (
        0 if windows is None or windows.reference is None else windows.reference.num_rows
    )
    verdicts = [o.finding for o in detectors.values() if o.finding is not None]
    if any(f.flagged for f in verdicts):
        status = "alert"
    elif error or any(o.error for o in detectors.values()):
        status = "failed"
    else:
        status = "ok" if verdicts else "no data"
    detail: dict[str, Any] = {"error": error, "detectors": {}}
    if not detectors and not error:
        detail["note"] = (
            f"{rows} rows in the window; a check needs {monitor.min_rows}"
            if rows < monitor.min_rows
            else "no reference rows"
        )
        if windows is not None and windows.note:
            detail["note"] += f" ({windows.note})"
    for name, outcome in detectors.items():
        found = outcome.finding
        title = found.title if found is not None else (
            f"failed: {outcome.note}" if outcome.error else f"no verdict: {outcome.note}"
        )  # fmt: skip
        detail["detectors"][name] = {
            "flagged": None if found is None else found.flagged,
            "title": title,
            "evidence": {} if found is None else found.evidence,
            "charts": outcome.charts,
            "error": outcome.note if outcome.error else "",
        }
    detail = finite(detail)
    start = None if windows is None else windows.start
    end = None if windows is None else windows.end
    with default_database().write() as conn:
        if (
            conn.scalar(select(MONITORS.c.id).where(MONITORS.c.id == monitor.id).with_for_update())
            is None
        ):
            raise NotFound(f"Monitor {monitor.name!r} was deleted while it was being checked.")
        result = conn.execute(
            insert(CHECKS).values(
                monitor_id=monitor.id,
                at=now,
                status=status,
                window_start=start,
                window_end=end,
                rows=rows,
                reference_rows=reference_rows,
                detail=json.dumps(detail, default=_json_default, allow_nan=False),
                seconds=seconds,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        check_id = int(key[0])
        values = [
            {
                "check_id": check_id,
                "monitor_id": monitor.id,
                "at": now,
                "detector": name,
                "feature": _feature_key(feature),
                "metric": metric,
                "value": _finite(value),
                "threshold": threshold,
                "flagged": flagged,
            }
            for name, outcome in detectors.items()
            for feature, metric, value, threshold, flagged in outcome.results
        ]
        if values:
            conn.execute(insert(RESULTS), values)
        notices = apply_findings(
            conn, monitor, check_id, {n: o.finding for n, o in detectors.items()}, now
        ) if not error else []  # fmt: skip
        conn.execute(update(MONITORS).where(MONITORS.c.id == monitor.id).values(last_check_at=now))
    notify(monitor, notices)
    return Check(
        check_id, monitor.name, now, status, rows, reference_rows, start, end, seconds,
        detail["detectors"], error,
    )  # fmt: skip


def _feature_key(name: str) -> str:
    """A column name as stored in the results: names beyond 1,000 characters are cut and
    made unique with a hash (the key is indexed)."""
    if len(name) <= 1000:
        return name
    return name[:980] + "…" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        number = value.item()
        return None if isinstance(number, float) and not math.isfinite(number) else number
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _check(name: str, row: Any) -> Check:
    detail = json.loads(row.detail)
    return Check(
        int(row.id), name, row.at, row.status, row.rows, row.reference_rows,
        row.window_start, row.window_end, row.seconds, detail.get("detectors", {}),
        detail.get("error", ""),
    )  # fmt: skip
