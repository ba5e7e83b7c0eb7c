"""Alerts: opened when a check crosses a threshold, kept (not repeated) while the signal
lasts, resolved when it recovers.

One alert per monitor and detector is active (open or acknowledged) at a time. A check that
flags a detector with an active alert adds an occurrence and fresh evidence to it — no new
notice (deduplication). The alert resolves (and says so) once checks have found the detector
back within its thresholds for the monitor's ``cooldown``: a signal hovering at its
threshold keeps one alert open instead of paging "opened", "resolved", "opened" every hour,
and the last notice anyone got always matches the alert's state. With a cooldown of 0 the
first recovered check resolves it. A check without a verdict for the detector (too few
rows) changes nothing. An acknowledged alert gets no notices until it resolves. People
acknowledge and resolve alerts by hand too (``shipyard alerts acknowledge 3``).

Notices go out after the transaction that decided them commits; each delivery (channel,
outcome, error) is recorded on the alert, and an "opened" notice a channel did not take is
offered to it again at the next check that still flags the detector.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from shipyard.config import current_user
from shipyard.errors import InvalidInput, NotFound
from shipyard.monitoring._alert_store import AlertStore, SqlAlertStore
from shipyard.monitoring._channels import send
from shipyard.monitoring._http import alert_of, client, refuse_remote, remote_alerts
from shipyard.monitoring._monitors import get
from shipyard.monitoring._values import ACTIVE, STATUSES, Alert, Finding, Monitor, Notice
from shipyard.store import default_database

__all__ = [
    "STATUSES",
    "Alert",
    "Finding",
    "Notice",
    "acknowledge",
    "alert_store",
    "get_alert",
    "list_alerts",
    "notify",
    "record_action",
    "resolve",
]

_default: SqlAlertStore | None = None


def alert_store() -> SqlAlertStore:
    """The alert store of the default metadata database (built once per database)."""
    refuse_remote("this alerts function")
    global _default
    database = default_database()
    if _default is None or _default.database is not database:
        _default = SqlAlertStore(database)
    return _default


def notify(monitor: Monitor, notices: Sequence[Notice], store: AlertStore | None = None) -> None:
    """Send each notice on its channels and record the deliveries. An alert deleted
    meanwhile (with its monitor) is skipped."""
    alerts = store or alert_store()
    for notice in notices:
        try:
            alert = alerts.get(notice.alert_id)
        except NotFound:
            continue
        if notice.event != "resolved" and alert.status == "acknowledged":
            continue
        channels = monitor.channels if notice.channels is None else notice.channels
        deliveries = [send(c, notice.event, alert.to_dict()).to_dict() for c in channels]
        alerts.record_deliveries(notice.alert_id, deliveries)


def list_alerts(
    *, monitor: str | None = None, status: str | None = None, limit: int = 100
) -> list[Alert]:
    """Alerts, newest first; ``status`` is open, acknowledged, resolved or ``active``
    (open or acknowledged)."""
    if status is not None and status not in (*STATUSES, "active"):
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, active; got {status!r}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive number of alerts; got {limit!r}.")
    remote = client()
    if remote is not None:
        return remote_alerts(remote, monitor, status, limit)
    statuses = ACTIVE if status == "active" else None if status is None else (status,)
    return alert_store().find(monitor, statuses, limit)


def get_alert(alert_id: int) -> Alert:
    _check_id(alert_id)
    remote = client()
    if remote is not None:
        return alert_of(remote.get(f"/api/alerts/{alert_id}"))
    return alert_store().get(alert_id)


def acknowledge(alert_id: int, by: str | None = None) -> Alert:
    """Someone is on it: no more notices until it resolves. In remote mode the server
    records its caller (``by`` is not sent: nobody acts in another's name)."""
    _check_id(alert_id)
    remote = client()
    if remote is not None:
        return alert_of(remote.post(f"/api/alerts/{alert_id}/acknowledge"))
    who = _who(by)
    alert_store().acknowledge(alert_id, who, time.time())
    return get_alert(alert_id)


def resolve(alert_id: int, by: str | None = None) -> Alert:
    """Close an alert by hand (its channels are told; a check that flags the detector
    again opens a new one). In remote mode the server records its caller."""
    _check_id(alert_id)
    remote = client()
    if remote is not None:
        return alert_of(remote.post(f"/api/alerts/{alert_id}/resolve"))
    who = _who(by)
    monitor_name = alert_store().resolve(alert_id, who, time.time())
    notify(get(monitor_name), [Notice(alert_id, "resolved")])
    return get_alert(alert_id)


def record_action(alert_id: int, action: str, run_id: str) -> Alert:
    """Record on an alert what it started: ``action`` (``pipeline:NAME``) as run ``run_id``.

    Kept with the alert's deliveries (``{"channel": action, "event": "opened", "ok": true,
    "run": run_id, "at": ...}``), so :func:`get_alert` shows the run; recording the same
    run again changes nothing."""
    _check_id(alert_id)
    if not isinstance(action, str) or not action or not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"record_action needs an action and a run id; got {action!r}.")
    alert = get_alert(alert_id)
    if not any(d.get("run") == run_id and d.get("channel") == action for d in alert.deliveries):
        entry = {"channel": action, "event": "opened", "ok": True, "run": run_id}
        alert_store().record_deliveries(alert_id, [{**entry, "at": time.time()}])
    return get_alert(alert_id)


def _check_id(alert_id: int) -> None:
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or not 0 < alert_id < 2**63:
        raise NotFound(f"No alert {alert_id}. Try: shipyard alerts list")


def _who(by: str | None) -> str | None:
    who = by or current_user()
    if who is not None and len(who) > 128:
        raise InvalidInput(f"by must name someone in at most 128 characters; got {len(who)}.")
    return who
