"""A drift report as a static HTML page: the verdict, a table, and per-feature charts.

Each judged feature gets the reference's and the current window's shares per bin (numeric:
the reference's deciles; categorical: the most common categories) side by side, drifted
features first. The page loads ``plotly.min.js`` written beside it, so it opens offline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from shipyard._html import figure_html, write_page
from shipyard.monitoring._statistics import label

__all__ = ["distribution_figure", "feature_figure", "write_html"]


def feature_figure(feature: Any) -> Any:
    """Reference vs current shares of one feature (a ``FeatureDrift``), as a plotly bar chart."""
    return distribution_figure(
        feature.feature, feature.distribution, feature.drifted, feature.method, feature.statistic
    )


def distribution_figure(
    name: str,
    shown: dict[str, Any],
    drifted: bool,
    method: str | None = None,
    statistic: float | None = None,
) -> Any:
    """Bars of the reference's and the current window's shares per bin (or category)."""
    import plotly.graph_objects as go

    figure = go.Figure(
        [
            go.Bar(name="reference", x=shown.get("bins", []), y=shown.get("reference", [])),
            go.Bar(name="current", x=shown.get("bins", []), y=shown.get("current", [])),
        ]
    )
    verdict = "drifted" if drifted else "no drift"
    detail = "" if statistic is None else f", {label(method)} {statistic:.3g}"
    figure.update_layout(
        title=f"{name}: {verdict}{detail}",
        barmode="group",
        height=320,
        template="plotly_white",
        yaxis_title="share of rows",
        margin={"t": 50, "b": 60},
    )
    return figure


def write_html(report: Any, path: str | Path, title: str = "Data drift") -> Path:
    """Write the report (a ``DriftReport``) to ``path`` (atomically) and return it. Typed
    loosely: ``_verdict`` imports this module to write its reports."""
    features = sorted(
        (f for f in report.features if f.distribution),
        key=lambda f: (not f.drifted, f.feature),
    )
    charts = [figure_html(feature_figure(feature)) for feature in features]
    frame = report.to_frame()
    keep = ["feature", "kind", "method", "statistic", "threshold", "drifted", "rule", "note"]
    table = frame[keep].copy()
    table["statistic"] = [_number(v) for v in table["statistic"]]
    verdict = "drifted" if report.drifted else "no dataset drift"
    judged = sum(f.method is not None for f in report.features)
    body = (
        f"<p><strong>{verdict}</strong>: {len(report.drifted_features)} of\n{judged} judged "
        f"features drifted ({report.share:.0%}{' by importance' if report.weighted else ''}; "
        f"the dataset drifts at\n{report.drift_share:.0%}).</p>\n"
        f"{table.to_html(index=False, border=0, classes='report', na_rep='')}\n" + "".join(charts)
    )
    return write_page(path, title, body, charts=True)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}"
