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
acknowledge and resolve alerts by hand too (``shipyard alerts ack 3``).

Notices go out after the transaction that decided them commits; each delivery (channel,
outcome, error) is recorded on the alert, and an "opened" notice a channel did not take is
offered to it again at the next check that still flags the detector.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from shipyard.config import current_user
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.monitoring._channels import finite, send
from shipyard.monitoring._monitors import Monitor
from shipyard.monitoring._tables import ALERTS, MONITORS
from shipyard.store import default_database

__all__ = [
    "STATUSES",
    "Alert",
    "Finding",
    "Notice",
    "acknowledge",
    "get_alert",
    "list_alerts",
    "resolve",
]

STATUSES = ("open", "acknowledged", "resolved")
ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class Finding:
    """What a check found for one detector: crossed or not, a one-line title, evidence."""

    flagged: bool
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    id: int
    monitor: str
    target: str
    detector: str
    status: str
    title: str
    evidence: dict[str, Any]
    occurrences: int
    opened_at: float
    updated_at: float
    first_check_id: int | None = None
    last_check_id: int | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    deliveries: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "target": self.target,
            "detector": self.detector,
            "status": self.status,
            "title": self.title,
            "evidence": self.evidence,
            "occurrences": self.occurrences,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "first_check_id": self.first_check_id,
            "last_check_id": self.last_check_id,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "deliveries": list(self.deliveries),
        }


def apply_findings(
    conn: Connection,
    monitor: Monitor,
    check_id: int,
    findings: Mapping[str, Finding | None],
    now: float,
) -> list[Notice]:
    """Open, update or resolve the monitor's alerts for one check (inside the check's
    transaction); returns the notices to send. A detector whose finding is None had no
    verdict: its alert is left as it is."""
    notices: list[Notice] = []
    for detector, finding in findings.items():
        if finding is None:
            continue
        active = conn.execute(
            select(ALERTS)
            .where(
                ALERTS.c.monitor_id == monitor.id,
                ALERTS.c.detector == detector,
                ALERTS.c.status.in_(ACTIVE),
            )
            .order_by(ALERTS.c.id.desc())
        ).first()
        if finding.flagged and active is not None:
            conn.execute(
                update(ALERTS)
                .where(ALERTS.c.id == active.id)
                .values(
                    title=finding.title,
                    evidence=_dumps(finding.evidence),
                    occurrences=active.occurrences + 1,
                    last_check_id=check_id,
                    recovered_at=None,
                    updated_at=now,
                )
            )
            missed = _undelivered(monitor, active)
            if missed and active.status == "open":
                notices.append(Notice(int(active.id), "opened", missed))
        elif finding.flagged:
            result = conn.execute(
                insert(ALERTS).values(
                    monitor_id=monitor.id,
                    detector=detector,
                    status="open",
                    title=finding.title,
                    evidence=_dumps(finding.evidence),
                    occurrences=1,
                    first_check_id=check_id,
                    last_check_id=check_id,
                    opened_at=now,
                    updated_at=now,
                    deliveries="[]",
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            notices.append(Notice(int(key[0]), "opened"))
        elif active is not None:
            since = active.recovered_at if active.recovered_at is not None else now
            if now - since >= monitor.cooldown:
                conn.execute(
                    update(ALERTS)
                    .where(ALERTS.c.id == active.id)
                    .values(
                        status="resolved",
                        resolved_at=now,
                        resolved_by="monitor",
                        recovered_at=since,
                        last_check_id=check_id,
                        updated_at=now,
                    )
                )
                notices.append(Notice(int(active.id), "resolved"))
            elif active.recovered_at is None:
                conn.execute(
                    update(ALERTS)
                    .where(ALERTS.c.id == active.id)
                    .values(recovered_at=now, last_check_id=check_id, updated_at=now)
                )
    return notices


@dataclass(frozen=True)
class Notice:
    """A notice to send: the alert, the event, and the channels (None: all the monitor's)."""

    alert_id: int
    event: str
    channels: tuple[str, ...] | None = None


def _undelivered(monitor: Monitor, alert: Any) -> tuple[str, ...]:
    """The monitor's channels that never took this alert's "opened" notice."""
    taken = {d["channel"] for d in json.loads(alert.deliveries) if d["ok"]}
    return tuple(c for c in monitor.channels if c not in taken)


def _dumps(value: Any) -> str:
    """JSON without NaN or infinities (None instead): strict parsers read every notice."""
    return json.dumps(finite(value), default=str, allow_nan=False)


def notify(monitor: Monitor, notices: Sequence[Notice]) -> None:
    """Send each notice on its channels and record the deliveries. An alert deleted
    meanwhile (with its monitor) is skipped."""
    for notice in notices:
        try:
            alert = get_alert(notice.alert_id)
        except NotFound:
            continue
        if notice.event != "resolved" and alert.status == "acknowledged":
            continue
        channels = monitor.channels if notice.channels is None else notice.channels
        deliveries = [send(c, notice.event, alert.to_dict()).to_dict() for c in channels]
        _record(notice.alert_id, deliveries)


def _record(alert_id: int, deliveries: list[dict[str, Any]]) -> None:
    with default_database().write() as conn:
        stored = conn.scalar(select(ALERTS.c.deliveries).where(ALERTS.c.id == alert_id))
        if stored is None:  # deleted with its monitor meanwhile
            return
        kept = [*json.loads(stored), *deliveries][-100:]
        conn.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(deliveries=_dumps(kept)))


def list_alerts(
    *, monitor: str | None = None, status: str | None = None, limit: int = 100
) -> list[Alert]:
    """Alerts, newest first; ``status`` is open, acknowledged, resolved or ``active``
    (open or acknowledged)."""
    if status is not None and status not in (*STATUSES, "active"):
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, active; got {status!r}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive number of alerts; got {limit!r}.")
    query = _select().order_by(ALERTS.c.id.desc()).limit(limit)
    if monitor is not None:
        query = query.where(MONITORS.c.name == monitor)
    if status == "active":
        query = query.where(ALERTS.c.status.in_(ACTIVE))
    elif status is not None:
        query = query.where(ALERTS.c.status == status)
    with default_database().read() as conn:
        if monitor is not None and not conn.scalar(
            select(MONITORS.c.id).where(MONITORS.c.name == monitor)
        ):
            raise NotFound(f"No monitor named {monitor!r}. Try: shipyard monitors list")
        return [_alert(row) for row in conn.execute(query).all()]


def get_alert(alert_id: int) -> Alert:
    _check_id(alert_id)
    with default_database().read() as conn:
        row = conn.execute(_select().where(ALERTS.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"No alert {alert_id}. Try: shipyard alerts list")
    return _alert(row)


def acknowledge(alert_id: int, by: str | None = None) -> Alert:
    """Someone is on it: no more notices until it resolves."""
    who = _who(by)
    with default_database().write() as conn:
        status = _status(conn, alert_id)
        if status != "open":
            raise Conflict(f"Alert {alert_id} is {status}; only an open alert is acknowledged.")
        now = time.time()
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == alert_id)
            .values(
                status="acknowledged",
                acknowledged_at=now,
                acknowledged_by=who,
                updated_at=now,
            )
        )
    return get_alert(alert_id)


def resolve(alert_id: int, by: str | None = None) -> Alert:
    """Close an alert by hand (its channels are told; a check that flags the detector
    again opens a new one)."""
    who = _who(by)
    with default_database().write() as conn:
        status = _status(conn, alert_id)
        if status == "resolved":
            raise Conflict(f"Alert {alert_id} is already resolved.")
        now = time.time()
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == alert_id)
            .values(status="resolved", resolved_at=now, resolved_by=who, updated_at=now)
        )
        monitor_name = conn.scalar(
            select(MONITORS.c.name)
            .select_from(ALERTS.join(MONITORS, ALERTS.c.monitor_id == MONITORS.c.id))
            .where(ALERTS.c.id == alert_id)
        )
    from shipyard.monitoring._monitors import get

    notify(get(str(monitor_name)), [Notice(alert_id, "resolved")])
    return get_alert(alert_id)


def _check_id(alert_id: int) -> None:
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or not 0 < alert_id < 2**63:
        raise NotFound(f"No alert {alert_id}. Try: shipyard alerts list")


def _who(by: str | None) -> str | None:
    who = by or current_user()
    if who is not None and len(who) > 128:
        raise InvalidInput(f"by must name someone in at most 128 characters; got {len(who)}.")
    return who


def _status(conn: Connection, alert_id: int) -> str:
    _check_id(alert_id)
    status = conn.scalar(select(ALERTS.c.status).where(ALERTS.c.id == alert_id).with_for_update())
    if status is None:
        raise NotFound(f"No alert {alert_id}. Try: shipyard alerts list")
    return str(status)


def _select() -> Any:
    return select(ALERTS, MONITORS.c.name.label("monitor_name"), MONITORS.c.target).select_from(
        ALERTS.join(MONITORS, ALERTS.c.monitor_id == MONITORS.c.id)
    )


def _alert(row: Any) -> Alert:
    return Alert(
        id=int(row.id),
        monitor=row.monitor_name,
        target=row.target,
        detector=row.detector,
        status=row.status,
        title=row.title,
        evidence=json.loads(row.evidence),
        occurrences=row.occurrences,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        first_check_id=row.first_check_id,
        last_check_id=row.last_check_id,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        deliveries=tuple(json.loads(row.deliveries)),
    )
