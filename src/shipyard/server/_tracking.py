"""Experiments and runs over HTTP: search, one run, metric histories (downsampled on
request), comparisons; and the writes of remote mode's tracking store
(``shipyard.tracking._http``), in ``_tracking_writes``.

Every route calls the SQL tracking store's primitive of the same name (``local_store()``:
the server's own database, even with ``SHIPYARD_URL`` set). Reading needs the viewer role,
writing the editor role.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from shipyard._time import iso, iso_series
from shipyard.server._access import EDITOR, VIEWER
from shipyard.server._paging import PageSize, page_of
from shipyard.server._tracking_schemas import (
    Comparison,
    Experiment,
    ExperimentsPage,
    MetricHistory,
    NewExperiment,
    RunData,
    RunsPage,
    documented,
)
from shipyard.server._tracking_writes import router as writes
from shipyard.serving._http import JSON
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, errors
from shipyard.tracking import downsample
from shipyard.tracking._api import local_store
from shipyard.tracking._search import compare
from shipyard.tracking._types import RunData as RunDataValue

__all__ = ["router"]

_READ = errors(*ANY_ROUTE, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["tracking"])

Token = Annotated[
    str | None,
    Query(max_length=4000, description="The `next_page_token` of the previous page."),
]
Names = Annotated[
    list[str] | None,
    Query(description="Only runs of these experiments (repeat the parameter for several)."),
]


@router.get(
    "/experiments",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(ExperimentsPage, "Experiments, oldest first."), **_READ},
)
def list_experiments(page_size: PageSize = 100, page_token: Token = None) -> dict[str, Any]:
    """Every experiment with its number of runs, oldest first, a page at a time."""
    found = [asdict(e) for e in local_store().list_experiments()]
    return page_of(found, page_size, page_token, "experiments")


@router.post(
    "/experiments",
    dependencies=[EDITOR],
    response_model=None,
    responses={**documented(Experiment, "The experiment (made when missing)."), **_CHANGE},
)
def create_experiment(body: NewExperiment) -> dict[str, Any]:
    """The experiment called ``name``, created when missing (as ``sy.start_run`` does)."""
    from shipyard import _validate as check

    return asdict(local_store().experiment(check.check_name("Experiment", body.name)))


@router.get(
    "/experiments/{name_or_id:path}",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(Experiment, "The experiment."), **_READ},
)
def get_experiment(name_or_id: str) -> dict[str, Any]:
    """One experiment, by name or id."""
    return asdict(local_store().get_experiment(name_or_id))


@router.get(
    "/runs",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(RunsPage, "A page of runs."), **_READ},
)
def search_runs(
    experiment: Names = None,
    filter: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description="The SDK's filter language, e.g. `metrics.auc > 0.9 and "
            "params.model = 'lgbm'`.",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        Query(description="e.g. `metrics.auc desc` (repeat for several); then newest first."),
    ] = None,
    columns: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description="Comma-separated `metrics.<key>`, `params.<key>`, `tags.<key>` "
            "columns to answer (default: all; empty: none).",
        ),
    ] = None,
    include_deleted: bool = False,
    page_size: PageSize = 100,
    page_token: Token = None,
) -> dict[str, Any]:
    """Runs matching a filter, ordered, a page at a time (``sy.search_runs``)."""
    wanted = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
    found = local_store().search_runs(
        experiment or [],
        filter,
        order_by or [],
        page_size,
        page_token,
        wanted,
        include_deleted,
    )
    return {"items": found.rows, "next_page_token": found.next_page_token}


@router.get(
    "/runs/compare",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(Comparison, "The runs side by side."), **_READ},
)
def compare_runs(
    run_id: Annotated[
        list[str], Query(min_length=2, max_length=100, description="Two or more run ids.")
    ],
) -> dict[str, Any]:
    """Runs side by side (``sy.compare_runs``): a row per attribute, param, metric and tag,
    a value per run, and whether the values differ."""
    store = local_store()
    frame = compare(store, run_id)
    labels = [str(c) for c in frame.columns if c != "differs"]
    rows = [
        {
            "field": str(field),
            "values": [_plain(row[c]) for c in labels],
            "differs": bool(row["differs"]),
        }
        for field, row in frame.iterrows()
    ]
    ids = [store.get_run(r).info.id for r in run_id]
    return {"runs": labels, "run_ids": ids, "rows": rows}


@router.get(
    "/runs/{run_id}",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(RunData, "The run."), **_READ},
)
def get_run(run_id: str) -> dict[str, Any]:
    """A run with its params, tags, latest metrics, artifacts and child runs (id or a unique
    prefix of at least 6 characters)."""
    return run_json(local_store().get_run(run_id))


@router.get(
    "/runs/{run_id}/metrics/{key:path}",
    dependencies=[VIEWER],
    response_model=None,
    responses={**documented(MetricHistory, "The metric's points."), **_READ},
)
def get_metric_history(
    run_id: str,
    key: str,
    max_points: Annotated[
        int | None,
        Query(
            ge=2,
            le=1_000_000,
            description="Downsample to at most this many points, keeping each bucket's "
            "lowest and highest value and the first and last point.",
        ),
    ] = None,
) -> JSON:
    """Every point of one metric of a run by step (``sy.get_metric_history``), or a
    downsampled series that keeps its shape (for charts)."""
    store = local_store()
    steps, values, stamps = _series(store, run_id, key)
    if not steps:
        full = store.get_run(run_id).info.id  # NotFound for an unknown run; a prefix
        if full != run_id:
            steps, values, stamps = _series(store, full, key)
    count = len(steps)
    if max_points is not None and count > max_points:
        keep = downsample(values, max_points).tolist()
        steps = [steps[i] for i in keep]
        values = [values[i] for i in keep]
        stamps = [stamps[i] for i in keep]
    # the times converted at once (vectorized): plain orjson, not TimesJSON's walk
    times = iso_series(stamps)
    answer = {"key": key, "count": count, "steps": steps, "values": values, "timestamps": times}
    return JSON(answer)


_SERIES_SQL = {
    dialect: f"SELECT step, value, timestamp FROM metrics WHERE run_id = {mark} "
    f"AND key = {mark} ORDER BY step, timestamp, id"
    for dialect, mark in (("sqlite", "?"), ("postgresql", "%s"))
}


def _series(store: Any, run_id: str, key: str) -> tuple[list[int], list[float], list[float]]:
    """A metric's points as three columns, read with the driver's own cursor: no row or
    Point objects, so a 100,000-point series costs what the database takes to read it."""
    with store.db.read() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_SERIES_SQL[store.db.dialect], (run_id, key))
            rows = cursor.fetchall()
        finally:
            cursor.close()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def run_json(run: RunDataValue) -> dict[str, Any]:
    """A run as the API answers it (``RunData``'s fields; times converted on the way out,
    each latest metric's here: ``metrics`` is the user's, left alone by the by-name walk)."""
    answer = asdict(run)
    for latest in answer["metrics"].values():
        latest["timestamp"] = iso(latest["timestamp"])
    return answer


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


router.include_router(writes)
