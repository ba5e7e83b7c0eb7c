"""The detectors a check runs on its windows.

- ``data_drift``: :func:`~shipyard.monitoring.drift` over the model's input columns, the
  verdict weighed (for a deployment) by how much the model leans on each input;
- ``prediction_drift``: the same on the outputs (``prediction``, and the top class's
  ``probability`` for classifiers). Against a dataset reference, the reference's outputs are
  the deployment's main model's predictions on it;
- ``quality``: :func:`~shipyard.monitoring.quality` (missing values, ranges, categories);
- ``performance``: the window's rows that have feedback labels: the metric (accuracy or an
  error) against ``metric_threshold``, and concept drift — Page–Hinkley over the metric of
  consecutive blocks of labelled rows, each block standardised by its expected spread, so
  its thresholds hold for any error rate;
- ``multivariate``: a domain classifier told to separate the windows.

Each returns an :class:`Outcome`: a finding (or None: no verdict, and why), the values to
store as the time series, and what the report charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.monitoring._detector import METRICS, Detector
from shipyard.monitoring._values import Finding, Monitor

if TYPE_CHECKING:  # the detectors import them as they run: listing monitors needs no NumPy
    import numpy as np

    from shipyard.monitoring._drift import DriftReport
    from shipyard.monitoring._windows import Windows

__all__ = ["DETECTOR_TABLE", "Outcome", "finite_number"]

REFERENCE_SCORED_ROWS = 20_000  # rows of a dataset reference scored for prediction drift
IMPORTANCE_ROWS, MOST_WEIGHED = 1_000, 200  # rows shuffled per column; columns at most
_IMPORTANCE: dict[tuple[str, str, tuple[str, ...]], dict[str, float] | None] = {}


@dataclass
class Outcome:
    finding: Finding | None  # None: no verdict (``note`` says why)
    results: list[tuple[str, str, float | None, float | None, bool]] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    error: bool = False  # the detector failed (``note`` holds the error)


def _data_drift(monitor: Monitor, windows: Windows, _log_dir: object) -> Outcome:
    from shipyard.monitoring._drift import drift
    from shipyard.monitoring._windows import inputs_of, window_evidence

    thresholds = {k: v for k, v in monitor.thresholds.items() if k in windows.inputs}
    importance = _model_importance(monitor, windows) if monitor.weighted else None
    report = drift(
        inputs_of(windows.reference, windows.inputs),
        inputs_of(windows.current, windows.inputs),
        columns=windows.inputs,
        categorical=monitor.categorical,
        thresholds=thresholds,
        drift_share=monitor.drift_share,
        importance=importance,
    )
    if _judged(report) == 0:  # every column missing, empty or too short on a side
        return Outcome(None, note=_unjudged(report))
    drifted = report.drifted_features
    title = (
        f"data drift in {len(drifted)} of {_judged(report)} features ({_names(drifted)})"
        if report.drifted
        else f"no data drift ({len(drifted)} of {_judged(report)} features drifted)"
    )
    evidence = {
        **window_evidence(windows),
        "share": report.share,
        "drift_share": report.drift_share,
        "weighted": report.weighted,
        "features": _drifted_evidence(report),
    }
    if importance:
        top = sorted(importance.items(), key=lambda item: -item[1])[:10]
        evidence["importance"] = {name: round(value, 4) for name, value in top}
    outcome = Outcome(Finding(report.drifted, title, evidence))
    outcome.results = _drift_results(report)
    outcome.results.append(("", "drift_share", report.share, report.drift_share, report.drifted))
    outcome.charts = _charts(report)
    return outcome


def _model_importance(monitor: Monitor, windows: Windows) -> dict[str, float] | None:
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
        main = max(deployments.served(monitor.target).routes, key=lambda r: r.weight)
        version = models.get(main.model)
        key = (version.id, windows.reference_label, tuple(windows.inputs))
        if key not in _IMPORTANCE:
            _IMPORTANCE[key] = _shuffle_importance(models.load(version.ref, format="auto"), windows)
        return _IMPORTANCE[key]
    except ShipyardError:
        return None


def _shuffle_importance(model: Any, windows: Windows) -> dict[str, float] | None:
    import numpy as np

    from shipyard.monitoring._windows import inputs_of

    table = inputs_of(windows.reference, windows.inputs)
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


def _prediction_drift(monitor: Monitor, windows: Windows, _log_dir: object) -> Outcome:
    from shipyard.monitoring._drift import drift
    from shipyard.monitoring._windows import window_evidence

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
        return Outcome(None, note=_unjudged(report))
    drifted = report.drifted_features
    title = f"prediction drift ({_names(drifted)})" if drifted else "no prediction drift"
    evidence = {**window_evidence(windows), "features": _drifted_evidence(report)}
    outcome = Outcome(Finding(bool(drifted), title, evidence))
    outcome.results = _drift_results(report)
    outcome.charts = _charts(report)
    return outcome


def _quality(monitor: Monitor, windows: Windows, _log_dir: object) -> Outcome:
    from shipyard.monitoring._quality import quality
    from shipyard.monitoring._windows import inputs_of, window_evidence

    frame = quality(
        inputs_of(windows.reference, windows.inputs),
        inputs_of(windows.current, windows.inputs),
        categorical=monitor.categorical,
        schema=windows.schema,
    )
    frame = frame[frame["column"].isin(windows.inputs)]
    issues = frame[frame["issue"] != ""]
    title = (
        f"data quality: {len(issues)} column(s) with issues ({_names(list(issues['column']))})"
        if len(issues)
        else "data quality ok"
    )
    evidence = {
        **window_evidence(windows),
        "issues": {
            str(r.column): {"issue": r.issue, "examples": r.examples}
            for r in issues.itertuples(index=False)
        },
    }
    outcome = Outcome(Finding(bool(len(issues)), title, evidence))
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
        outcome.results.append(
            (str(r.column), "out_of_schema", float(r.out_of_schema), None, "schema" in issue)
        )
    outcome.charts = {"quality": frame.astype(object).where(frame.notna(), None).to_dict("records")}
    return outcome


def _performance(monitor: Monitor, windows: Windows, log_dir: str | Path | None) -> Outcome:
    import numpy as np

    from shipyard.monitoring._performance import (
        concept_change,
        labelled_rows,
        metric_value,
        row_errors,
    )
    from shipyard.monitoring._windows import window_evidence
    from shipyard.serving import read_feedback

    feedback = read_feedback(monitor.target, log_dir)
    labelled = labelled_rows(windows.current, feedback)
    classifier = _is_classifier(windows.current)
    metric = monitor.metric or ("accuracy" if classifier else "mae")
    errors, unusable = (
        (np.array([]), 0) if labelled is None else row_errors(metric, labelled[0], labelled[1])
    )
    results: list[tuple[str, str, float | None, float | None, bool]] = [
        ("", "labelled_rows", float(len(errors)), None, False)
    ]
    if len(errors) < monitor.min_rows:
        note = f"{len(errors)} labelled rows in the window; a verdict needs {monitor.min_rows}"
        if unusable:
            note += f" ({unusable} labels that {metric} cannot use were left out)"
        return Outcome(None, results, note=note)
    value = metric_value(metric, errors)
    limit = monitor.metric_threshold
    worse = limit is not None and (value < limit if METRICS[metric] == "min" else value > limit)
    change = concept_change(errors if metric in ("accuracy", "error_rate") else _exceeds(errors))
    evidence: dict[str, Any] = {
        **window_evidence(windows),
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
    outcome = Outcome(Finding(bool(problems), title, evidence))
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
    import numpy as np

    early = errors[: max(len(errors) // 3, 1)]
    above: np.ndarray = (errors > np.quantile(early, 0.75)).astype(np.float64)
    return above


def _multivariate(monitor: Monitor, windows: Windows, _log_dir: object) -> Outcome:
    from shipyard.monitoring._domain import domain_drift
    from shipyard.monitoring._windows import inputs_of, window_evidence

    result = domain_drift(
        inputs_of(windows.reference, windows.inputs),
        inputs_of(windows.current, windows.inputs),
        categorical=monitor.categorical,
    )
    if result.auc is None:  # too few rows or no usable column: the notes say which
        return Outcome(None, charts={"notes": list(result.notes)})
    if result.drifted:
        title = (
            f"multivariate drift: a classifier tells the windows apart (AUC {result.auc:.3f}; "
            f"most by {_names(result.features, 3)})"
        )
    else:
        title = f"no multivariate drift (AUC {result.auc:.3f})"
    evidence = {**window_evidence(windows), **result.to_dict(), "features": result.features}
    outcome = Outcome(Finding(result.drifted, title, evidence))
    outcome.results = [("", "domain_auc", result.auc, result.threshold, result.drifted)]
    outcome.results += [
        (name, "domain_importance", share, None, False) for name, share in result.importance.items()
    ]
    return outcome


# -- the table ----------------------------------------------------------------------------
# One entry per detector (see ``_detector.py``): what users list in ``detectors=``, what it
# watches, whether it runs by default, and what the report draws of it.

DETECTOR_TABLE: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "data_drift",
            _data_drift,
            default_for=("deployment", "dataset"),
            charts="distributions",
        ),
        Detector(
            "prediction_drift",
            _prediction_drift,
            targets=("deployment",),
            default_for=("deployment",),
            charts="distributions",
        ),
        Detector("quality", _quality, default_for=("deployment", "dataset"), charts="table"),
        Detector(
            "performance",
            _performance,
            targets=("deployment",),
            default_for=("deployment",),
            over_time=tuple(METRICS),
        ),
        Detector("multivariate", _multivariate, over_time=("domain_auc",)),
    )
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


def _drifted_evidence(report: DriftReport) -> dict[str, Any]:
    return {
        f.feature: {
            "method": f.method,
            "statistic": f.statistic,
            "threshold": f.threshold,
            "rule": f.rule,
        }
        for f in report.features
        if f.drifted
    }


def _drift_results(
    report: DriftReport,
) -> list[tuple[str, str, float | None, float | None, bool]]:
    from shipyard.monitoring._statistics import deciding_key

    rows: list[tuple[str, str, float | None, float | None, bool]] = []
    for f in report.features:
        for metric, value in f.stats.items():
            deciding = deciding_key(f.method) == metric
            rows.append(
                (
                    f.feature,
                    metric,
                    finite_number(value),
                    f.threshold if deciding else None,
                    f.drifted if deciding else False,
                )
            )
    return rows


def _charts(report: DriftReport) -> dict[str, Any]:
    return {
        f.feature: {
            "drifted": f.drifted,
            "method": f.method,
            "statistic": finite_number(f.statistic),
            "note": f.note,
            **f.distribution,
        }
        for f in report.features
        if f.distribution
    }


def finite_number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _is_classifier(table: Any) -> bool:
    """Classifiers log the top class's probability; regressors log NaN there."""
    import numpy as np
    import pyarrow as pa

    if "probability" in table.column_names:
        values = table.column("probability").to_numpy(zero_copy_only=False)
        if np.isfinite(values.astype(np.float64)).any():
            return True
    kind = table.column("prediction").type if "prediction" in table.column_names else None
    return kind is not None and not (pa.types.is_floating(kind) or pa.types.is_integer(kind))


def _score_reference(monitor: Monitor, windows: Windows) -> Any:
    """The deployment's main model's outputs on (a sample of) the dataset reference."""
    import numpy as np
    import pyarrow as pa

    from shipyard import models
    from shipyard.serving import deployments

    deployment = deployments.served(monitor.target)  # or a model served plainly
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
