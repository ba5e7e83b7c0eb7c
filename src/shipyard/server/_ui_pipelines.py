"""The pipelines pages: every pipeline; one with its runs, versions, schedules and
triggers (and a button to queue a run, for editors); one run with its DAG drawn in step
states' colours (the run report's own chart code), its steps and their logs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from shipyard import pipelines
from shipyard._time import iso_times
from shipyard.pipelines._report import COLOURS, dag_figure, upstream_of
from shipyard.server._access import VIEWER
from shipyard.server._ui import pages, render
from shipyard.server._ui_ops import can_edit, figure_json

__all__ = ["router"]

router = pages()
RUNS = 100  # runs shown on a pipeline's page


@router.get("/pipelines", dependencies=[VIEWER])
def pipelines_page(request: Request) -> HTMLResponse:
    found = pipelines.list_pipelines()
    schedules: dict[str, int] = {}
    for schedule in pipelines.list_schedules():
        schedules[schedule.pipeline] = schedules.get(schedule.pipeline, 0) + 1
    return render(request, "ops_pipelines.html", rows=found, schedules=schedules)


@router.get("/pipelines/runs/{run_id}", dependencies=[VIEWER])
def run_page(request: Request, run_id: str) -> HTMLResponse:
    run = pipelines.get_run(run_id)
    figure = dag_figure(run, upstream_of(run))
    figure.update_layout(
        legend={"orientation": "h", "y": -0.05},
        margin={"t": 20, "b": 30},
        height=max(240, int(figure.layout.height or 320) - 80),
    )
    steps = []
    for step in run.steps:
        shown = step.to_dict()
        shown.pop("logs", None)
        shown["colour"] = COLOURS.get(step.status, "#9e9e9e")
        steps.append(shown)
    return render(
        request,
        "ops_run.html",
        run=run.to_dict(steps=False),
        steps=steps,
        dag=figure_json(figure),
        editor=can_edit(request),
    )


@router.get("/pipelines/{name}", dependencies=[VIEWER])
def pipeline_page(request: Request, name: str) -> HTMLResponse:
    latest = pipelines.get_pipeline(name)
    runs = [r.to_dict(steps=False) for r in pipelines.list_runs(latest.name, limit=RUNS)]
    schedules = []
    for schedule in pipelines.list_schedules(latest.name):
        firings = pipelines.list_firings(schedule.id, limit=100_000)
        schedules.append({**schedule.to_dict(), "fired": len(firings), "last": _last(firings)})
    return render(
        request,
        "ops_pipeline.html",
        pipeline=latest.to_dict(),
        versions=[v.to_dict() for v in pipelines.versions(latest.name)],
        runs=runs,
        chart=iso_times(runs[::-1]),
        schedules=schedules,
        editor=can_edit(request),
    )


def _last(firings: list[dict[str, Any]]) -> dict[str, Any] | None:
    return firings[-1] if firings else None
