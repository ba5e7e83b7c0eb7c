"""Monitors and alerts over HTTP: the SDK's functions, their results as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from shipyard import monitoring
from shipyard.server._access import EDITOR, VIEWER, caller_of
from shipyard.serving._openapi import CHANGES, KEYED, errors

__all__ = ["router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, reading
# wants a live key (401), changing one with the admin scope (403); a name or filter may be
# unknown (404) or refused (422, e.g. a NUL character); a list without filters only 400/401
_LIST = errors(400, 401)
_READ = errors(400, 401, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["monitoring"])
Limit = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]
By = Annotated[
    str | None,
    Body(embed=True, description="Who (default: the API key's name, else the server's user)."),
]


@router.get("/monitors", dependencies=[VIEWER], responses=_LIST)
def list_monitors() -> list[dict[str, Any]]:
    """Every monitor, by name."""
    return [_monitor(m) for m in monitoring.list_monitors()]


@router.get("/monitors/{name}", dependencies=[VIEWER], responses=_READ)
def get_monitor(name: str) -> dict[str, Any]:
    """One monitor's settings and when it last ran."""
    return _monitor(monitoring.get_monitor(name))


@router.get("/monitors/{name}/checks", dependencies=[VIEWER], responses=_READ)
def list_checks(name: str, limit: Limit = 50) -> list[dict[str, Any]]:
    """The monitor's latest checks: status, window, each detector's verdict and evidence."""
    return [c.to_dict() for c in monitoring.checks(name, limit=limit)]


@router.get("/monitors/{name}/series", dependencies=[VIEWER], responses=_READ)
def get_series(
    name: str,
    feature: str | None = None,
    metric: str | None = None,
    from_check: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
) -> list[dict[str, Any]]:
    """Stored results, oldest first: each feature's statistics over time (at, check_id,
    detector, feature, metric, value, threshold, flagged)."""
    frame = monitoring.series(name, feature=feature, metric=metric, from_check=from_check)
    records: list[dict[str, Any]] = (
        frame.astype(object).where(frame.notna(), None).to_dict("records")
    )
    return records


@router.get("/monitors/{name}/report", dependencies=[VIEWER], responses=_READ)
def get_report(name: str, last: Limit = 50) -> dict[str, Any]:
    """What the HTML report charts: the monitor, its last checks with their distribution
    charts, the results over them and its alerts."""
    return monitoring.report_data(name, last=last)


@router.post("/monitors/{name}/check", dependencies=[EDITOR], responses=_CHANGE)
@router.post(
    "/monitors/{name}/run", include_in_schema=False, dependencies=[EDITOR]
)  # the first spelling, kept
def check(name: str) -> dict[str, Any]:
    """Check the monitor now (alerts open, resolve and notify as on schedule)."""
    return monitoring.check(name).to_dict()


@router.get("/alerts", dependencies=[VIEWER], responses=_READ)
def list_alerts(
    monitor: str | None = None,
    status: Annotated[
        str | None,
        Query(
            description="open, acknowledged, resolved or active",
            json_schema_extra={"enum": ["open", "acknowledged", "resolved", "active"]},
        ),
    ] = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Alerts, newest first."""
    return [
        a.to_dict() for a in monitoring.list_alerts(monitor=monitor, status=status, limit=limit)
    ]


@router.get("/alerts/{alert_id}", dependencies=[VIEWER], responses=_READ)
def get_alert(alert_id: int) -> dict[str, Any]:
    """One alert: its detector, title, evidence, occurrences and deliveries."""
    return monitoring.get_alert(alert_id).to_dict()


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[EDITOR], responses=_CHANGE)
@router.post(
    "/alerts/{alert_id}/ack", include_in_schema=False, dependencies=[EDITOR]
)  # the first spelling, kept
def acknowledge(alert_id: int, request: Request, by: By = None) -> dict[str, Any]:
    """Someone is on it: no more notices until it resolves (409 unless it is open)."""
    return monitoring.acknowledge(alert_id, by=by or caller_of(request).actor).to_dict()


@router.post("/alerts/{alert_id}/resolve", dependencies=[EDITOR], responses=_CHANGE)
def resolve(alert_id: int, request: Request, by: By = None) -> dict[str, Any]:
    """Close an alert by hand; its channels are told (409 when already resolved)."""
    return monitoring.resolve(alert_id, by=by or caller_of(request).actor).to_dict()


def _monitor(monitor: monitoring.Monitor) -> dict[str, Any]:
    return {**asdict(monitor), "window_text": monitor.describe_window(), "due": monitor.due}
