"""Where alerts are kept: :class:`AlertStore` (the primitives) and its SQL implementation.

The alert rules (one active alert per monitor and detector, occurrences while it lasts,
resolution after the cooldown) are applied by :meth:`SqlAlertStore.apply_findings` inside
the transaction that stores a check (see ``_alerts`` for the rules' reasons).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from shipyard.errors import Conflict, NotFound
from shipyard.monitoring._channels import finite
from shipyard.monitoring._tables import ALERTS, MONITORS
from shipyard.monitoring._values import ACTIVE, Alert, Finding, Monitor, Notice
from shipyard.store import Database, append_audit

__all__ = ["AlertStore", "SqlAlertStore", "dumps"]


class AlertStore(abc.ABC):
    """The alerts of every monitor. Thread-safe; returned alerts are snapshots.

    Raises NotFound for an alert (or monitor) that does not exist and Conflict for a
    change its status does not allow.
    """

    @abc.abstractmethod
    def get(self, alert_id: int) -> Alert: ...

    @abc.abstractmethod
    def find(self, monitor: str | None, statuses: Sequence[str] | None, limit: int) -> list[Alert]:
        """Newest first; ``statuses`` None: any."""

    @abc.abstractmethod
    def acknowledge(self, alert_id: int, by: str | None, now: float) -> None:
        """Mark an open alert acknowledged (Conflict when it is not open)."""

    @abc.abstractmethod
    def resolve(self, alert_id: int, by: str | None, now: float) -> str:
        """Resolve an alert by hand (Conflict when it is resolved); its monitor's name."""

    @abc.abstractmethod
    def record_deliveries(self, alert_id: int, deliveries: Sequence[dict[str, Any]]) -> None:
        """Add deliveries to the alert's record (the last 100 kept); an alert deleted
        meanwhile is skipped."""


class SqlAlertStore(AlertStore):
    """Alerts in the metadata database (SQLite or PostgreSQL). The constructor stores the
    database; nothing connects until a method runs."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self, alert_id: int) -> Alert:
        with self.database.read() as conn:
            row = conn.execute(_select().where(ALERTS.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"No alert {alert_id}. Try: shipyard alerts list")
        return _alert(row)

    def find(self, monitor: str | None, statuses: Sequence[str] | None, limit: int) -> list[Alert]:
        query = _select().order_by(ALERTS.c.id.desc()).limit(limit)
        if monitor is not None:
            query = query.where(MONITORS.c.name == monitor)
        if statuses is not None:
            query = query.where(ALERTS.c.status.in_(list(statuses)))
        with self.database.read() as conn:
            if monitor is not None and not conn.scalar(
                select(MONITORS.c.id).where(MONITORS.c.name == monitor)
            ):
                raise NotFound(f"No monitor named {monitor!r}. Try: shipyard monitors list")
            return [_alert(row) for row in conn.execute(query).all()]

    def acknowledge(self, alert_id: int, by: str | None, now: float) -> None:
        with self.database.write() as conn:
            status = _status(conn, alert_id)
            if status != "open":
                raise Conflict(f"Alert {alert_id} is {status}; only an open alert is acknowledged.")
            conn.execute(
                update(ALERTS)
                .where(ALERTS.c.id == alert_id)
                .values(
                    status="acknowledged", acknowledged_at=now, acknowledged_by=by, updated_at=now
                )
            )
            _audit(conn, alert_id, "alert-acknowledged", by)

    def resolve(self, alert_id: int, by: str | None, now: float) -> str:
        with self.database.write() as conn:
            if _status(conn, alert_id) == "resolved":
                raise Conflict(f"Alert {alert_id} is already resolved.")
            conn.execute(
                update(ALERTS)
                .where(ALERTS.c.id == alert_id)
                .values(status="resolved", resolved_at=now, resolved_by=by, updated_at=now)
            )
            return _audit(conn, alert_id, "alert-resolved", by)

    def record_deliveries(self, alert_id: int, deliveries: Sequence[dict[str, Any]]) -> None:
        with self.database.write() as conn:
            stored = conn.scalar(select(ALERTS.c.deliveries).where(ALERTS.c.id == alert_id))
            if stored is None:  # deleted with its monitor meanwhile
                return
            kept = [*json.loads(stored), *deliveries][-100:]
            conn.execute(
                update(ALERTS).where(ALERTS.c.id == alert_id).values(deliveries=dumps(kept))
            )

    # -- inside a check's transaction ------------------------------------------------------

    def apply_findings(
        self,
        conn: Connection,
        monitor: Monitor,
        check_id: int,
        findings: Mapping[str, Finding | None],
        now: float,
    ) -> list[Notice]:
        """Open, update or resolve the monitor's alerts for one check (inside the check's
        transaction, ``conn``); returns the notices to send. A detector whose finding is
        None had no verdict: its alert is left as it is."""
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
                notices += _again(conn, monitor, active, finding, check_id, now)
            elif finding.flagged:
                notices.append(_open(conn, monitor, detector, finding, check_id, now))
            elif active is not None:
                notices += _recovered(conn, monitor, active, check_id, now)
        return notices


def _again(
    conn: Connection, monitor: Monitor, active: Any, finding: Finding, check_id: int, now: float
) -> list[Notice]:
    """The detector crossed again with an alert active: one more occurrence, no notice
    (but the "opened" notice again to the channels that never took it)."""
    conn.execute(
        update(ALERTS)
        .where(ALERTS.c.id == active.id)
        .values(
            title=finding.title,
            evidence=dumps(finding.evidence),
            occurrences=active.occurrences + 1,
            last_check_id=check_id,
            recovered_at=None,
            updated_at=now,
        )
    )
    taken = {d["channel"] for d in json.loads(active.deliveries) if d["ok"]}
    missed = tuple(c for c in monitor.channels if c not in taken)
    if missed and active.status == "open":
        return [Notice(int(active.id), "opened", missed)]
    return []


def _open(
    conn: Connection, monitor: Monitor, detector: str, finding: Finding, check_id: int, now: float
) -> Notice:
    result = conn.execute(
        insert(ALERTS).values(
            monitor_id=monitor.id,
            detector=detector,
            status="open",
            title=finding.title,
            evidence=dumps(finding.evidence),
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
    return Notice(int(key[0]), "opened")


def _recovered(
    conn: Connection, monitor: Monitor, active: Any, check_id: int, now: float
) -> list[Notice]:
    """The detector is back within its thresholds: resolve once the cooldown has passed
    since it first was, else note since when."""
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
        return [Notice(int(active.id), "resolved")]
    if active.recovered_at is None:
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == active.id)
            .values(recovered_at=now, last_check_id=check_id, updated_at=now)
        )
    return []


def dumps(value: Any) -> str:
    """JSON without NaN or infinities (None instead): strict parsers read every notice."""
    return json.dumps(finite(value), default=str, allow_nan=False)


def _status(conn: Connection, alert_id: int) -> str:
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


def _audit(conn: Connection, alert_id: int, action: str, by: str | None) -> str:
    """Append the audit entry of an alert's change (on its monitor); the monitor's name."""
    monitor = str(
        conn.scalar(
            select(MONITORS.c.name)
            .select_from(ALERTS.join(MONITORS, ALERTS.c.monitor_id == MONITORS.c.id))
            .where(ALERTS.c.id == alert_id)
        )
    )
    append_audit(conn, action, "monitor", monitor, after={"alert": alert_id}, actor=by)
    return monitor
