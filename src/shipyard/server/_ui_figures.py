"""Charts for the web UI's pages, as plotly figures (plain dicts) built on the server.

A page embeds each figure as JSON (``{{ figure|tojson }}``) beside an element
``data-figure="<id>"``; ``static/ui.js`` draws them when the page loads, so a chart needs
no round trip. Long series arrive here already cut by
:func:`~shipyard.tracking.downsample` (each bucket's extremes), so a 100,000-point metric
costs the browser a thousand points. Values that JSON cannot carry (NaN, infinities)
become ``null``: plotly leaves a gap there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from shipyard.tracking import Point, downsample

__all__ = ["CHART_POINTS", "COLORS", "bars", "finite", "lines", "parallel", "preview", "series"]

#: most points of one series a chart receives
CHART_POINTS = 1000
#: the colours of series in order, as ``static/ui.js`` and ``ui.css``'s swatches have them
COLORS = (
    "#2456d3", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
    "#06b6d4", "#ec4899", "#84cc16", "#64748b", "#f97316",
)  # fmt: skip


#: a colour scale every value of which reads on white (Viridis ends in a pale yellow)
SCALE = [[0.0, "#1e3a8a"], [0.5, "#0ea5e9"], [1.0, "#dc2626"]]


def finite(values: Sequence[float] | np.ndarray) -> list[float | None]:
    """Numbers JSON can carry: NaN and infinities become None."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def series(points: Sequence[Point], max_points: int = CHART_POINTS) -> dict[str, Any]:
    """A metric's history as chart data: steps and values of at most ``max_points`` points
    (downsampled keeping spikes), with how many there were."""
    values = np.fromiter((p.value for p in points), dtype=float, count=len(points))
    steps = np.fromiter((p.step for p in points), dtype=float, count=len(points))
    keep = downsample(values, max_points) if len(points) > max_points else slice(None)
    return {
        "x": finite(steps[keep]),
        "y": finite(values[keep]),
        "points": len(points),
    }


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    if not title:
        return extra
    return {"title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}, **extra}


def lines(
    title: str, traces: Mapping[str, Mapping[str, Any]], x_title: str = "step", y_title: str = ""
) -> dict[str, Any]:
    """A line chart with one trace per named series (``{"x", "y"}``); ``y_title``: what
    the values are (a metric's key)."""
    data = [
        {
            "type": "scatter",
            "mode": "lines" if len(s["x"]) > 1 else "markers",
            "name": name,
            "x": s["x"],
            "y": s["y"],
            **(
                {"line": {"color": s["color"]}, "marker": {"color": s["color"]}}
                if "color" in s
                else {}
            ),
        }
        for name, s in traces.items()
    ]
    return {
        "data": data,
        "layout": _layout(
            title,
            xaxis={"title": {"text": x_title}},
            yaxis={"title": {"text": y_title}},
            showlegend=False,  # pages name the series beside the chart, in the same colours
        ),
    }


def bars(
    title: str,
    values: Mapping[str, float | None],
    colors: Sequence[str] = COLORS,
    x_title: str = "",
) -> dict[str, Any]:
    """A horizontal bar per named value (runs' final values of a metric logged once),
    the first on top; ``x_title``: what the values are."""
    names = list(values)
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": names,
                "x": finite(
                    [math.nan if values[n] is None else float(values[n] or 0) for n in names]
                ),
                "marker": {"color": [colors[i % len(colors)] for i in range(len(names))]},
                "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            showlegend=False,
            hovermode="closest",
            xaxis={"title": {"text": x_title}},
            yaxis={"autorange": "reversed", "automargin": True, "title": {"text": "run"}},
            margin={"l": 10, "r": 16, "t": 14, "b": 30},
        ),
    }


def parallel(
    params: Mapping[str, Sequence[str | None]], metric: str, scores: Sequence[float]
) -> dict[str, Any]:
    """Parallel coordinates: an axis per param (numbers on a scale, text as categories)
    and the metric last; each line a run, coloured by the metric."""
    dimensions = [_axis(name, values) for name, values in params.items()]
    dimensions.append({"label": metric, "values": finite(scores)})
    return {
        "data": [
            {
                "type": "parcoords",
                "line": {
                    "color": finite(scores),
                    "colorscale": SCALE,
                    "showscale": True,
                    "colorbar": {"title": {"text": metric}},
                },
                "dimensions": dimensions,
            }
        ],
        "layout": _layout("", margin={"l": 70, "r": 70, "t": 50, "b": 30}, hovermode=False),
    }


def _axis(name: str, values: Sequence[str | None]) -> dict[str, Any]:
    """One axis of parallel coordinates: numeric when every present value is a number,
    else categories (missing values are a category of their own)."""
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        return {"label": name, "values": numbers}
    labels = sorted({"(none)" if v is None else str(v) for v in values})
    codes = {label: i for i, label in enumerate(labels)}
    return {
        "label": name,
        "values": [codes["(none)" if v is None else str(v)] for v in values],
        "tickvals": list(range(len(labels))),
        "ticktext": [label[:18] for label in labels],
        "range": [-0.5, len(labels) - 0.5] if len(labels) == 1 else [0, len(labels) - 1],
    }


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def preview(figure: Mapping[str, Any], width: int = 1000, height: int = 200) -> Markup:
    """A line chart's curves as an SVG drawn with the page (before plotly.js has loaded,
    and for readers without JavaScript), with their ranges in a caption; empty for other
    charts. ``ui.js`` replaces it with the interactive chart."""
    traces = [t for t in figure.get("data", ()) if t.get("type", "scatter") == "scatter"]
    pairs = [
        (x, y)
        for t in traces
        for x, y in zip(t.get("x") or (), t.get("y") or (), strict=False)
        if None not in (x, y)
    ]
    if len(pairs) < 2 or not all(_plain(x) and _plain(y) for x, y in pairs):
        return Markup("")  # dates, categories...: plotly alone draws those
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = width / ((x1 - x0) or 1)
    sy = height / ((y1 - y0) or 1)
    paths = []
    for i, trace in enumerate(traces):
        color = escape(trace.get("line", {}).get("color", COLORS[i % len(COLORS)]))
        moves, pen = [], "M"
        for x, y in zip(trace.get("x") or (), trace.get("y") or (), strict=False):
            if x is None or y is None:
                pen = "M"
                continue
            moves.append(f"{pen}{(x - x0) * sx:.1f},{height - (y - y0) * sy:.1f}")
            pen = "L"
        paths.append(
            f'<path d="{"".join(moves)}" stroke="{color}" fill="none" stroke-width="1.5" '
            'vector-effect="non-scaling-stroke"/>'
        )
    title = (figure.get("layout") or {}).get("xaxis", {}).get("title")
    axis = (title.get("text") if isinstance(title, dict) else title) or "x"
    return Markup(
        f'<svg class="preview" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'aria-hidden="true">{"".join(paths)}</svg><div class="preview-axis">{escape(axis)} '
        f"{x0:,.6g} to {x1:,.6g} · values {y0:.4g} to {y1:.4g}</div>"
    )


def _plain(value: Any) -> bool:
    """A finite number (not a bool, date or text)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
