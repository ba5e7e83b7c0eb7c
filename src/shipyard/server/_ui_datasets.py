"""The web UI's dataset pages: the list, a dataset's versions, one version (schema, profile
charts, validation, rows, lineage), the diff of two versions, and the profile report.

Everything is rendered on the server from the datasets SDK's public functions (the ones the
CLI and the REST API call); charts are plotly specs embedded in the page (``|tojson``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from shipyard import data as datasets
from shipyard import models, tracking
from shipyard.data._preview import read_rows
from shipyard.data._report import profile_body
from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.server._access import VIEWER
from shipyard.server._ui import pages, render, standalone
from shipyard.server._ui_catalog import Node, fmt, human_size, lineage_svg, problem_page, rows_of
from shipyard.server._ui_catalog_charts import (
    column_chart,
    diff_chart,
    missing_chart,
    versions_chart,
)

__all__ = ["router"]

router = pages()
PREVIEW_ROWS = 20
_BACK = ("/datasets", "all datasets")


@router.get("/datasets", dependencies=[VIEWER])
def dataset_list(request: Request) -> HTMLResponse:
    """Every dataset: versions, the latest, the default, how many are flagged."""
    rows = []
    for found in datasets.list_datasets():
        versions = datasets.versions(found.name)
        default = None
        with contextlib.suppress(NotFound):
            default = datasets.resolve(found.name).version
        rows.append(
            {
                "dataset": found,
                "latest": versions[0] if versions else None,
                "default": default,
                "flagged": sum(v.flagged for v in versions),
                "warnings": sum(v.checks == "warnings" for v in versions),
                "aliases": sorted(a for v in versions for a in v.aliases),
            }
        )
    return render(request, "datasets_list.html", rows=rows, fmt=fmt, size=human_size)


@router.get("/datasets/{name}", dependencies=[VIEWER])
def dataset_page(name: str, request: Request) -> HTMLResponse:
    """A dataset's versions (checks, aliases, tags), current schema and rows per version."""
    try:
        versions = datasets.versions(name)
        if not versions:
            raise NotFound(f"Dataset {name!r} has no versions.")
        found = next(d for d in datasets.list_datasets() if d.name == name)
        schema = None
        with contextlib.suppress(ShipyardError):
            schema = datasets.schema(name)
        default = None
        with contextlib.suppress(NotFound):
            default = datasets.resolve(name).version
    except (ShipyardError, StopIteration) as error:
        missing = error if isinstance(error, ShipyardError) else NotFound(f"No dataset {name!r}.")
        return problem_page(request, missing, _BACK)
    return render(
        request,
        "datasets_dataset.html",
        dataset=found,
        versions=versions,
        default=default,
        schema=schema,
        rows_chart=versions_chart(versions),
        fmt=fmt,
        size=human_size,
    )


@router.get("/datasets/{name}/diff", dependencies=[VIEWER])
def dataset_diff(
    name: str, request: Request, a: str | None = None, b: str | None = None
) -> HTMLResponse:
    """What changed between versions ``a`` and ``b`` (default: the two newest): schema, rows,
    the statistics that moved, and each column's distribution in both."""
    try:
        versions = datasets.versions(name)
        if not versions:
            raise NotFound(f"Dataset {name!r} has no versions.")
        b = b or str(versions[0].version)
        a = a or str(versions[min(1, len(versions) - 1)].version)
        found = datasets.diff(f"{name}@{a}", f"{name}@{b}")
        pa_, pb = datasets.profile(found.a), datasets.profile(found.b)
    except ShipyardError as error:
        return problem_page(request, error, (f"/datasets/{name}", name))
    moved = list(dict.fromkeys(found.stats["column"]))
    columns_b = {c.name: c for c in pb.columns}
    charts = []
    for column in sorted(pa_.columns, key=lambda c: c.name not in moved):
        other = columns_b.get(column.name)
        chart = diff_chart(column, other, (found.a, found.b)) if other else None
        if chart is not None:
            charts.append({"name": column.name, "moved": column.name in moved, "chart": chart})
    stats = found.stats.to_dict("records")
    return render(
        request,
        "datasets_diff.html",
        dataset=name,
        diff=found,
        versions=versions,
        a=found.a.split("@")[1],
        b=found.b.split("@")[1],
        stats=stats,
        charts=charts,
        fmt=fmt,
    )


@router.get("/datasets/{name}/{version}", dependencies=[VIEWER])
def version_page(name: str, version: str, request: Request) -> HTMLResponse:
    """One version: summary, schema, profile charts, validation report, first rows and
    lineage."""
    try:
        found = datasets.resolve(f"{name}@{version}")
        profile = found.profile()
        schema = found.schema()
    except ShipyardError as error:
        return problem_page(request, error, (f"/datasets/{name}", name))
    try:  # bounded as the API's rows are: a few bytes may decode to gigabytes of text
        columns, rows = rows_of(read_rows(found.path(), 0, PREVIEW_ROWS))
        too_big = None
    except InvalidInput as error:
        columns, rows, too_big = [], [], str(error)
    charts = [{"column": c, "chart": column_chart(c)} for c in profile.columns]
    return render(
        request,
        "datasets_version.html",
        v=found,
        profile=profile,
        schema=schema,
        failures=(found.validation or {}).get("failures") or [],
        warning=found.check_warning(),
        charts=charts,
        missing=missing_chart(profile),
        preview=(columns, rows),
        preview_refused=too_big,
        lineage=_lineage(found),
        fmt=fmt,
        size=human_size,
    )


@router.get("/datasets/{name}/{version}/profile", dependencies=[VIEWER])
def profile_page(name: str, version: str, request: Request) -> HTMLResponse:
    """The profile report (the same sections and charts as the static file) in the UI."""
    try:
        found = datasets.resolve(f"{name}@{version}")
        body = profile_body(found.profile())
    except ShipyardError as error:
        return problem_page(request, error, (f"/datasets/{name}", name))
    # profile_body escapes every name and value (data/_report.py)
    return render(request, "datasets_profile.html", v=found, body=Markup(body))


@router.get("/datasets/{name}/{version}/profile.html", dependencies=[VIEWER])
def profile_file(name: str, version: str, request: Request) -> HTMLResponse:
    """The profile report as the standalone file ``shipyard data profile --html`` writes
    (self-contained: it opens offline)."""
    try:
        found = datasets.resolve(f"{name}@{version}")
        page = datasets.profile_html(found.profile(), title=f"Profile of {found.ref}")
    except ShipyardError as error:
        return problem_page(request, error, (f"/datasets/{name}", name))
    disposition = f'inline; filename="{found.name}-v{found.version}-profile.html"'
    return HTMLResponse(standalone(page), headers={"Content-Disposition": disposition})


def _lineage(version: Any) -> dict[str, Any]:
    """The lineage graph of a version (SVG) and its parts as lists for the tables."""
    graph = datasets.lineage(version.ref)
    readers = graph.readers.get(version.ref, [])
    trained = models.trained_on(version.ref)
    focus = Node(f"d:{version.ref}", version.ref, "dataset", None, f"{version.rows:,} rows", True)
    upstream = _levels(graph.upstream, version.ref, up=True)
    downstream = _levels(graph.downstream, version.ref, up=False)
    runs = [
        Node(f"r:{r['id']}", r.get("name") or r["id"][:12], "run", f"/runs/{r['id']}", r["id"][:8])
        for r in readers
    ]
    reader_ids = {r["id"] for r in readers}
    model_nodes = [
        Node(f"m:{m.ref}", m.ref, "model", f"/models/{m.name}/{m.version}", m.stage)
        for m in trained
    ]
    edges = [(f"d:{e.parent}", f"d:{e.child}") for e in (*graph.upstream, *graph.downstream)]
    edges += [(focus.key, r.key) for r in runs]
    edges += [(_trainer(m.run_id, reader_ids) or focus.key, f"m:{m.ref}") for m in trained]
    columns = [("made from", nodes) for nodes in reversed(upstream)]
    columns += [("this version", [focus])]
    columns += [("used by", [*(downstream[0] if downstream else []), *runs])]
    columns += [("models trained on it", model_nodes)]
    columns += [("made from those", nodes) for nodes in downstream[1:]]
    empty = not (graph.upstream or graph.downstream or readers or trained)
    return {
        "svg": None if empty else lineage_svg(columns, edges),
        "runs": readers,
        "models": trained,
        "upstream": graph.upstream,
        "downstream": graph.downstream,
        "produced_by": graph.produced_by,
    }


def _trainer(run_id: str | None, readers: set[str]) -> str | None:
    """The node of the reader run a model was trained by: its own run, or that run's parent
    (a search whose trials trained the models)."""
    if run_id is None:
        return None
    if run_id not in readers:
        with contextlib.suppress(ShipyardError):
            run_id = tracking.get_run(run_id).info.parent_id
    return f"r:{run_id}" if run_id in readers else None


def _levels(edges: Any, focus: str, *, up: bool) -> list[list[Node]]:
    """Dataset versions by their distance from the focus (nearest first)."""
    levels: list[list[Node]] = []
    seen, frontier = {focus}, {focus}
    while frontier:
        near = {(e.parent, e.child) if up else (e.child, e.parent) for e in edges}
        nxt = {other for other, this in near if this in frontier} - seen
        if not nxt:
            break
        seen |= nxt
        levels.append([_dataset_node(ref) for ref in sorted(nxt)])
        frontier = nxt
    return levels


def _dataset_node(ref: str) -> Node:
    name, _, number = ref.partition("@")
    return Node(f"d:{ref}", ref, "dataset", f"/datasets/{name}/{number}")
