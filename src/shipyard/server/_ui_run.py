"""What the run and compare pages show, gathered through the SDK's public functions.

A run's page: its attributes, params, tags, latest metrics, a chart per metric logged more
than once (its history downsampled to :data:`~shipyard.server._ui_figures.CHART_POINTS`),
artifacts, children, and lineage: the dataset versions it read and the model versions
registered from it. Compare: the same runs' curves overlaid per metric, their params
against one metric in parallel coordinates, and every param, metric and tag side by side.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from shipyard import data, models
from shipyard.errors import InvalidInput, ShipyardError
from shipyard.server._ui_figures import CHART_POINTS, COLORS, bars, lines, parallel, series
from shipyard.tracking import (
    RunData,
    RunId,
    compare_runs,
    get_run,
    search_runs,
    tracking_store,
)

__all__ = ["PER_STEP", "compare_context", "default_columns", "missing", "run_context", "table_rows"]

#: most runs one comparison shows
MAX_COMPARE = 20
#: points of each run's curve in a comparison (several curves share a chart)
COMPARE_POINTS = 500
#: most children listed on a run's page
MAX_CHILDREN = 100
#: most axes of the parallel-coordinates chart (params, then the metric)
MAX_AXES = 12
#: the metric shown first when there is a choice: the first of these, else the most common
KEY_METRICS = ("auc", "roc_auc", "accuracy", "f1", "r2", "rmse", "mae", "log_loss", "loss")


#: downsampled histories kept (a finished run's series never changes; a growing one is
#: read again: its point count and latest step are part of the key)
CACHED_SERIES = 256
_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def history(run: RunData, key: str, max_points: int = CHART_POINTS) -> dict[str, Any]:
    """A metric's history of ``run`` as chart data (:func:`series`), read once per state of
    the series: reading 100,000 points costs the store most of a second, drawing them a
    thousand points."""
    latest = run.metrics[key]
    state = (run.info.id, key, max_points, latest.count, latest.step, latest.timestamp)
    with _cache_lock:
        found = _cache.get(state)
        if found is not None:
            _cache.move_to_end(state)
            return found
    made = series(tracking_store().read_metrics(RunId(run.info.id), key), max_points)
    with _cache_lock:
        _cache[state] = made
        while len(_cache) > CACHED_SERIES:
            _cache.popitem(last=False)
    return made


def missing(value: Any) -> Any:
    """None for pandas' missing values (NaN, NaT, None); anything else as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if str(value) == "NaT" else value


PER_STEP = ("metrics.fold_", "metrics.rung_")  # a search's per-fold and per-rung scores


def default_columns(frame: Any, metrics: int, params: int) -> tuple[str, ...]:
    """The ``metrics`` metrics and ``params`` params that most runs of a search page have
    (ties by name). A search's per-fold and per-rung scores (``fold_*``, ``rung_*``: every
    trial logs them, only finished ones log the score itself) come after the other metrics."""
    counts = frame.notna().sum()
    chosen: list[str] = []
    for kind, most in (("metrics", metrics), ("params", params)):
        keys = [c for c in frame.columns if c.startswith(kind + ".") and counts[c] > 0]
        keys.sort(key=lambda c: (c.startswith(PER_STEP), -int(counts[c]), c))
        chosen += keys[:most]
    return tuple(chosen)


def table_rows(frame: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    """A search page's runs as the runs table shows them."""
    rows = []
    for record in frame.to_dict("records"):
        start = missing(record["start_time"])
        rows.append(
            {
                "id": record["run_id"],
                "name": record["name"],
                "experiment": record["experiment"],
                "status": record["status"],
                "start": None if start is None else float(start.timestamp()),
                "duration": missing(record["duration"]),
                "parent": missing(record["parent_id"]),
                "cells": [missing(record.get(c)) for c in columns],
            }
        )
    return rows


def run_context(run_id: str) -> dict[str, Any]:
    """Everything a run's page shows (NotFound for an unknown run)."""
    run = get_run(run_id)
    rid = run.info.id
    charts = []
    for key in sorted(run.metrics):
        if run.metrics[key].count > 1:
            points = history(run, key)
            charts.append(
                {
                    "key": key,
                    "points": points["points"],
                    "figure": lines("", {key: points}, y_title=key),
                }
            )
    children = search_runs(filter=f"parent_id = '{rid}'", max_results=MAX_CHILDREN)
    child_columns = default_columns(children, 3, 0)
    return {
        "run": run,
        "metrics": [run.metrics[k] for k in sorted(run.metrics)],
        "charts": charts,
        "parent": _parent(run),
        "children": table_rows(children, child_columns),
        "child_columns": child_columns,
        "more_children": children.attrs.get("next_page_token") is not None,
        "datasets": _datasets(rid),
        "models": _models(rid),
    }


def _parent(run: RunData) -> RunData | None:
    if run.info.parent_id is None:
        return None
    try:
        return get_run(run.info.parent_id)
    except ShipyardError:  # deleted since: the page still shows the id
        return None


def _datasets(run_id: str) -> list[Any]:
    """The dataset versions the run read."""
    try:
        return list(data.run_inputs(run_id))
    except ShipyardError:
        return []


def _models(run_id: str) -> list[Any]:
    """The model versions registered from the run (the registry records each one's run)."""
    found = []
    for model in models.list_models():
        try:
            found += [v for v in models.versions(model.name) if v.run_id == run_id]
        except ShipyardError:  # deleted while we looked
            continue
    return found


def compare_context(ids: Sequence[str], metric: str, only_differences: bool) -> dict[str, Any]:
    """Everything the compare page shows for the runs ``ids`` (2 to :data:`MAX_COMPARE`)."""
    if len(ids) < 2:
        raise InvalidInput(
            f"ids: pick at least two runs to compare (got {len(ids)}); tick them in the runs table."
        )
    if len(ids) > MAX_COMPARE:
        raise InvalidInput(f"ids: compare at most {MAX_COMPARE} runs at once (got {len(ids)}).")
    runs = [get_run(i) for i in ids]
    labels = [f"{r.info.name} · {r.info.id[:6]}" for r in runs]
    keys = sorted({k for r in runs for k in r.metrics})
    counts = {k: sum(k in r.metrics for r in runs) for k in keys}
    if metric and metric not in counts:
        raise InvalidInput(
            f"metric: none of these runs logged {metric!r} "
            f"(they have: {', '.join(keys) or 'none'})."
        )
    chosen = metric or _key_metric(counts)
    table = compare_runs([r.info.id for r in runs])
    rows = [
        {"key": key, "cells": [missing(v) for v in values[:-1]], "differs": bool(values[-1])}
        for key, values in zip(table.index, table.itertuples(index=False), strict=True)
    ]
    return {
        "runs": list(zip(runs, labels, strict=True)),
        "ids": [r.info.id for r in runs],
        "charts": [_curves(runs, labels, key) for key in keys],
        "metrics": keys,
        "metric": chosen,
        "parallel": _parallel(runs, chosen),
        "rows": [r for r in rows if r["differs"]] if only_differences else rows,
        "diff": only_differences,
    }


def _key_metric(counts: dict[str, int]) -> str:
    """The metric most runs have, preferring the usual scores (:data:`KEY_METRICS`)."""
    rank = {k: i for i, k in enumerate(KEY_METRICS)}
    return min(counts, key=lambda k: (-counts[k], rank.get(k, len(rank)), k), default="")


def _curves(runs: Sequence[RunData], labels: Sequence[str], key: str) -> dict[str, Any]:
    """One metric across runs: curves when any run logged it more than once, else bars;
    each run in its colour (its place in the comparison)."""
    having = [
        (r, label, COLORS[i % len(COLORS)])
        for i, (r, label) in enumerate(zip(runs, labels, strict=True))
        if key in r.metrics
    ]
    if any(r.metrics[key].count > 1 for r, _, _ in having):
        traces = {
            label: {**history(r, key, COMPARE_POINTS), "color": color} for r, label, color in having
        }
        return {"key": key, "figure": lines("", traces, y_title=key)}
    values = {label: r.metrics[key].value for r, label, _ in having}
    return {"key": key, "figure": bars("", values, [c for _, _, c in having], key)}


def _parallel(runs: Sequence[RunData], metric: str) -> dict[str, Any] | None:
    """Params against ``metric`` over the runs that logged it; the params that differ
    between them (all when none does), at most :data:`MAX_AXES` - 1."""
    having = [r for r in runs if metric in r.metrics]
    if len(having) < 2:
        return None
    keys = sorted({k for r in having for k in r.params})
    values = {k: [r.params.get(k) for r in having] for k in keys}
    differing = {k: v for k, v in values.items() if len(set(v)) > 1}
    axes = dict(list((differing or values).items())[: MAX_AXES - 1])
    return parallel(axes, metric, [r.metrics[metric].value for r in having])
