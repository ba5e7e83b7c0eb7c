"""A run as a static HTML page: its DAG drawn in layers by depth, each step coloured by its
state and labelled with its time, then a table of the steps (attempts, errors).

The edges come from the run's pipeline version; when the run's parameters made steps that
version's graph lacks (a wider fan-out), the graph is rebuilt from the pipeline's code with
the run's parameters. The page loads ``plotly.min.js`` written beside it: it opens offline.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard._html import figure_html, write_page
from shipyard.errors import NotFound, ShipyardError
from shipyard.pipelines._api import get_pipeline, get_run, list_runs, load_pipeline
from shipyard.pipelines._graph import build
from shipyard.pipelines._params import load_params
from shipyard.pipelines._records import PipelineRun, StepRun

__all__ = ["COLOURS", "dag_figure", "layers", "report", "resolve_run"]

#: The colour of each step state.
COLOURS = {
    "pending": "#bdbdbd",
    "running": "#1e88e5",
    "retrying": "#fb8c00",
    "succeeded": "#43a047",
    "cached": "#26a69a",
    "reused": "#80cbc4",
    "failed": "#e53935",
    "skipped": "#e0e0e0",
    "cancelled": "#8d6e63",
}
_TEXT = {"pending": "#757575", "skipped": "#757575"}  # too light for text
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_run(target: str) -> PipelineRun:
    """A run by id, or the latest run of a pipeline (``name``, or ``name@3``: of version 3).

    Raises:
        NotFound: no such run, pipeline or version, or the pipeline never ran.
    """
    if _RUN_ID.match(target):
        try:
            return get_run(target)
        except NotFound as missing:
            try:  # a pipeline may have a name like a run id
                version = get_pipeline(target)
            except ShipyardError:
                raise missing from None
    else:
        version = get_pipeline(target)  # NotFound names the pipeline
    for run in list_runs(version.name, limit=10_000):
        if "@" not in target or run.version == version.version:
            return get_run(run.id)
    raise NotFound(
        f"Pipeline {target!r} has no run yet. Try: shipyard pipelines run {version.name}"
    )


def upstream_of(run: PipelineRun) -> dict[str, list[str]]:
    """Each step's upstream steps in ``run``."""
    version = get_pipeline(f"{run.pipeline}@{run.version}")
    edges = {node["name"]: list(node.get("upstream", [])) for node in version.graph}
    names = {s.name for s in run.steps}
    if names <= set(edges):
        return {name: [u for u in edges[name] if u in names] for name in names}
    try:  # this run's parameters shaped another graph: build it again
        pipe = load_pipeline(version)
        graph = build(pipe.name, pipe.fn, pipe.bind((), load_params(run.params)))
        return {n: [u for u in node.upstream if u in names] for n, node in graph.nodes.items()}
    except Exception:  # the code is not here: draw the edges the version knows
        return {name: [u for u in edges.get(name, []) if u in names] for name in names}


def layers(order: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each step's depth: 0 for a step without upstreams, else one more than its deepest
    upstream (``order`` is topological, as a run's steps are)."""
    depth: dict[str, int] = {}
    for name in order:
        ups = [depth[u] for u in upstream.get(name, ()) if u in depth]
        depth[name] = 1 + max(ups) if ups else 0
    return depth


def _positions(order: Sequence[str], depth: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """x is the depth; the steps of one layer are spread evenly around y = 0."""
    by_layer: dict[int, list[str]] = {}
    for name in order:
        by_layer.setdefault(depth[name], []).append(name)
    places = {}
    for x, names in by_layer.items():
        for i, name in enumerate(names):
            places[name] = (float(x), (len(names) - 1) / 2 - i)
    return places


def _took(step: StepRun) -> str:
    if step.started_at is None:
        return "-"
    end = step.ended_at if step.ended_at is not None else time.time()
    return f"{end - step.started_at:.2f} s"


def _hover(step: StepRun) -> str:
    lines = [f"<b>{html.escape(step.name)}</b>", f"{step.status}, {_took(step)}"]
    lines.append(f"attempts: {step.attempts}")
    if step.source_run:
        lines.append(f"from run {step.source_run[:12]}")
    if step.error:
        lines.append(html.escape(step.error[:200]))
    return "<br>".join(lines)


def dag_figure(run: PipelineRun, upstream: Mapping[str, Sequence[str]]) -> Any:
    """The run's DAG as a plotly figure: one marker per step in its state's colour."""
    import plotly.graph_objects as go

    order = [s.name for s in run.steps]
    places = _positions(order, layers(order, upstream))
    xs: list[float | None] = []
    ys: list[float | None] = []
    for name in order:
        for up in upstream.get(name, ()):
            xs += [places[up][0], places[name][0], None]
            ys += [places[up][1], places[name][1], None]
    traces = [go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#9e9e9e"}, hoverinfo="skip")]
    traces[0].showlegend = False
    for status, colour in COLOURS.items():
        steps = [s for s in run.steps if s.status == status]
        if not steps:
            continue
        traces.append(
            go.Scatter(
                name=status,
                x=[places[s.name][0] for s in steps],
                y=[places[s.name][1] for s in steps],
                mode="markers+text",
                marker={"size": 26, "color": colour, "line": {"width": 1, "color": "#424242"}},
                text=[f"{s.name}<br>{_took(s)}" for s in steps],
                textposition="bottom center",
                hovertext=[_hover(s) for s in steps],
                hoverinfo="text",
            )
        )
    width = max(len(n) for n in order)
    lows = [y for _, y in places.values()]
    right = max(x for x, _ in places.values())
    figure = go.Figure(traces)
    figure.update_layout(
        title=f"{run.pipeline}@{run.version} run {run.id[:12]}: {run.status}",
        template="plotly_white",
        height=max(320, 90 * max(1, _widest(places))),
        width=max(640, 160 * (1 + int(right)) + 6 * width),
        # room for the labels under the lowest markers
        xaxis={"visible": False, "range": [-0.5, right + 0.5]},
        yaxis={"visible": False, "range": [min(lows) - 0.8, max(lows) + 0.4]},
        legend_title_text="state",
        margin={"t": 60, "b": 30},
    )
    return figure


def _widest(places: Mapping[str, tuple[float, float]]) -> int:
    counts: dict[float, int] = {}
    for x, _ in places.values():
        counts[x] = counts.get(x, 0) + 1
    return max(counts.values())


def _table(run: PipelineRun) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("step", "state", "attempts", "time", "error"))
    rows = [
        f"<tr><td>{html.escape(s.name)}</td>"
        f'<td style="color:{_TEXT.get(s.status, COLOURS.get(s.status, "#222"))}">'
        f"{s.status}</td>"
        f"<td>{s.attempts}</td><td>{_took(s)}</td>"
        f"<td>{html.escape(s.error or '')}</td></tr>"
        for s in run.steps
    ]
    return f'<table class="report"><tr>{head}</tr>{"".join(rows)}</table>'


def report(run: str, path: str | Path) -> Path:
    """Write a run's DAG chart to ``path`` (static HTML, written atomically; it loads
    ``plotly.min.js``, written beside it).

    Args:
        run: a run id, or a pipeline name (its latest run; ``name@3``: of version 3).
        path: where to write the page.

    Returns:
        The path written.

    Raises:
        NotFound: no such run or pipeline, or the pipeline never ran.
    """
    found = resolve_run(run)
    chart = figure_html(dag_figure(found, upstream_of(found)))
    took = "-" if found.duration is None else f"{found.duration:.2f} s"
    summary = (
        f"<p>Run <code>{found.id}</code> of <strong>{html.escape(found.pipeline)}</strong> "
        f"version {found.version}: <strong>{found.status}</strong> in {took}"
        f" ({found.executor} executor).</p>"
    )
    if found.error:
        summary += f"<p>{html.escape(found.error)}</p>"
    title = f"Pipeline {found.pipeline}: run {found.id[:12]}"
    return write_page(path, title, summary + chart + _table(found), charts=True)
