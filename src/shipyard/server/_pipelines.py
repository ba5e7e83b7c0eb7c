"""Pipelines over HTTP: registered pipelines, their runs and step runs (with the DAG as
nodes and edges), a step's logs, schedules and triggers, queueing a run (``shipyard
scheduler`` runs it, as it runs one the SDK's ``enqueue`` queued) and cancelling one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from shipyard import pipelines
from shipyard._refs import NAME_PATTERN
from shipyard.errors import NotFound
from shipyard.pipelines._report import COLOURS, layers, upstream_of
from shipyard.server._access import EDITOR, VIEWER, caller_of
from shipyard.server._paging import PageSize, PageToken, page, page_of
from shipyard.serving._openapi import CHANGES, KEYED, errors, text_answer

__all__ = ["dag", "router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, no
# token (401) or too low a role (403); a name may be unknown (404), a parameter refused
# (422); a change may meet a state that forbids it (409)
_LIST = errors(400, *KEYED, 422)
_READ = errors(400, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)
MOST_RUNS = 10_000  # what the store lists at most

router = APIRouter(tags=["pipelines"])
# documented, not enforced here: the SDK refuses another name (422) with its own message
Name = Annotated[str, Path(json_schema_extra={"pattern": f"^{NAME_PATTERN}$"})]
# a version (1 up to 9 digits, ``v`` allowed) or an alias (not all digits)
_SELECTOR = r"([vV]?0*[1-9][0-9]{0,8}|[A-Za-z0-9_.\-]{0,31}[A-Za-z_.\-][A-Za-z0-9_.\-]{0,32})"
Ref = Annotated[str, Path(json_schema_extra={"pattern": f"^{NAME_PATTERN}(@{_SELECTOR})?$"})]
Status = Annotated[
    str | None,
    Query(
        description="queued, running, succeeded, failed or cancelled",
        json_schema_extra={"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
    ),
]


@router.get("/pipelines", responses=_LIST, dependencies=[VIEWER])
def list_pipelines(page_size: PageSize = 100, page_token: PageToken = None) -> dict[str, Any]:
    """Every registered pipeline: versions, latest version, its last run's status."""
    return page_of(pipelines.list_pipelines(), page_size, page_token, "pipelines")


@router.get("/pipelines/{ref}", responses=_READ, dependencies=[VIEWER])
def get_pipeline(ref: Ref) -> dict[str, Any]:
    """A version (``name`` for the latest, ``name@3``): its graph, entry and defaults."""
    return pipelines.get_pipeline(ref).to_dict()


@router.get("/pipelines/{name}/runs", responses=_READ, dependencies=[VIEWER])
def list_pipeline_runs(
    name: Name, status: Status = None, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """The pipeline's runs, newest first (without their steps)."""
    pipelines.get_pipeline(name)  # NotFound for an unknown pipeline
    return _runs(name, status, page_size, page_token)


@router.post("/pipelines/{name}/runs", status_code=202, responses=_CHANGE, dependencies=[EDITOR])
def queue_run(
    name: Name,
    request: Request,
    params: Annotated[
        dict[str, Any] | None, Body(embed=True, description="The pipeline's parameters.")
    ] = None,
) -> dict[str, Any]:
    """Queue a run (``shipyard scheduler`` runs it); the queued run. Its trigger is
    ``{"kind": "api"}``, with ``by`` (``user:NAME``) when the server knows who asked."""
    trigger: dict[str, Any] = {"kind": "api"}
    actor = caller_of(request).actor
    if actor is not None:
        trigger["by"] = actor
    return pipelines.enqueue(name, params, trigger=trigger).to_dict()


@router.get("/pipelines/{name}/schedules", responses=_READ, dependencies=[VIEWER])
def list_schedules(
    name: Name, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """What starts the pipeline on its own, oldest first: crons (``cron``, ``timezone``)
    and triggers (``on``: dataset, model, alert or labels; ``rows``), enabled or paused,
    each with the last time it fired (``last_fired_at``) and the run it started."""
    pipelines.get_pipeline(name)
    found = []
    for schedule in pipelines.list_schedules(name):
        firings = pipelines.list_firings(schedule.id, limit=100_000)
        last = firings[-1] if firings else {}
        found.append(
            {
                **schedule.to_dict(),
                "fired": len(firings),
                "last_fired_at": last.get("fired_at"),
                "last_run_id": last.get("run_id"),
            }
        )
    return page_of(found, page_size, page_token, ["schedules", name])


@router.get("/pipeline-runs", responses=_READ, dependencies=[VIEWER])
def list_runs(
    pipeline: str | None = None,
    status: Status = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """Pipeline runs, newest first (without their steps)."""
    return _runs(pipeline, status, page_size, page_token)


@router.get("/pipeline-runs/{run_id}", responses=_READ, dependencies=[VIEWER])
def get_run(run_id: str) -> dict[str, Any]:
    """A run with its steps (status, times, attempts, errors, outputs' kinds, links) and
    its DAG: ``dag.nodes`` (name, status, colour, depth, row), ``dag.edges`` ([from, to])."""
    found = pipelines.get_run(run_id)
    run = found.to_dict()
    for step in run["steps"]:
        step.pop("logs", None)  # GET .../steps/{step}/logs
    run["dag"] = dag(found)
    return run


@router.get(
    "/pipeline-runs/{run_id}/steps/{step}/logs",
    response_class=Response,  # the 200 documented as text, the errors as JSON
    responses={**text_answer("text/plain; charset=utf-8", "The step's output."), **_READ},
    dependencies=[VIEWER],
)
def get_logs(run_id: str, step: str) -> PlainTextResponse:
    """What a step wrote to stdout and stderr (the last 64 KiB)."""
    try:
        found = pipelines.get_run(run_id).step(step)
    except KeyError as exc:
        raise NotFound(f"Run {run_id} has no step {step!r}.") from exc
    return PlainTextResponse(found.logs or "")


@router.post("/pipeline-runs/{run_id}/cancel", responses=_CHANGE, dependencies=[EDITOR])
def cancel(run_id: str) -> dict[str, Any]:
    """Cancel a queued run, or ask a running one to stop (its steps are killed)."""
    return pipelines.cancel(run_id).to_dict(steps=False)


def _runs(pipeline: str | None, status: str | None, size: int, token: str | None) -> dict[str, Any]:
    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        if offset >= MOST_RUNS:
            return []
        found = pipelines.list_runs(pipeline, status, min(offset + limit, MOST_RUNS))
        return [r.to_dict(steps=False) for r in found[offset:]]

    return page(fetch, size, token, ["runs", pipeline, status])


def dag(run: pipelines.PipelineRun) -> dict[str, Any]:
    """A run's DAG as JSON: each step (name, status, its colour, depth: its layer, row:
    its place in the layer) and the edges between them, upstream first."""
    upstream = upstream_of(run)
    order = [s.name for s in run.steps]
    depth = layers(order, upstream)
    rows: dict[int, int] = {}
    nodes = []
    for step in run.steps:
        layer = depth[step.name]
        rows[layer] = rows.get(layer, -1) + 1
        nodes.append(
            {
                "name": step.name,
                "status": step.status,
                "colour": COLOURS.get(step.status, "#9e9e9e"),
                "depth": layer,
                "row": rows[layer],
                "duration": step.duration,
                "attempts": step.attempts,
            }
        )
    edges = [[up, name] for name in order for up in upstream.get(name, ())]
    return {"nodes": nodes, "edges": edges}
