"""The web UI's model pages: the registry, a model's versions and history (with promote,
roll back and alias buttons for editors), one version (metrics, signature, exports,
lineage back to its run and datasets), and an AutoML search's leaderboard.

Rendered on the server from the registry's public functions; the editors' buttons call the
models API (``/api/models/...``) with ``shipyard.post`` after a confirmation.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from shipyard import data as datasets
from shipyard import models, tracking
from shipyard.errors import NotFound, ShipyardError
from shipyard.server._access import VIEWER, caller_of
from shipyard.server._ui import pages, render
from shipyard.server._ui_catalog import Node, fmt, human_size, lineage_svg, problem_page
from shipyard.server._ui_catalog_charts import compare_chart, history_chart, metrics_chart
from shipyard.server._ui_governance import governance_section

__all__ = ["router"]

router = pages()
SHOWN_METRICS = 4  # metric columns in a model's versions table
_BACK = ("/models", "all models")


def _editor(request: Request) -> bool:
    """Whether the caller may change the registry (the buttons are shown only then)."""
    return caller_of(request).role in ("editor", "admin")


@router.get("/models", dependencies=[VIEWER])
def model_list(request: Request) -> HTMLResponse:
    """Every registered model: versions, latest, production version, aliases."""
    rows = []
    for found in models.list_models():
        production = None
        if found.production is not None:
            with contextlib.suppress(NotFound):
                production = models.get(f"{found.name}@{found.production}")
        rows.append({"model": found, "production": production})
    return render(request, "models_list.html", rows=rows, fmt=fmt)


@router.get("/models/{name}", dependencies=[VIEWER])
def model_page(name: str, request: Request) -> HTMLResponse:
    """A model's versions with metrics, stage history, aliases and the editors' buttons."""
    try:
        versions = models.versions(name)
        if not versions:
            raise NotFound(f"Model {name!r} has no versions.")
        events = models.history(name)
    except ShipyardError as error:
        return problem_page(request, error, _BACK)
    keys = [k for k, _ in Counter(k for v in versions for k in v.metrics).most_common()]
    keys = keys[:SHOWN_METRICS]
    production = next((v for v in versions if v.stage == "production"), None)
    aliases = sorted((a, v.version) for v in versions for a in v.aliases)
    promoted = {e.version for e in events if e.kind in ("stage", "rollback")}
    promoted &= {e.version for e in events if e.after == "production"}
    return render(
        request,
        "models_model.html",
        model=name,
        versions=versions,
        keys=keys,
        production=production,
        aliases=aliases,
        events=events,
        can_roll_back=production is not None and len(promoted) > 1,
        metrics=metrics_chart(versions, keys),
        history=history_chart(versions, events, time.time()),
        editor=_editor(request),
        fmt=fmt,
        size=human_size,
    )


@router.get("/models/{name}/{version}", dependencies=[VIEWER])
def version_page(name: str, version: str, request: Request) -> HTMLResponse:
    """One version: metrics, signature, flavor, exports, history and lineage."""
    try:
        found = models.get(f"{name}@{version}")
        events = [e for e in models.history(name) if e.version == found.version]
    except ShipyardError as error:
        return problem_page(request, error, (f"/models/{name}", name))
    run = None
    if found.run_id:
        with contextlib.suppress(ShipyardError):
            run = tracking.get_run(found.run_id)
    search = _search_of(run)
    production = None
    with contextlib.suppress(ShipyardError):
        production = models.get(f"{name}@production")
    return render(
        request,
        "models_version.html",
        v=found,
        run=run,
        search=search,
        events=events,
        outputs=found.signature.outputs() if found.signature else [],
        production=production,
        compare=compare_chart(found, production) if production else None,
        lineage=_lineage(found, run, search),
        governance=governance_section(found.ref),
        editor=_editor(request),
        fmt=fmt,
        size=human_size,
    )


def _search_of(run: Any) -> str | None:
    """The id of the AutoML search behind a run: the run itself when it holds a
    leaderboard, else its parent's (a trial's)."""
    if run is None:
        return None
    if any(a.path == "leaderboard.parquet" for a in run.artifacts):
        return str(run.info.id)
    parent = run.info.parent_id
    if parent:
        with contextlib.suppress(ShipyardError):
            found = tracking.get_run(parent)
            if any(a.path == "leaderboard.parquet" for a in found.artifacts):
                return str(found.info.id)
    return None


def _lineage(version: Any, run: Any, search: str | None) -> Any:
    """Dataset versions -> run (-> its search) -> this model version, as an SVG graph."""
    inputs = list(version.datasets)
    if run is not None:
        with contextlib.suppress(ShipyardError):
            inputs += [d.ref for d in datasets.run_inputs(run.info.id) if d.ref not in inputs]
    nodes = [
        Node(f"d:{ref}", ref, "dataset", f"/datasets/{ref.split('@')[0]}/{ref.split('@')[1]}")
        for ref in inputs
    ]
    runs: list[Node] = []
    if run is not None:
        label = run.info.name or run.info.id[:12]
        runs.append(Node("r:run", label, "run", f"/runs/{run.info.id}", run.info.id[:8]))
    focus = Node("m:focus", version.ref, "model", None, version.stage, True)
    target = runs[0].key if runs else focus.key
    edges = [(n.key, target) for n in nodes] + ([(runs[0].key, focus.key)] if runs else [])
    if not (nodes or runs):
        return None
    note = "search" if search and run is not None and search == run.info.id else ""
    columns = [("datasets", nodes), ("trained by" + (f" ({note})" if note else ""), runs)]
    return lineage_svg([*columns, ("this version", [focus])], edges)


@router.get("/runs/{run_id}/automl", dependencies=[VIEWER])
def automl_page(run_id: str, request: Request) -> HTMLResponse:
    """An AutoML search's leaderboard: the chart of its static report (the same figure) and
    the table, with links to every trial's run."""
    from shipyard.automl._report import leaderboard_figure

    try:
        run = tracking.get_run(run_id)
        board = tracking.load_artifact(run.info.id, "leaderboard.parquet")
    except ShipyardError as error:
        return problem_page(request, error, (f"/runs/{run_id}", "the run"))
    metric = str(run.params.get("metric") or _metric_of(board))
    figure = _plain(leaderboard_figure(board, metric))
    figure["layout"].pop("template", None)  # the UI's own style
    figure["layout"]["legend"] = {"orientation": "h", "y": -0.22}
    figure["layout"]["margin"] = {"t": 40, "b": 90, "l": 60, "r": 20}
    rows = [
        # an ensemble's row has no run of its own: its run_id is missing (NaN)
        {**row, "score": row.get(metric), "run_id": _text(row.get("run_id"))}
        for row in board.to_dict("records")
    ]
    trained = [
        v for m in models.list_models() for v in models.versions(m.name) if v.run_id == run.info.id
    ]
    return render(
        request,
        "models_automl.html",
        run=run,
        metric=metric,
        rows=rows,
        figure=figure,
        trained=trained,
        fmt=fmt,
    )


def _text(value: Any) -> str | None:
    """A leaderboard cell that should be text (a run id); None when it is missing."""
    return value if isinstance(value, str) and value else None


def _metric_of(board: Any) -> str:
    """The score column of a leaderboard stored without the search's params."""
    known = ("trial", "family", "state", "started", "seconds", "run_id", "params")
    return next((str(c) for c in board.columns if c not in known), "score")


def _plain(figure: Any) -> dict[str, Any]:
    """A plotly figure as plain JSON data (numpy arrays as lists, NaN as null)."""
    import json

    import plotly.io as pio

    loaded: dict[str, Any] = json.loads(pio.to_json(figure, validate=False))
    return loaded
