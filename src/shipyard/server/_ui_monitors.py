"""The monitors and alerts pages: every monitor; one with its drift per feature over time,
the latest check's reference and current distributions and its checks; one check as the
drift report (what ``shipyard monitors report`` writes as a file, drawn by the same chart
code); the alert timeline with acknowledge and resolve for editors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from shipyard import monitoring
from shipyard._time import iso_times
from shipyard.monitoring._detectors import DETECTOR_TABLE
from shipyard.monitoring._monitor_report import _over_time
from shipyard.monitoring._report import distribution_figure
from shipyard.server._access import VIEWER
from shipyard.server._monitoring import drift_series, find_check
from shipyard.server._ui import pages, render
from shipyard.server._ui_ops import can_edit, figure_json

__all__ = ["router"]

router = pages()
LAST = 50  # checks shown on a monitor's page
MOST_CHARTS = 12  # distribution charts on a monitor's page (drifted first); a check's: 40
Status = Annotated[str | None, Query(pattern="^(open|acknowledged|resolved|active)$")]


@router.get("/monitors", dependencies=[VIEWER])
def monitors_page(request: Request) -> HTMLResponse:
    rows = []
    for found in monitoring.list_monitors():
        latest = monitoring.checks(found.name, limit=1)
        active = monitoring.list_alerts(monitor=found.name, status="active", limit=1000)
        rows.append(
            {
                "monitor": asdict(found),
                "window": found.describe_window(),
                "latest": latest[0].to_dict() if latest else None,
                "active": len(active),
            }
        )
    return render(request, "ops_monitors.html", rows=rows)


@router.get("/monitors/{name}", dependencies=[VIEWER])
def monitor_page(request: Request, name: str) -> HTMLResponse:
    import pandas as pd

    found = monitoring.get_monitor(name)
    recent = monitoring.checks(name, limit=LAST)
    frame = monitoring.series(name, from_check=min((c.id for c in recent), default=None))
    figures: list[dict[str, Any]] = []
    latest = recent[0] if recent else None
    if latest is not None:
        for detector in latest.detectors:
            over_time = _over_time(frame if not frame.empty else pd.DataFrame(), detector)
            if over_time is not None and _kind(detector) != "distributions":
                figures.append(_slot(f"over-{detector}", over_time, 320))
        figures += _distributions(latest, MOST_CHARTS)
    return render(
        request,
        "ops_monitor.html",
        monitor=asdict(found),
        window=found.describe_window(),
        checks=[c.to_dict() for c in recent],
        latest=latest.to_dict() if latest else None,
        drift=drift_series(name, LAST),
        figures=figures,
        alerts=[a.to_dict() for a in monitoring.list_alerts(monitor=name, limit=LAST)],
        editor=can_edit(request),
    )


@router.get("/monitors/{name}/checks/{check_id}", dependencies=[VIEWER])
def check_page(request: Request, name: str, check_id: int) -> HTMLResponse:
    found = find_check(name, check_id)
    tables = {}
    for detector, outcome in found.detectors.items():
        charts = outcome.get("charts", {})
        if _kind(detector) == "distributions":
            tables[detector] = sorted(
                ({"feature": k, **v} for k, v in charts.items()),
                key=lambda row: (not row["drifted"], row["feature"]),
            )
        elif _kind(detector) == "table" and charts.get(detector):
            tables[detector] = charts[detector]
    return render(
        request,
        "ops_check.html",
        monitor=name,
        check=found.to_dict(),
        tables=tables,
        figures=_distributions(found, 40),
    )


@router.get("/alerts", dependencies=[VIEWER])
def alerts_page(
    request: Request, status: Status = None, monitor: str | None = None
) -> HTMLResponse:
    found = [a.to_dict() for a in monitoring.list_alerts(monitor=monitor, status=status, limit=500)]
    counts = {s: 0 for s in ("open", "acknowledged", "resolved")}
    for alert in monitoring.list_alerts(monitor=monitor, limit=10_000):
        counts[alert.status] = counts.get(alert.status, 0) + 1
    return render(
        request,
        "ops_alerts.html",
        alerts=found,
        timeline=iso_times(found),
        counts=counts,
        status=status,
        monitor=monitor,
        editor=can_edit(request),
    )


def _kind(detector: str) -> str:
    entry = DETECTOR_TABLE.get(detector)
    return entry.charts if entry else "none"


def _slot(key: str, figure: Any, height: int) -> dict[str, Any]:
    return {"id": key, "figure": figure_json(figure), "height": height}


def _distributions(check: monitoring.Check, most: int) -> list[dict[str, Any]]:
    """Reference against current shares per bin, per feature of each drift detector,
    drifted features first (the report's own charts)."""
    out = []
    for detector, outcome in check.detectors.items():
        if _kind(detector) != "distributions":
            continue
        charts = outcome.get("charts", {})
        shown = sorted(charts.items(), key=lambda item: (not item[1]["drifted"], item[0]))
        for feature, chart in shown[:most]:
            figure = distribution_figure(
                feature, chart, chart["drifted"], chart["method"], chart["statistic"]
            )
            figure.update_layout(legend={"orientation": "h", "y": -0.25})
            out.append({**_slot(f"dist-{detector}-{feature}", figure, 280), "detector": detector})
    return out
