"""The catalog pages' charts as plotly specs (``{"data": [...], "layout": {...}}``), built
from stored profiles, versions and events; pages embed them with ``|tojson`` and
``static/catalog.js`` draws every ``[data-chart]`` element with ``shipyard.chart``.

Only summaries go into a page: histogram bins and top values (never rows), one point per
version or event.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from shipyard._time import iso

__all__ = [
    "column_chart",
    "compare_chart",
    "diff_chart",
    "history_chart",
    "metrics_chart",
    "missing_chart",
    "versions_chart",
]

Chart = dict[str, Any]
BLUE, ORANGE, GREY = "#1f6feb", "#e8710a", "#8c959f"
_TOP_SHOWN = 12  # category bars per chart
_SMALL: dict[str, Any] = {
    "height": 230,
    "margin": {"l": 48, "r": 12, "t": 10, "b": 36},
    "bargap": 0.04,
}
#: a legend above the plot, right-aligned (below it, it would cover rotated tick labels)
_LEGEND_TOP = {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"}


def _centers(hist: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Bin centres and widths of a stored histogram."""
    edges = hist["edges"]
    return (
        [(a + b) / 2 for a, b in itertools.pairwise(edges)],
        [max(b - a, 1e-12) for a, b in itertools.pairwise(edges)],
    )


def column_chart(column: Any) -> Chart | None:
    """A column of a profile: its histogram, or bars of its most frequent values (None for a
    column with neither, e.g. dates or an empty column)."""
    if column.histogram is not None:
        x, width = _centers(column.histogram)
        trace = {
            "type": "bar",
            "x": x,
            "y": column.histogram["counts"],
            "width": width,
            "marker": {"color": BLUE},
            "hovertemplate": "%{x:.4g}: %{y:,} rows<extra></extra>",
        }
        axes = {"xaxis": _title(column.name), "yaxis": _title("rows")}
        return {"data": [trace], "layout": {**_SMALL, **axes}}
    if column.top:
        top = column.top[:_TOP_SHOWN][::-1]  # most frequent on top
        trace = {
            "type": "bar",
            "orientation": "h",
            "y": [str(v) for v, _ in top],
            "x": [n for _, n in top],
            "marker": {"color": BLUE},
            "hovertemplate": "%{y}: %{x:,} rows<extra></extra>",
        }
        layout = {**_SMALL, "margin": {**_SMALL["margin"], "l": 120}}
        axes = {"xaxis": _title("rows"), "yaxis": _title(column.name)}
        return {"data": [trace], "layout": {**layout, **axes}}
    return None


def missing_chart(profile: Any) -> Chart:
    """The share of missing values of every column, in table order."""
    rows = max(profile.rows, 1)
    names = [c.name for c in profile.columns]
    shares = [c.missing / rows for c in profile.columns]
    trace = {
        "type": "bar",
        "x": names,
        "y": shares,
        "marker": {"color": [ORANGE if s > 0 else GREY for s in shares]},
        "customdata": [c.missing for c in profile.columns],
        "hovertemplate": "%{x}: %{y:.1%} missing (%{customdata:,} rows)<extra></extra>",
    }
    top = max(max(shares, default=0.0) * 1.15, 0.05)
    layout = {
        "height": 230,
        "margin": {"l": 56, "r": 12, "t": 10, "b": 90},
        "xaxis": _title("column"),
        "yaxis": {"tickformat": ".0%", "range": [0, top], "title": {"text": "missing"}},
    }
    if not any(shares):
        note = {"text": "No missing values in any column", "showarrow": False, "y": top / 2}
        layout["annotations"] = [{**note, "xref": "paper", "x": 0.5, "font": {"color": GREY}}]
    return {"data": [trace], "layout": layout}


def diff_chart(a: Any, b: Any, names: tuple[str, str]) -> Chart | None:
    """One column in two versions, as shares of their values so that sizes compare: two
    overlaid histograms, or grouped bars of the values either version has most of."""
    if a.histogram is not None and b.histogram is not None:
        traces = []
        for col, name, color in ((a, names[0], GREY), (b, names[1], BLUE)):
            x, width = _centers(col.histogram)
            total = max(sum(col.histogram["counts"]), 1)
            traces.append(
                {
                    "type": "bar",
                    "name": name,
                    "x": x,
                    "y": [n / total for n in col.histogram["counts"]],
                    "width": width,
                    "opacity": 0.6,
                    "marker": {"color": color},
                    "hovertemplate": f"{name}: " + "%{x:.4g}: %{y:.1%}<extra></extra>",
                }
            )
        shares = {"tickformat": ".0%", **_title("share of rows")}
        layout = {**_SMALL, "barmode": "overlay", "xaxis": _title(a.name), "yaxis": shares}
        return {"data": traces, "layout": _with_legend(layout)}
    if a.top and b.top:
        share_a = {str(k): n / max(a.count, 1) for k, n in a.top}
        share_b = {str(k): n / max(b.count, 1) for k, n in b.top}
        values = sorted(set(share_a) | set(share_b), key=lambda v: -share_b.get(v, 0.0))
        values = values[:_TOP_SHOWN]
        traces = [
            {
                "type": "bar",
                "name": name,
                "x": values,
                "y": [share.get(v, 0.0) for v in values],
                "marker": {"color": color},
                "hovertemplate": f"{name}: " + "%{x}: %{y:.1%}<extra></extra>",
            }
            for share, name, color in ((share_a, names[0], GREY), (share_b, names[1], BLUE))
        ]
        shares = {"tickformat": ".0%", **_title("share of rows")}
        layout = {**_SMALL, "barmode": "group", "xaxis": _title(a.name), "yaxis": shares}
        return {"data": traces, "layout": _with_legend(layout)}
    return None


def _title(text: str) -> dict[str, Any]:
    """An axis's title."""
    return {"title": {"text": text}}


def _with_legend(layout: dict[str, Any]) -> dict[str, Any]:
    margin = {**layout.get("margin", {}), "t": 30}
    return {**layout, "margin": margin, "showlegend": True, "legend": _LEGEND_TOP}


def versions_chart(versions: Sequence[Any]) -> Chart:
    """Rows of each version of a dataset, coloured by what its checks found."""
    colors = {"passed": BLUE, "accepted": BLUE, "warnings": ORANGE, "failed": "#cf222e"}
    ordered = sorted(versions, key=lambda v: v.version)
    trace = {
        "type": "bar",
        "x": [f"v{v.version}" for v in ordered],
        "y": [v.rows for v in ordered],
        "customdata": [v.checks for v in ordered],
        "marker": {"color": [colors.get(v.checks, GREY) for v in ordered]},
        "hovertemplate": "%{x}: %{y:,} rows, checks %{customdata}<extra></extra>",
    }
    layout = {"height": 240, "margin": {"l": 56, "r": 12, "t": 10, "b": 36}}
    axes = {"xaxis": _title("version"), "yaxis": _title("rows")}
    return {"data": [trace], "layout": {**layout, **axes}}


def metrics_chart(versions: Sequence[Any], keys: Sequence[str]) -> Chart | None:
    """The ``keys`` metrics of a model's versions (one line each, by version number); the
    scores between 0 and 1 (AUC, accuracy...) when there are any, so that one scale fits."""
    ordered = sorted(versions, key=lambda v: v.version)
    scores = [k for k in keys if all(0 <= v.metrics[k] <= 1 for v in ordered if k in v.metrics)]
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": key,
            "x": [f"v{v.version}" for v in ordered if key in v.metrics],
            "y": [v.metrics[key] for v in ordered if key in v.metrics],
            "hovertemplate": f"{key}: " + "%{x}: %{y:.4g}<extra></extra>",
        }
        for key in (scores or keys[:1])
    ]
    traces = [t for t in traces if t["x"]]
    if not traces:
        return None
    layout = {"height": 280, "margin": {"l": 56, "r": 12, "t": 10, "b": 40}}
    order = [f"v{v.version}" for v in ordered]
    layout["xaxis"] = {"type": "category", "categoryarray": order, **_title("version")}
    layout["yaxis"] = _title("metric value")
    return {"data": traces, "layout": _with_legend(layout)}


def compare_chart(version: Any, other: Any) -> Chart | None:
    """The metrics ``version`` shares with ``other`` (the production version), side by
    side as bars."""
    keys = sorted(k for k in version.metrics if k in other.metrics)
    if not keys or other.version == version.version:
        return None
    traces = [
        {
            "type": "bar",
            "name": f"v{v.version}" + (" (production)" if v.stage == "production" else ""),
            "x": keys,
            "y": [v.metrics[k] for k in keys],
            "marker": {"color": color},
            "hovertemplate": "%{x}: %{y:.4g}<extra></extra>",
        }
        for v, color in ((other, GREY), (version, BLUE))
    ]
    layout = {"height": 260, "margin": {"l": 56, "r": 12, "t": 10, "b": 60}, "barmode": "group"}
    layout |= {"xaxis": _title("metric"), "yaxis": _title("value")}
    return {"data": traces, "layout": _with_legend(layout)}


_STAGE_COLORS = {
    "none": "#d0d7de",
    "staging": "#d4a72c",
    "production": "#1a7f37",
    "archived": "#8c959f",
}


def history_chart(versions: Sequence[Any], events: Sequence[Any], now: float) -> Chart | None:
    """A model's stage history: one row per version, a bar per stretch of time it spent in
    each stage (none, staging, production, archived) up to ``now``, and a marker for every
    alias moved onto it."""
    moves = sorted(
        (e for e in events if e.kind in ("stage", "rollback") and e.version is not None),
        key=lambda e: e.at,
    )
    stretches: dict[str, list[tuple[str, float, float, str]]] = {s: [] for s in _STAGE_COLORS}
    for v in sorted(versions, key=lambda v: v.version):
        start, stage = v.created_at, "none"
        for e in (m for m in moves if m.version == v.version):
            stretches.setdefault(stage, []).append((f"v{v.version}", start, e.at, e.reason or ""))
            start, stage = e.at, str(e.after)
        stretches.setdefault(stage, []).append((f"v{v.version}", start, max(now, start), ""))
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "orientation": "h",
            "name": stage,
            "y": [row for row, *_ in found],
            "base": [iso(a) for _, a, _, _ in found],
            "x": [max((b - a) * 1000, 1) for _, a, b, _ in found],
            "customdata": [why for *_, why in found],
            "marker": {"color": _STAGE_COLORS.get(stage, GREY)},
            "hovertemplate": f"%{{y}} {stage} from %{{base}}<br>%{{customdata}}<extra></extra>",
        }
        for stage, found in stretches.items()
        if found
    ]
    aliases = [e for e in events if e.kind == "alias" and e.version is not None]
    if aliases:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "alias set",
                "x": [iso(e.at) for e in aliases],
                "y": [f"v{e.version}" for e in aliases],
                "customdata": [e.after or "" for e in aliases],
                "marker": {"symbol": "diamond", "size": 10, "color": ORANGE},
                "hovertemplate": "@%{customdata}<br>%{x}<extra></extra>",
            }
        )
    if not traces:
        return None
    order = [f"v{v.version}" for v in sorted(versions, key=lambda v: v.version)]
    layout = {
        "height": 80 + 34 * len(order),
        "margin": {"l": 56, "r": 12, "t": 10, "b": 40},
        "barmode": "overlay",
        "xaxis": {"type": "date", **_title("time (UTC)")},
        "yaxis": {"type": "category", "categoryarray": order, **_title("version")},
    }
    return {"data": traces, "layout": _with_legend(layout)}
