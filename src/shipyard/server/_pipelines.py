"""Pipelines over HTTP: registered pipelines, their runs and step runs, queueing and
cancelling a run (a queued run is run by ``shipyard scheduler``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import PlainTextResponse, Response

from shipyard import pipelines
from shipyard._refs import NAME_PATTERN
from shipyard.errors import NotFound
from shipyard.server._access import EDITOR, VIEWER
from shipyard.serving._openapi import CHANGES, KEYED, errors, text_answer

__all__ = ["router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, reading
# wants a live key (401), changing one with the admin scope (403); a name or filter may be
# unknown (404) or refused (422, e.g. a NUL character); a list without filters only 400/401
_LIST = errors(400, 401)
_READ = errors(400, 401, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["pipelines"])
Limit = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]
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


@router.get("/pipelines", dependencies=[VIEWER], responses=_LIST)
def list_pipelines() -> list[dict[str, Any]]:
    """Every registered pipeline: versions, latest version, its last run's status."""
    return pipelines.list_pipelines()


@router.get("/pipelines/{ref}", dependencies=[VIEWER], responses=_READ)
def get_pipeline(ref: Ref) -> dict[str, Any]:
    """A version (``name`` for the latest, ``name@3``): its graph, entry and defaults."""
    return pipelines.get_pipeline(ref).to_dict()


@router.get("/pipelines/{name}/runs", dependencies=[VIEWER], responses=_READ)
def list_pipeline_runs(
    name: Name, status: Status = None, limit: Limit = 50
) -> list[dict[str, Any]]:
    """The pipeline's runs, newest first (without their steps)."""
    return [r.to_dict(steps=False) for r in pipelines.list_runs(name, status, limit)]


@router.post("/pipelines/{name}/runs", status_code=202, dependencies=[EDITOR], responses=_CHANGE)
def queue_run(
    name: Name,
    params: Annotated[
        dict[str, Any] | None, Body(embed=True, description="The pipeline's parameters.")
    ] = None,
) -> dict[str, Any]:
    """Queue a run (``shipyard scheduler`` runs it); the queued run."""
    return pipelines.enqueue(name, params, trigger={"kind": "api"}).to_dict()


@router.get("/pipeline-runs", dependencies=[VIEWER], responses=_READ)
def list_runs(
    pipeline: str | None = None, status: Status = None, limit: Limit = 50
) -> list[dict[str, Any]]:
    """Pipeline runs, newest first (without their steps)."""
    return [r.to_dict(steps=False) for r in pipelines.list_runs(pipeline, status, limit)]


@router.get("/pipeline-runs/{run_id}", dependencies=[VIEWER], responses=_READ)
def get_run(run_id: str) -> dict[str, Any]:
    """A run with its steps: status, times, attempts, errors, outputs' kinds, links."""
    run = pipelines.get_run(run_id).to_dict()
    for step in run["steps"]:
        step.pop("logs", None)  # GET .../steps/{step}/logs
    return run


@router.get(
    "/pipeline-runs/{run_id}/steps/{step}/logs",
    response_class=Response,  # the 200 documented as text, the errors as JSON
    dependencies=[VIEWER],
    responses={**text_answer("text/plain; charset=utf-8", "The step's output."), **_READ},
)
def get_logs(run_id: str, step: str) -> PlainTextResponse:
    """What a step wrote to stdout and stderr (the last 64 KiB)."""
    try:
        found = pipelines.get_run(run_id).step(step)
    except KeyError as exc:
        raise NotFound(f"Run {run_id} has no step {step!r}.") from exc
    return PlainTextResponse(found.logs or "")


@router.post("/pipeline-runs/{run_id}/cancel", dependencies=[EDITOR], responses=_CHANGE)
def cancel(run_id: str) -> dict[str, Any]:
    """Cancel a queued run, or ask a running one to stop (its steps are killed)."""
    return pipelines.cancel(run_id).to_dict(steps=False)
