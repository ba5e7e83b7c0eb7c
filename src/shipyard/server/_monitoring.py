"""Monitors and alerts over HTTP: the SDK's functions, their results as JSON: checks, the
drift of each feature over time, one check's reference and current distributions, the alert
timeline, and the moves people make (check now, acknowledge, resolve)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from shipyard import monitoring
from shipyard._time import iso
from shipyard.errors import NotFound
from shipyard.server._access import EDITOR, VIEWER, caller_of
from shipyard.server._paging import PageSize, PageToken, page, page_of
from shipyard.serving._openapi import CHANGES, KEYED, errors

__all__ = ["drift_series", "find_check", "router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, no
# token (401) or too low a role (403); a name may be unknown (404), a parameter refused
# (422); a change may meet a state that forbids it (409)
_LIST = errors(400, *KEYED, 422)
_READ = errors(400, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["monitoring"])
Last = Annotated[int, Query(ge=1, le=1000, description="How many checks, newest first.")]
CheckId = Annotated[int, Query(ge=1, lt=2**63)]
LOOK_BACK = 1000  # checks searched for one by id


@router.get("/monitors", responses=_LIST, dependencies=[VIEWER])
def list_monitors(page_size: PageSize = 100, page_token: PageToken = None) -> dict[str, Any]:
    """Every monitor, by name: settings, window and when it last ran."""
    found = [_monitor(m) for m in monitoring.list_monitors()]
    return page_of(found, page_size, page_token, "monitors")


@router.get("/monitors/{name}", responses=_READ, dependencies=[VIEWER])
def get_monitor(name: str) -> dict[str, Any]:
    """One monitor's settings and when it last ran."""
    return _monitor(monitoring.get_monitor(name))


@router.get("/monitors/{name}/checks", responses=_READ, dependencies=[VIEWER])
def list_checks(
    name: str, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """The monitor's checks, newest first: status, window, each detector's verdict and
    evidence."""

    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        return [c.to_dict() for c in monitoring.checks(name, limit=offset + limit)[offset:]]

    return page(fetch, page_size, page_token, ["checks", name])


@router.get("/monitors/{name}/checks/{check_id}", responses=_READ, dependencies=[VIEWER])
def get_check(name: str, check_id: int) -> dict[str, Any]:
    """One check with what its charts draw: per detector, each feature's reference and
    current shares per bin (``charts``), its statistic, threshold and verdict."""
    found = find_check(name, check_id)
    return {
        **found.to_dict(),
        "charts": {k: v.get("charts", {}) for k, v in found.detectors.items()},
    }


@router.get("/monitors/{name}/series", responses=_READ, dependencies=[VIEWER])
def get_series(
    name: str,
    feature: str | None = None,
    metric: str | None = None,
    from_check: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    page_size: PageSize = 1000,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """Stored results, oldest first: each feature's statistics over time (at, check_id,
    detector, feature, metric, value, threshold, flagged)."""
    frame = monitoring.series(name, feature=feature, metric=metric, from_check=from_check)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    query = ["series", name, feature, metric, from_check]
    return page_of(records, page_size, page_token, query)


@router.get("/monitors/{name}/drift", responses=_READ, dependencies=[VIEWER])
def get_drift(name: str, last: Last = 50) -> dict[str, Any]:
    """Drift per feature over the last checks, one series per detector, feature and
    deciding statistic (oldest first): times (ISO), values, thresholds, flagged."""
    return {"name": name, "series": drift_series(name, last)}


@router.get("/monitors/{name}/report", responses=_READ, dependencies=[VIEWER])
def get_report(name: str, last: Last = 50) -> dict[str, Any]:
    """What the monitor's report charts: the monitor, its last checks with their
    distribution charts, the results over them and its alerts."""
    return monitoring.report_data(name, last=last)


@router.post("/monitors/{name}/check", responses=_CHANGE, dependencies=[EDITOR])
@router.post("/monitors/{name}/run", include_in_schema=False, dependencies=[EDITOR])
def check(name: str) -> dict[str, Any]:
    """Check the monitor now (alerts open, resolve and notify as on schedule)."""
    return monitoring.check(name).to_dict()


Status = Annotated[
    str | None,
    Query(
        description="open, acknowledged, resolved or active (open or acknowledged)",
        json_schema_extra={"enum": ["open", "acknowledged", "resolved", "active"]},
    ),
]


@router.get("/alerts", responses=_READ, dependencies=[VIEWER])
def list_alerts(
    monitor: str | None = None,
    status: Status = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """Alerts, newest first: the timeline (opened, acknowledged, resolved: when and by
    whom)."""

    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        found = monitoring.list_alerts(monitor=monitor, status=status, limit=offset + limit)
        return [a.to_dict() for a in found[offset:]]

    return page(fetch, page_size, page_token, ["alerts", monitor, status])


@router.get("/alerts/{alert_id}", responses=_READ, dependencies=[VIEWER])
def get_alert(alert_id: int) -> dict[str, Any]:
    """One alert: its detector, title, evidence, occurrences and deliveries."""
    return monitoring.get_alert(alert_id).to_dict()


@router.post("/alerts/{alert_id}/acknowledge", responses=_CHANGE, dependencies=[EDITOR])
@router.post("/alerts/{alert_id}/ack", include_in_schema=False, dependencies=[EDITOR])
def acknowledge(alert_id: int, request: Request) -> dict[str, Any]:
    """Someone is on it: no more notices until it resolves (409 unless it is open)."""
    return monitoring.acknowledge(alert_id, by=caller_of(request).actor).to_dict()


@router.post("/alerts/{alert_id}/resolve", responses=_CHANGE, dependencies=[EDITOR])
def resolve(alert_id: int, request: Request) -> dict[str, Any]:
    """Close an alert by hand; its channels are told (409 when already resolved)."""
    return monitoring.resolve(alert_id, by=caller_of(request).actor).to_dict()


def _monitor(monitor: monitoring.Monitor) -> dict[str, Any]:
    return {**asdict(monitor), "window_text": monitor.describe_window(), "due": monitor.due}


def find_check(name: str, check_id: int) -> monitoring.Check:
    """The check ``check_id`` of monitor ``name`` (NotFound naming both)."""
    for found in monitoring.checks(name, limit=LOOK_BACK):
        if found.id == check_id:
            return found
    raise NotFound(
        f"Monitor {name!r} has no check {check_id} among its last {LOOK_BACK}. "
        f"Try: shipyard monitors show {name}"
    )


def drift_series(name: str, last: int) -> list[dict[str, Any]]:
    """Each (detector, feature, metric) with a threshold over the last ``last`` checks:
    its values per check, oldest first (drift per feature; a detector's own metric)."""
    recent = monitoring.checks(name, limit=last)
    frame = monitoring.series(name, from_check=min((c.id for c in recent), default=None))
    if frame.empty:
        return []
    frame = frame[frame["threshold"].notna()]
    out = []
    for (detector, feature, metric), rows in frame.groupby(
        ["detector", "feature", "metric"], sort=True
    ):
        out.append(
            {
                "detector": str(detector),
                "feature": str(feature),
                "metric": str(metric),
                "times": [iso(float(v)) for v in rows["at"]],
                "value": [None if v != v else float(v) for v in rows["value"]],
                "threshold": [float(v) for v in rows["threshold"]],
                "flagged": [bool(v) for v in rows["flagged"]],
            }
        )
    return out
