"""The leaderboard of a search as a chart and a static HTML report (plotly).

Two panels: every trial's score against the time it finished, one colour per family, with
the best score so far as a step line (pruned and stopped trials sit on the axis as crosses:
they have no full score); and each family's best score. The report adds the leaderboard table.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard._html import figure_html, write_page
from shipyard.automl._problem import LOWER_IS_BETTER

__all__ = ["leaderboard_figure", "write_report"]


def leaderboard_figure(leaderboard: pd.DataFrame, metric: str) -> Any:
    """A plotly Figure of a search's leaderboard (see the module docstring)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    board = leaderboard[leaderboard["trial"] >= 0].copy()  # the ensemble row has no time
    board["finished"] = board["started"] + board["seconds"]
    scored = board[board[metric].notna()].sort_values("finished")
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.68, 0.32],
        subplot_titles=(f"{metric} of each trial", f"best {metric} per family"),
    )
    for family, trials in scored.groupby("family", sort=True):
        figure.add_trace(
            go.Scatter(
                x=trials["finished"],
                y=trials[metric],
                mode="markers",
                name=str(family),
                legendgroup=str(family),
                text=trials["params"],
                customdata=trials["trial"],
                hovertemplate="trial %{customdata}<br>%{y:.4f} at %{x:.1f} s<br>%{text}",
            ),
            row=1,
            col=1,
        )
    if len(scored):
        lower = metric in LOWER_IS_BETTER
        best = scored[metric].cummin() if lower else scored[metric].cummax()
        figure.add_trace(
            go.Scatter(
                x=scored["finished"],
                y=best,
                mode="lines",
                line={"shape": "hv", "color": "black", "width": 1.5},
                name="best so far",
            ),
            row=1,
            col=1,
        )
        unscored = board[board[metric].isna() & board["finished"].notna()]
        if len(unscored):
            figure.add_trace(
                go.Scatter(
                    x=unscored["finished"],
                    y=[float(scored[metric].min() if not lower else scored[metric].max())]
                    * len(unscored),
                    mode="markers",
                    marker={"symbol": "x", "color": "grey", "size": 7},
                    name="pruned or stopped",
                    text=unscored["family"],
                    hovertemplate="%{text}: pruned or stopped",
                ),
                row=1,
                col=1,
            )
        _family_bars(figure, scored, metric, lower)
    figure.update_xaxes(title_text="seconds into the search", row=1, col=1)
    figure.update_yaxes(title_text=metric, row=1, col=1)
    figure.update_layout(height=440, template="plotly_white", margin={"t": 60, "b": 40})
    return figure


def _family_bars(figure: Any, scored: pd.DataFrame, metric: str, lower: bool) -> None:
    """The right panel: each family's best score, best first."""
    import plotly.graph_objects as go

    per_family = (
        scored.groupby("family")[metric].min() if lower else scored.groupby("family")[metric].max()
    ).sort_values(ascending=not lower)
    figure.add_trace(
        go.Bar(
            x=per_family.values,
            y=per_family.index,
            orientation="h",
            showlegend=False,
            marker={"color": "steelblue"},
            hovertemplate="%{y}: %{x:.4f}",
        ),
        row=1,
        col=2,
    )
    low, high = float(per_family.min()), float(per_family.max())
    pad = (high - low) * 0.5 or abs(high) * 0.01 or 0.01
    figure.update_xaxes(range=[low - pad, high + pad / 5], row=1, col=2)


def write_report(
    leaderboard: pd.DataFrame, metric: str, path: str | Path, title: str = "AutoML search"
) -> Path:
    """Write a static HTML page (it opens offline, loading ``plotly.min.js`` written beside
    it): the chart and the leaderboard table. Returns the path written."""
    figure = leaderboard_figure(leaderboard, metric)
    chart = figure_html(figure)
    shown = leaderboard.drop(columns=["run_id"], errors="ignore").copy()
    for column in (metric, "started", "seconds"):
        if column in shown:
            shown[column] = [
                "" if isinstance(v, float) and math.isnan(v) else f"{v:.4g}" for v in shown[column]
            ]
    table = shown.to_html(index=False, border=0, classes="report", escape=True)
    body = (
        f"<p>{len(leaderboard)} trials, ranked by {html.escape(metric)}.</p>\n{chart}\n"
        f"<h2>Leaderboard</h2>\n{table}"
    )
    return write_page(path, title, body, charts=True)
