"""The governance charts of the model pages, as plotly specs built from recorded evidence:
the mean |SHAP| of each feature, a beeswarm of the explained sample (each row's contribution
per feature, coloured by the feature's value), the fairness metrics of each group with their
confidence intervals, and an evaluation's metrics with theirs.

Only what the evidence holds goes into a page: at most the explanation's stored sample (200
rows) times :data:`SWARM_FEATURES` features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SWARM_FEATURES", "evaluation_chart", "fairness_chart", "shap_bars", "shap_swarm"]

Chart = dict[str, Any]
_FEATURE: dict[str, Any] = {"title": {"text": "feature"}}
BLUE, GREY = "#1f6feb", "#8c959f"
SWARM_FEATURES = 10
#: low to high values of a feature in the beeswarm (blue to red, readable on white)
VALUE_SCALE = [[0.0, "#1e3a8a"], [0.5, "#a3a3a3"], [1.0, "#dc2626"]]
_METRIC_COLORS = ("#2456d3", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")


def _ranked(explanation: Mapping[str, Any]) -> list[tuple[str, float]]:
    shap = explanation.get("mean_abs_shap") or {}
    found = [(str(k), float(v)) for k, v in shap.items() if _finite(v)]
    return sorted(found, key=lambda item: -abs(item[1]))


def _finite(value: Any) -> bool:
    return _number(value) is not None


def _number(value: Any) -> float | None:
    """A finite number as a float, else None (text, booleans, NaN, infinities)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        found = float(value)
        return found if math.isfinite(found) else None
    return None


def shap_bars(explanation: Mapping[str, Any], top: int = 15) -> Chart | None:
    """A bar per feature (the largest on top): its mean |SHAP value|."""
    ranked = _ranked(explanation)[:top]
    if not ranked:
        return None
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [name for name, _ in ranked],
        "x": [value for _, value in ranked],
        "marker": {"color": BLUE},
        "hovertemplate": "%{y}: mean |SHAP| %{x:.4g}<extra></extra>",
    }
    layout = {
        "height": 90 + 24 * len(ranked),
        "margin": {"l": 10, "r": 16, "t": 10, "b": 40},
        "hovermode": "closest",
        "xaxis": {"title": {"text": f"mean |SHAP| ({explanation.get('output') or 'output'})"}},
        "yaxis": {"autorange": "reversed", "automargin": True, "type": "category", **_FEATURE},
    }
    return {"data": [trace], "layout": layout}


def shap_swarm(explanation: Mapping[str, Any]) -> Chart | None:
    """A beeswarm of the stored sample: a row of points per feature (the
    :data:`SWARM_FEATURES` most important, largest on top), one point per explained row
    at its contribution, spread vertically to show density and coloured from the
    feature's lowest (blue) to highest (red) value; grey for non-numeric values."""
    sample = explanation.get("sample") or {}
    shap, values = sample.get("shap") or [], sample.get("values") or []
    features = [str(f) for f in explanation.get("features") or []]
    if not shap or not features:
        return None
    index = {f: i for i, f in enumerate(features)}
    order = [f for f, _ in _ranked(explanation) if f in index][:SWARM_FEATURES]
    xs: list[float] = []
    ys: list[float] = []
    colors: list[float] = []
    texts: list[str] = []
    for row, feature in enumerate(order):
        column = index[feature]
        contributions = [_number(r[column]) if column < len(r) else None for r in shap]
        raw = [r[column] if column < len(r) else None for r in values] if values else []
        shades = _shades(raw, len(contributions))
        spread = _spread([0.0 if c is None else c for c in contributions])
        for i, contribution in enumerate(contributions):
            if contribution is None:
                continue
            xs.append(contribution)
            ys.append(row + spread[i])
            colors.append(shades[i])
            texts.append(f"{feature} = {raw[i] if i < len(raw) else '?'}")
    if not xs:
        return None
    trace = {
        "type": "scatter",
        "mode": "markers",
        "x": xs,
        "y": ys,
        "text": texts,
        "marker": {
            "size": 6,
            "opacity": 0.8,
            "color": colors,
            "colorscale": VALUE_SCALE,
            "cmin": 0,
            "cmax": 1,
            "showscale": True,
            "colorbar": {
                "title": {"text": "value"},
                "tickvals": [0, 1],
                "ticktext": ["low", "high"],
                "thickness": 10,
            },
        },
        "hovertemplate": "%{text}<br>SHAP %{x:.4g}<extra></extra>",
    }
    layout = {
        "height": 90 + 34 * len(order),
        "margin": {"l": 10, "r": 16, "t": 10, "b": 40},
        "hovermode": "closest",
        "xaxis": {"title": {"text": "SHAP value (contribution to the output)"}, "zeroline": True},
        "yaxis": {
            "tickvals": list(range(len(order))),
            "ticktext": order,
            "autorange": "reversed",
            "automargin": True,
            "zeroline": False,
            **_FEATURE,
        },
    }
    return {"data": [trace], "layout": layout}


def _shades(raw: Sequence[Any], count: int) -> list[float]:
    """Each value's place between the column's lowest (0) and highest (1) number; 0.5 for
    values that are not numbers (categories) and when every number is the same."""
    numbers = [_number(v) for v in raw]
    present = [v for v in numbers if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    shades = [0.5 if v is None or high == low else (v - low) / (high - low) for v in numbers]
    return shades + [0.5] * (count - len(shades))


def _spread(values: Sequence[float], bins: int = 40, width: float = 0.38) -> list[float]:
    """Vertical offsets that spread points with close values (a beeswarm): points in the
    same bin alternate above and below the row's line, further out the more there are."""
    if not values:
        return []
    low, high = min(values), max(values)
    size = (high - low) / bins or 1.0
    seen: dict[int, int] = {}
    offsets = []
    for value in values:
        slot = int((value - low) / size)
        n = seen.get(slot, 0)
        seen[slot] = n + 1
        offsets.append(((n + 1) // 2) * (1 if n % 2 else -1) * 0.04)
    top = max((abs(o) for o in offsets), default=0.0)
    scale = width / top if top > width else 1.0
    return [o * scale for o in offsets]


def group_label(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def _with_ci(metric: Mapping[str, Any]) -> tuple[float | None, float, float]:
    value = _number(metric.get("value"))
    low, high = _number(metric.get("low")), _number(metric.get("high"))
    if value is None:
        return None, 0.0, 0.0
    up = high - value if high is not None else 0.0
    down = value - low if low is not None else 0.0
    return value, max(up, 0.0), max(down, 0.0)


def fairness_chart(report: Mapping[str, Any]) -> Chart | None:
    """Grouped bars: each fairness metric (selection rate, TPR, FPR, accuracy or error) of
    each group, with its confidence interval as error bars; small groups marked."""
    groups = report.get("groups") or []
    names = [g for g in ("selection_rate", "true_positive_rate", "false_positive_rate",
                         "accuracy", "error")
             if any(g in (x.get("metrics") or {}) for x in groups)]  # fmt: skip
    if not groups or not names:
        return None
    labels = [
        group_label(g.get("group") or {}) + (" (small)" if g.get("small") else "") for g in groups
    ]
    traces = []
    for i, name in enumerate(names):
        found = [_with_ci((g.get("metrics") or {}).get(name) or {}) for g in groups]
        traces.append(
            {
                "type": "bar",
                "name": name.replace("_", " "),
                "x": labels,
                "y": [v for v, _, _ in found],
                "error_y": {
                    "type": "data",
                    "array": [u for _, u, _ in found],
                    "arrayminus": [d for _, _, d in found],
                    "visible": True,
                    "color": "#57606a",
                },
                "marker": {"color": _METRIC_COLORS[i % len(_METRIC_COLORS)]},
                "hovertemplate": "%{x}: %{y:.3g}<extra>" + name.replace("_", " ") + "</extra>",
            }
        )
    layout = {
        "height": 300,
        "barmode": "group",
        "margin": {"l": 56, "r": 12, "t": 30, "b": 60},
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        "yaxis": {"rangemode": "tozero", "title": {"text": "metric value"}},
        "xaxis": {"type": "category", "title": {"text": "group"}},
    }
    return {"data": traces, "layout": layout}


def evaluation_chart(metrics: Sequence[Mapping[str, Any]]) -> Chart | None:
    """The evaluation's metrics (rows of the card's metrics section) as dots with their
    confidence intervals."""
    shown = [m for m in metrics if m.get("source") == "evaluation" and _finite(m.get("value"))]
    if not shown:
        return None
    found = [_with_ci(m) for m in shown]
    trace = {
        "type": "scatter",
        "mode": "markers",
        "y": [m["name"] for m in shown],
        "x": [v for v, _, _ in found],
        "error_x": {
            "type": "data",
            "array": [u for _, u, _ in found],
            "arrayminus": [d for _, _, d in found],
            "visible": True,
        },
        "marker": {"color": BLUE, "size": 9},
        "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
    }
    layout = {
        "height": 80 + 30 * len(shown),
        "margin": {"l": 10, "r": 16, "t": 10, "b": 36},
        "hovermode": "closest",
        "xaxis": {"title": {"text": "value (95% interval)"}},
        "yaxis": {
            "type": "category",
            "automargin": True,
            "autorange": "reversed",
            "title": {"text": "metric"},
        },
    }
    return {"data": [trace], "layout": layout}
