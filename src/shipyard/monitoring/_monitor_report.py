"""What a monitor has seen, as data (for the API and UI) and as a static HTML page.

:func:`report_data` gathers the monitor's definition, its latest check (each detector's
verdict, evidence and the distributions behind it), every stored statistic over its recent
checks, and its alerts. :func:`write_report` lays that out: the alerts, then per detector
the statistic of each feature over time against its threshold and, for the latest window,
the reference's and the window's distributions side by side, drifted features first.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shipyard._html import figure_html, write_page
from shipyard.errors import InvalidInput
from shipyard.monitoring._alerts import list_alerts
from shipyard.monitoring._checks import checks, series
from shipyard.monitoring._detectors import DETECTOR_TABLE
from shipyard.monitoring._monitors import get
from shipyard.monitoring._report import distribution_figure

__all__ = ["report_data", "write_report"]

MOST_CHARTS = 40  # distribution charts per detector (drifted first)


def report_data(name: str, *, last: int = 50) -> dict[str, Any]:
    """The monitor, its latest ``last`` checks (newest first), its results over them
    (records: at, detector, feature, metric, value, threshold, flagged) and its alerts."""
    monitor = get(name)
    recent = checks(name, limit=last)
    frame = series(name, from_check=min((c.id for c in recent), default=None))
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {
        "monitor": asdict(monitor),
        "checks": [
            {**c.to_dict(), "charts": {k: v.get("charts", {}) for k, v in c.detectors.items()}}
            for c in recent
        ],
        "series": records,
        "alerts": [a.to_dict() for a in list_alerts(monitor=name, limit=last)],
    }


def write_report(name: str, path: str | Path, *, last: int = 50) -> Path:
    """Write the monitor's report to ``path`` (it loads ``plotly.min.js``, written beside)."""
    import pandas as pd

    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidInput(f"Cannot write the report to {target}: {target.parent} is not a folder.")
    data = report_data(name, last=last)
    monitor, recent = data["monitor"], data["checks"]
    frame = pd.DataFrame(data["series"])
    parts = [_summary(monitor, recent), _alerts_table(data["alerts"])]
    figures: list[Any] = []
    latest = recent[0] if recent else None
    if latest is None:
        parts.append("<p>No check has run yet: <code>shipyard monitors check "
                     f"{html.escape(monitor['name'])}</code>.</p>")  # fmt: skip
    else:
        for detector, found in latest["detectors"].items():
            parts.append(f"<h2>{html.escape(detector.replace('_', ' '))}</h2>")
            parts.append(f"<p>{html.escape(str(found['title']))}</p>")
            over_time = _over_time(frame, detector)
            if over_time is not None:
                parts.append(_slot(len(figures)))
                figures.append(over_time)
            charts = latest["charts"].get(detector, {})
            kind = _chart_kind(detector)
            if kind == "distributions":
                shown = sorted(charts.items(), key=lambda item: (not item[1]["drifted"], item[0]))
                for feature, chart in shown[:MOST_CHARTS]:
                    parts.append(_slot(len(figures)))
                    figures.append(
                        distribution_figure(
                            feature, chart, chart["drifted"], chart["method"], chart["statistic"]
                        )
                    )
            elif kind == "table" and charts.get(detector):
                table = pd.DataFrame(charts[detector])
                parts.append(table.to_html(index=False, border=0, classes="report", na_rep=""))
    body = "\n".join(parts)
    for i, figure in enumerate(figures):
        body = body.replace(_slot(i), figure_html(figure), 1)
    return write_page(path, f"Monitor {monitor['name']}", body, charts=True)


def _chart_kind(detector: str) -> str:
    """What the report draws of a detector (``none`` for one no longer in the table)."""
    entry = DETECTOR_TABLE.get(detector)
    return entry.charts if entry else "none"


def _slot(i: int) -> str:
    return f"<!--figure-{i}-->"


def _summary(monitor: dict[str, Any], recent: list[dict[str, Any]]) -> str:
    watched = f"{monitor['target_kind']} <strong>{html.escape(monitor['target'])}</strong>"
    lines = [
        f"<p>Watches {watched} against <code>{html.escape(monitor['reference'])}</code>; "
        f"detectors: {html.escape(', '.join(monitor['detectors']))}.</p>"
    ]
    if recent:
        latest = recent[0]
        lines.append(
            f"<p>Latest check ({_time(latest['at'])}): <strong>{latest['status']}</strong> on "
            f"{latest['rows']:,} rows against {latest['reference_rows']:,} reference rows; "
            f"{len(recent)} check(s) shown.</p>"
        )
        if latest["error"]:
            lines.append(f"<p>Error: {html.escape(latest['error'])}</p>")
    return "\n".join(lines)


def _time(epoch: float | None) -> str:
    from datetime import datetime, timezone

    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _alerts_table(alerts: list[dict[str, Any]]) -> str:
    import pandas as pd

    if not alerts:
        return "<p>No alerts.</p>"
    frame = pd.DataFrame(alerts)[
        ["id", "status", "detector", "title", "occurrences", "opened_at", "resolved_at"]
    ]
    for column in ("opened_at", "resolved_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True).dt.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
    table = str(frame.to_html(index=False, border=0, classes="report", na_rep=""))
    return "<h2>Alerts</h2>\n" + table


def _over_time(frame: Any, detector: str) -> Any:
    """Each feature's deciding statistic per check against its threshold (drift), or the
    detector's own metric (performance, multivariate)."""
    import pandas as pd
    import plotly.graph_objects as go

    if frame.empty:
        return None
    rows = frame[frame["detector"] == detector]
    if _chart_kind(detector) == "distributions":
        rows = rows[rows["threshold"].notna() & (rows["feature"] != "")]
        title = "deciding statistic per feature over time (dotted: thresholds)"
    else:
        entry = DETECTOR_TABLE.get(detector)
        rows = rows[rows["metric"].isin(entry.over_time if entry else ())]
        title = f"{', '.join(sorted(set(rows['metric'])))} over time"
    if rows.empty:
        return None
    figure = go.Figure()
    for (feature, metric), points in rows.groupby(["feature", "metric"], sort=True):
        at = pd.to_datetime(points["at"], unit="s", utc=True)
        label = f"{feature} ({metric})" if feature else str(metric)
        figure.add_trace(go.Scatter(x=at, y=points["value"], mode="lines+markers", name=label))
        if points["threshold"].notna().any():
            figure.add_trace(
                go.Scatter(
                    x=at, y=points["threshold"], mode="lines", name=f"{label} threshold",
                    line={"dash": "dot", "width": 1}, showlegend=False,
                )
            )  # fmt: skip
    figure.update_layout(title=title, height=360, template="plotly_white")
    return figure
