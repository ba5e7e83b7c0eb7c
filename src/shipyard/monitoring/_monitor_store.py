"""Where monitors are kept: :class:`MonitorStore` (the primitives: monitors, their checks
and per-feature results) and its SQL implementation.

A check is stored in one transaction with its results and the alerts it opens, updates or
resolves (through the alert store of the same database).
"""

from __future__ import annotations

import abc
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.config import current_user
from shipyard.errors import Conflict, NotFound
from shipyard.monitoring._alert_store import AlertStore, SqlAlertStore
from shipyard.monitoring._tables import ALERTS, CHECKS, MONITORS, RESULTS
from shipyard.monitoring._values import Check, Finding, Monitor, Notice
from shipyard.store import Database, append_audit

__all__ = ["CheckRecord", "MonitorStore", "Result", "SqlMonitorStore"]

# one stored value: detector, feature, metric, value, threshold, flagged
Result = tuple[str, str, str, float | None, float | None, bool]
RESULT_COLUMNS = [
    "at",
    "check_id",
    "detector",
    "feature",
    "metric",
    "value",
    "threshold",
    "flagged",
]


@dataclass(frozen=True)
class CheckRecord:
    """A check to store: when, its status, the windows it read and what each detector found
    (``detail``, JSON-able), how long it took."""

    at: float
    status: str
    window_start: float | None
    window_end: float | None
    rows: int
    reference_rows: int
    detail: dict[str, Any]
    seconds: float


class MonitorStore(abc.ABC):
    """Monitors, their checks and the checks' results. Thread-safe; returned values are
    snapshots. Raises NotFound for a monitor that does not exist and Conflict for a name
    that is taken."""

    @property
    @abc.abstractmethod
    def alerts(self) -> AlertStore:
        """The alert store of the same backend (a check's findings go there)."""

    @abc.abstractmethod
    def insert(
        self, name: str, kind: str, target: str, spec: dict[str, Any], every: float | None
    ) -> Monitor: ...

    @abc.abstractmethod
    def get(self, name: str) -> Monitor: ...

    @abc.abstractmethod
    def monitors(self) -> list[Monitor]:
        """Every monitor, by name."""

    @abc.abstractmethod
    def set_enabled(self, name: str, enabled: bool) -> Monitor: ...

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """The monitor with its checks, results and alerts."""

    @abc.abstractmethod
    def record_check(
        self,
        monitor: Monitor,
        record: CheckRecord,
        results: Sequence[Result],
        findings: Mapping[str, Finding | None] | None,
    ) -> tuple[int, list[Notice]]:
        """Store a check and its results and apply its findings (None: none, the check
        failed) to the monitor's alerts, in one transaction; the check's id and the notices
        to send. NotFound when the monitor was deleted meanwhile."""

    @abc.abstractmethod
    def checks(self, monitor: Monitor, limit: int) -> list[Check]:
        """The newest ``limit`` checks, newest first."""

    @abc.abstractmethod
    def results(
        self,
        monitor: Monitor,
        feature: str | None = None,
        metric: str | None = None,
        from_check: int | None = None,
    ) -> list[tuple[Any, ...]]:
        """Stored results (rows of ``RESULT_COLUMNS``), oldest first."""


class SqlMonitorStore(MonitorStore):
    """Monitors in the metadata database (SQLite or PostgreSQL). The constructor stores the
    database; nothing connects until a method runs."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._alerts = SqlAlertStore(database)

    @property
    def alerts(self) -> SqlAlertStore:
        return self._alerts

    def insert(
        self, name: str, kind: str, target: str, spec: dict[str, Any], every: float | None
    ) -> Monitor:
        now = time.time()
        taken = f"Monitor {name!r} exists; delete it first to redefine it."
        try:
            with self.database.write() as conn:
                if conn.scalar(select(MONITORS.c.id).where(MONITORS.c.name == name)):
                    raise Conflict(taken)
                conn.execute(
                    insert(MONITORS).values(
                        id=uuid.uuid4().hex, name=name, target_kind=kind, target=target,
                        spec=json.dumps(spec), every=every, enabled=True, created_at=now,
                        created_by=current_user(), updated_at=now, last_check_at=None,
                    )
                )  # fmt: skip
                after = {"target": f"{kind}:{target}", "every": every, **spec}
                append_audit(conn, "created", "monitor", name, after=after)
                return _read(conn, name)
        except IntegrityError as exc:  # created by someone else between our check and insert
            raise Conflict(taken) from exc

    def get(self, name: str) -> Monitor:
        with self.database.read() as conn:
            return _read(conn, name)

    def monitors(self) -> list[Monitor]:
        with self.database.read() as conn:
            rows = conn.execute(select(MONITORS).order_by(MONITORS.c.name)).all()
        return [_monitor(row) for row in rows]

    def set_enabled(self, name: str, enabled: bool) -> Monitor:
        with self.database.write() as conn:
            found = conn.execute(
                update(MONITORS)
                .where(MONITORS.c.name == name)
                .values(enabled=enabled, updated_at=time.time())
            )
            if not found.rowcount:
                raise NotFound(f"No monitor named {name!r}. Try: shipyard monitors list")
            append_audit(conn, "enabled" if enabled else "disabled", "monitor", name)
            return _read(conn, name)

    def delete(self, name: str) -> None:
        with self.database.write() as conn:
            monitor = _read(conn, name)
            for table in (ALERTS, RESULTS, CHECKS):
                conn.execute(delete(table).where(table.c.monitor_id == monitor.id))
            conn.execute(delete(MONITORS).where(MONITORS.c.id == monitor.id))
            append_audit(conn, "deleted", "monitor", name, before={"target": monitor.target})

    def record_check(
        self,
        monitor: Monitor,
        record: CheckRecord,
        results: Sequence[Result],
        findings: Mapping[str, Finding | None] | None,
    ) -> tuple[int, list[Notice]]:
        with self.database.write() as conn:
            locked = select(MONITORS.c.id).where(MONITORS.c.id == monitor.id).with_for_update()
            if conn.scalar(locked) is None:
                raise NotFound(f"Monitor {monitor.name!r} was deleted while it was being checked.")
            check_id = _insert_check(conn, monitor, record)
            values = [
                {
                    "check_id": check_id, "monitor_id": monitor.id, "at": record.at,
                    "detector": detector, "feature": feature, "metric": metric, "value": value,
                    "threshold": threshold, "flagged": flagged,
                }
                for detector, feature, metric, value, threshold, flagged in results
            ]  # fmt: skip
            if values:
                conn.execute(insert(RESULTS), values)
            notices = (
                [] if findings is None
                else self._alerts.apply_findings(conn, monitor, check_id, findings, record.at)
            )  # fmt: skip
            conn.execute(
                update(MONITORS).where(MONITORS.c.id == monitor.id).values(last_check_at=record.at)
            )
        return check_id, notices

    def checks(self, monitor: Monitor, limit: int) -> list[Check]:
        with self.database.read() as conn:
            rows = conn.execute(
                select(CHECKS)
                .where(CHECKS.c.monitor_id == monitor.id)
                .order_by(CHECKS.c.id.desc())
                .limit(limit)
            ).all()
        return [_check(monitor.name, row) for row in rows]

    def results(
        self,
        monitor: Monitor,
        feature: str | None = None,
        metric: str | None = None,
        from_check: int | None = None,
    ) -> list[tuple[Any, ...]]:
        query = select(*(RESULTS.c[c] for c in RESULT_COLUMNS)).where(
            RESULTS.c.monitor_id == monitor.id
        )
        if feature is not None:
            query = query.where(RESULTS.c.feature == feature)
        if metric is not None:
            query = query.where(RESULTS.c.metric == metric)
        if from_check is not None:
            query = query.where(RESULTS.c.check_id >= from_check)
        with self.database.read() as conn:
            rows = conn.execute(query.order_by(RESULTS.c.at, RESULTS.c.check_id)).all()
        return [tuple(r) for r in rows]


def _insert_check(conn: Connection, monitor: Monitor, record: CheckRecord) -> int:
    result = conn.execute(
        insert(CHECKS).values(
            monitor_id=monitor.id,
            at=record.at,
            status=record.status,
            window_start=record.window_start,
            window_end=record.window_end,
            rows=record.rows,
            reference_rows=record.reference_rows,
            detail=json.dumps(record.detail, default=_json_default, allow_nan=False),
            seconds=record.seconds,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (np.integer, np.floating)):
        number = value.item()
        return None if isinstance(number, float) and not math.isfinite(number) else number
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _read(conn: Connection, name: str) -> Monitor:
    row = conn.execute(select(MONITORS).where(MONITORS.c.name == name)).first()
    if row is None:
        raise NotFound(f"No monitor named {name!r}. Try: shipyard monitors list")
    return _monitor(row)


def _monitor(row: Any) -> Monitor:
    spec = json.loads(row.spec)
    return Monitor(
        id=row.id,
        name=row.name,
        target_kind=row.target_kind,
        target=row.target,
        reference=spec["reference"],
        window=spec["window"],
        detectors=tuple(spec["detectors"]),
        every=row.every,
        channels=tuple(spec["channels"]),
        cooldown=spec["cooldown"],
        drift_share=spec["drift_share"],
        thresholds=spec["thresholds"],
        categorical=tuple(spec["categorical"]),
        metric=spec["metric"],
        metric_threshold=spec["metric_threshold"],
        min_rows=spec["min_rows"],
        weighted=spec.get("weighted", True),
        on_alert=tuple(spec.get("on_alert", ())),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        last_check_at=row.last_check_at,
    )


def _check(name: str, row: Any) -> Check:
    detail = json.loads(row.detail)
    return Check(
        int(row.id), name, row.at, row.status, row.rows, row.reference_rows,
        row.window_start, row.window_end, row.seconds, detail.get("detectors", {}),
        detail.get("error", ""),
    )  # fmt: skip
