"""Where schedules and their firings are kept, and how a firing is claimed.

A firing is claimed in ONE transaction that (1) moves the schedule's cursor from the value
the scheduler read to the next one (compare-and-set: a scheduler that read an older cursor
changes nothing), (2) inserts the firing row (unique per schedule and key) and (3) creates
the queued run. Two schedulers on one store therefore never queue the same firing twice,
and a scheduler killed at any point leaves either all three or none.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines._records import PipelineVersion
from shipyard.pipelines._store import PipelineStore
from shipyard.pipelines._tables import FIRINGS, RUNS, SCHEDULES
from shipyard.store import Database, append_audit

__all__ = ["Lost", "Schedule", "ScheduleStore", "dumps"]

#: The kinds of schedule: a cron, a trigger, and a monitor's ``on_alert`` (kept by the
#: scheduler itself, one per monitor and pipeline).
KINDS = ("cron", "trigger", "monitor")


def dumps(value: Any) -> str:
    """JSON with sorted keys: one text per value (the cursor is compared as text)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class Schedule:
    """What starts a pipeline on its own: a cron in a time zone, or a trigger (``on``:
    ``dataset:NAME``, ``model:NAME``, ``alert:MONITOR``, ``labels:DEPLOYMENT`` with
    ``rows``); ``cursor`` is what it handled last."""

    id: str
    pipeline: str
    kind: str
    cron: str | None
    timezone: str | None
    on: str | None
    rows: int | None
    params: dict[str, Any]
    enabled: bool
    cursor: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Lost(Exception):
    """Another scheduler moved the schedule's cursor first: read it again."""


_PIPELINE = select(SCHEDULES.c.pipeline)


class ScheduleStore:
    """Schedules and firings in the metadata database. Thread-safe."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def insert(self, schedule: Schedule, *, exist_ok: bool = False) -> Schedule:
        """Store a new schedule (``exist_ok``: an id already there is kept as it is)."""
        values = {**schedule.to_dict(), "threshold": schedule.rows}
        del values["rows"]
        values["params"] = dumps(schedule.params)
        values["cursor"] = dumps(schedule.cursor)
        try:
            with self.db.write() as conn:
                conn.execute(insert(SCHEDULES).values(**values))
                after = {**schedule.to_dict(), "id": schedule.id}
                append_audit(conn, "schedule-created", "pipeline", schedule.pipeline, after=after)
        except IntegrityError:
            if not exist_ok:
                raise
        return self.get(schedule.id)

    def get(self, schedule_id: str) -> Schedule:
        """One schedule (NotFound naming the id)."""
        with self.db.read() as conn:
            row = conn.execute(select(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).first()
        if row is None:
            raise NotFound(f"No schedule {schedule_id!r}. Try: shipyard pipelines schedules")
        return _schedule(row)

    def schedules(self, pipeline: str | None = None) -> list[Schedule]:
        """Every schedule, oldest first (``pipeline`` filters)."""
        query = select(SCHEDULES).order_by(SCHEDULES.c.created_at, SCHEDULES.c.id)
        if pipeline is not None:
            query = query.where(SCHEDULES.c.pipeline == pipeline)
        with self.db.read() as conn:
            return [_schedule(row) for row in conn.execute(query)]

    def delete(self, schedule_id: str) -> None:
        """Delete a schedule with its firings (the runs stay)."""
        with self.db.write() as conn:
            conn.execute(delete(FIRINGS).where(FIRINGS.c.schedule_id == schedule_id))
            pipeline = conn.scalar(
                select(SCHEDULES.c.pipeline).where(SCHEDULES.c.id == schedule_id)
            )
            if not conn.execute(delete(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).rowcount:
                raise NotFound(f"No schedule {schedule_id!r}. Try: shipyard pipelines schedules")
            before = {"id": schedule_id}
            append_audit(conn, "schedule-deleted", "pipeline", str(pipeline), before=before)

    def set_enabled(self, schedule_id: str, enabled: bool) -> Schedule:
        """Pause or resume a schedule."""
        with self.db.write() as conn:
            done = conn.execute(
                update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(enabled=enabled)
            )
            pipeline = conn.scalar(
                select(SCHEDULES.c.pipeline).where(SCHEDULES.c.id == schedule_id)
            )
            if done.rowcount and pipeline is not None:
                action = "schedule-resumed" if enabled else "schedule-paused"
                append_audit(conn, action, "pipeline", pipeline, after={"id": schedule_id})
        return self.get(schedule_id)

    def set_cursor(self, schedule: Schedule, cursor: Mapping[str, Any]) -> None:
        """Move a schedule's cursor whatever it holds (a resumed cron starts from now)."""
        with self.db.write() as conn:
            conn.execute(
                update(SCHEDULES).where(SCHEDULES.c.id == schedule.id).values(cursor=dumps(cursor))
            )

    # -- claiming ----------------------------------------------------------------------------

    def fire(
        self,
        pipelines: PipelineStore,
        schedule: Schedule,
        key: str,
        cursor: Mapping[str, Any],
        version: PipelineVersion,
        trigger: Mapping[str, Any],
        claimed_by: str,
    ) -> str | None:
        """Claim the firing ``key`` and queue its run, moving the cursor to ``cursor``; the
        run's id, or None when the key fired before (the cursor then moves alone).

        Raises:
            Lost: the cursor is not the one ``schedule`` holds (another scheduler moved it).
        """

        def claim(conn: Connection, run_id: str) -> None:
            self._move(conn, schedule, cursor)
            conn.execute(
                insert(FIRINGS).values(
                    schedule_id=schedule.id,
                    key=key,
                    fired_at=time.time(),
                    run_id=run_id,
                    claimed_by=claimed_by,
                )
            )

        try:
            return pipelines.create_run(
                version,
                [],
                status="queued",
                params={**version.params, **schedule.params},
                trigger={**trigger, "schedule": schedule.id, "firing": key},
                executor="local",
                options={"cache": True, "workers": None, "address": None},
                created_by=f"scheduler {claimed_by}",
                also=claim,
            )
        except IntegrityError:  # the key fired before: only move the cursor
            self.record(schedule, None, claimed_by, cursor)
            return None

    def record(
        self,
        schedule: Schedule,
        key: str | None,
        claimed_by: str,
        cursor: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record a firing without a run (a skipped range, a resume claimed) and/or move the
        cursor; whether the key was new (False: someone recorded it first).

        Raises:
            Lost: ``cursor`` is given and another scheduler moved the cursor first.
        """
        try:
            with self.db.write() as conn:
                if cursor is not None:
                    self._move(conn, schedule, cursor)
                if key is not None:
                    conn.execute(
                        insert(FIRINGS).values(
                            schedule_id=schedule.id,
                            key=key,
                            fired_at=time.time(),
                            run_id=None,
                            claimed_by=claimed_by,
                        )
                    )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _move(conn: Connection, schedule: Schedule, cursor: Mapping[str, Any]) -> None:
        moved = conn.execute(
            update(SCHEDULES)
            .where(SCHEDULES.c.id == schedule.id, SCHEDULES.c.cursor == dumps(schedule.cursor))
            .values(cursor=dumps(cursor))
        )
        if moved.rowcount != 1:
            raise Lost(schedule.id)

    # -- reading firings ---------------------------------------------------------------------

    def firings(
        self, schedule_id: str | None = None, limit: int = 1000, newest: bool = False
    ) -> list[dict[str, Any]]:
        """Firings, oldest first (``newest``: the newest ``limit``, newest first): schedule
        id, key, when, run id, who claimed it."""
        order = FIRINGS.c.id.desc() if newest else FIRINGS.c.id
        query = select(FIRINGS).order_by(order).limit(limit)
        if schedule_id is not None:
            query = query.where(FIRINGS.c.schedule_id == schedule_id)
        with self.db.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def origin(self, run_id: str, depth: int = 50) -> str | None:
        """The schedule whose firing started ``run_id`` (or the run it resumes, and so on);
        None for a run nobody's schedule started."""
        with self.db.read() as conn:
            for _ in range(depth):
                found = conn.scalar(select(FIRINGS.c.schedule_id).where(FIRINGS.c.run_id == run_id))
                if found is not None:
                    return str(found)
                before = conn.scalar(select(RUNS.c.resumed_from).where(RUNS.c.id == run_id))
                if before is None:
                    return None
                run_id = str(before)
        return None

    def running(self) -> list[str]:
        """The ids of the runs now running."""
        with self.db.read() as conn:
            return list(conn.scalars(select(RUNS.c.id).where(RUNS.c.status == "running")))


def new_id() -> str:
    """A new schedule's id."""
    return uuid.uuid4().hex


def _schedule(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        pipeline=row.pipeline,
        kind=row.kind,
        cron=row.cron,
        timezone=row.timezone,
        on=row.on,
        rows=row.threshold,
        params=json.loads(row.params),
        enabled=bool(row.enabled),
        cursor=json.loads(row.cursor or "{}"),
        created_at=row.created_at,
    )


def check_id(schedule_id: object) -> str:
    """A schedule id as given (InvalidInput otherwise)."""
    if not isinstance(schedule_id, str) or not schedule_id:
        raise InvalidInput(f"schedule id must be a schedule's id; got {schedule_id!r}.")
    return schedule_id
