"""Evidence pooled in the metadata store (SQLite or PostgreSQL): one transaction a push.

A push upserts the request rows first (tickets and feedback by request id, sorted: the
first label and reward posted are kept, ``coalesce``), then credits the requests that now
have a ticket and uncounted feedback with ``UPDATE ... SET label_counted = true WHERE NOT
label_counted RETURNING ...`` (so a label is counted once however many processes race for
it), then adds deltas and credits to the counts, sorted (``INSERT ... ON CONFLICT DO
UPDATE SET value = value + excluded.value``). Rows are always locked in that order, so two
pushes on PostgreSQL wait for each other rather than deadlock; SQLite takes its write lock
up front. Request rows older than ``ticket_ttl`` or beyond ``max_tickets`` per deployment
are deleted every ``prune_every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.serving._evidence import (
    MAX_TICKETS,
    TICKET_TTL,
    Batch,
    EvidenceStore,
    Key,
    counts_of,
    credit,
    period_of,
    stats_of,
)
from shipyard.serving._stats import RouteStats
from shipyard.serving._tables import EVIDENCE_COUNTS, EVIDENCE_PERIODS, EVIDENCE_REQUESTS
from shipyard.store import Database

__all__ = ["SqlEvidence"]

_CHUNK = 500  # ids per IN (...) list

COUNTS, REQUESTS, PERIODS = EVIDENCE_COUNTS, EVIDENCE_REQUESTS, EVIDENCE_PERIODS


class SqlEvidence(EvidenceStore):
    """Evidence in the metadata store ``database`` (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        ticket_ttl: float = TICKET_TTL,
        max_tickets: int = MAX_TICKETS,
        prune_every: float = 60.0,
    ) -> None:
        self.database = database
        self.ticket_ttl = ticket_ttl
        self.max_tickets = max_tickets
        self.prune_every = prune_every
        self._pruned: dict[str, float] = {}

    def _insert(self, conn: Connection, table: Any) -> Any:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def push(self, deployment: str, batch: Batch) -> None:
        rows = _request_rows(deployment, batch)
        counts: dict[tuple[str, str, str], float] = {}
        for (route, period), delta in batch.deltas.items():
            for name, value in counts_of(delta).items():
                counts[(route, period, name)] = counts.get((route, period, name), 0.0) + value
        with self.database.write() as conn:
            if rows:
                owed = self._upsert_requests(conn, rows)
                for (route, period), stats in self._credit(conn, deployment, owed).items():
                    for name, value in counts_of(stats).items():
                        at = (route, period, name)
                        counts[at] = counts.get(at, 0.0) + value
            if counts:
                self._add_counts(conn, deployment, counts)
            self._prune(conn, deployment)

    def _upsert_requests(self, conn: Connection, rows: list[dict[str, Any]]) -> list[str]:
        """Upsert the request rows; the ids that now have a ticket and feedback not yet
        counted (usually only those this push brings feedback for: crediting every new
        ticket's id was most of a push's cost)."""
        stmt = self._insert(conn, REQUESTS)
        new, old = stmt.excluded, REQUESTS.c
        kept = {  # the latest ticket (a request id used again), the first feedback
            **{n: func.coalesce(new[n], old[n]) for n in ("route", "period", "prediction")},
            **{n: func.coalesce(old[n], new[n]) for n in ("label", "reward")},
        }
        c = REQUESTS.c
        upsert = stmt.on_conflict_do_update(
            index_elements=["deployment_id", "request_id"], set_=kept
        ).returning(c.request_id, c.route, c.label, c.reward, c.label_counted, c.reward_counted)
        return [
            request_id
            for request_id, route, label, reward, label_counted, reward_counted in conn.execute(
                upsert, rows
            )
            if route is not None
            and (
                (label is not None and not label_counted)
                or (reward is not None and not reward_counted)
            )
        ]

    def _credit(self, conn: Connection, deployment: str, ids: list[str]) -> dict[Key, RouteStats]:
        """Mark every request of ``ids`` that has a ticket and uncounted feedback counted,
        and return what to credit where."""
        found: dict[Key, RouteStats] = {}
        ids = sorted(ids)  # rows locked in one order
        c = REQUESTS.c
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            mine = and_(
                c.deployment_id == deployment, c.request_id.in_(chunk), c.route.is_not(None)
            )
            labels = conn.execute(
                update(REQUESTS)
                .where(mine, c.label.is_not(None), c.label_counted.is_(False))
                .values(label_counted=True)
                .returning(c.route, c.period, c.prediction, c.label)
            ).all()
            for route, period, prediction, label in labels:
                credit(found.setdefault((route, period), RouteStats()), prediction, label, None)
            rewards = conn.execute(
                update(REQUESTS)
                .where(mine, c.reward.is_not(None), c.reward_counted.is_(False))
                .values(reward_counted=True)
                .returning(c.route, c.period, c.prediction, c.reward)
            ).all()
            for route, period, prediction, reward in rewards:
                credit(found.setdefault((route, period), RouteStats()), prediction, None, reward)
        return found

    def _add_counts(
        self, conn: Connection, deployment: str, counts: dict[tuple[str, str, str], float]
    ) -> None:
        stmt = self._insert(conn, COUNTS)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["deployment_id", "route", "period", "field"],
                set_={"value": COUNTS.c.value + stmt.excluded.value},
            ),
            [
                {"deployment_id": deployment, "route": r, "period": p, "field": f, "value": v}
                for (r, p, f), v in sorted(counts.items())
            ],
        )

    def _prune(self, conn: Connection, deployment: str) -> None:
        now = time.time()
        if now - self._pruned.get(deployment, 0.0) < self.prune_every:
            return
        self._pruned[deployment] = now
        c = REQUESTS.c
        mine = c.deployment_id == deployment
        oldest_kept = (
            select(c.at).where(mine).order_by(c.at.desc()).offset(self.max_tickets).limit(1)
        ).scalar_subquery()
        conn.execute(
            delete(REQUESTS).where(mine, or_(c.at < now - self.ticket_ttl, c.at <= oldest_kept))
        )

    def totals(self, deployment: str, keys: Collection[Key]) -> dict[Key, RouteStats]:
        keys = list(keys)
        found: dict[Key, dict[str, float]] = {key: {} for key in keys}
        if not keys:
            return {}
        c = COUNTS.c
        with self.database.read() as conn:
            rows = conn.execute(
                select(c.route, c.period, c.field, c.value).where(
                    c.deployment_id == deployment, tuple_(c.route, c.period).in_(keys)
                )
            ).all()
        for route, period, name, value in rows:
            found[(route, period)][name] = value
        return {key: stats_of(counts) for key, counts in found.items()}

    def lookup(self, deployment: str, ids: Sequence[str]) -> dict[str, Key]:
        c = REQUESTS.c
        found: dict[str, Key] = {}
        with self.database.read() as conn:
            for start in range(0, len(ids), _CHUNK):
                rows = conn.execute(
                    select(c.request_id, c.route, c.period).where(
                        c.deployment_id == deployment,
                        c.request_id.in_(ids[start : start + _CHUNK]),
                        c.route.is_not(None),
                    )
                ).all()
                found.update({i: (r, p) for i, r, p in rows})
        return found

    def forget(self, deployment: str) -> None:
        with self.database.write() as conn:
            for table in (COUNTS, REQUESTS, PERIODS):
                conn.execute(delete(table).where(table.c.deployment_id == deployment))

    def begin(self, deployment: str, epoch: str, revision: int) -> str:
        with self.database.write() as conn:
            known = conn.execute(
                select(PERIODS.c.epoch, PERIODS.c.start)
                .where(PERIODS.c.deployment_id == deployment)
                .with_for_update()
            ).first()
            if known is not None and known.epoch == epoch:
                return period_of(known.start, epoch)
            if known is None:
                conn.execute(
                    self._insert(conn, PERIODS)
                    .values(deployment_id=deployment, epoch=epoch, start=revision)
                    .on_conflict_do_nothing()
                )
            elif known.start < revision:
                conn.execute(
                    update(PERIODS)
                    .where(PERIODS.c.deployment_id == deployment)
                    .values(epoch=epoch, start=revision)
                )
        return period_of(revision, epoch)


def _request_rows(deployment: str, batch: Batch) -> list[dict[str, Any]]:
    """One row per request id of the batch (its ticket and feedback merged: the first of
    each kept), sorted by id."""
    rows: dict[str, dict[str, Any]] = {}
    now = time.time()

    def row(request_id: str) -> dict[str, Any]:
        return rows.setdefault(
            request_id,
            {
                "deployment_id": deployment, "request_id": request_id, "route": None,
                "period": None, "prediction": None, "label": None, "reward": None,
                "label_counted": False, "reward_counted": False, "at": now,
            },
        )  # fmt: skip

    for request_id, stamp in batch.tickets:
        row(request_id).update(route=stamp.route, period=stamp.period, prediction=stamp.prediction)
    for item in batch.feedback:
        found = row(item.request_id)
        if found["label"] is None and item.label is not None:
            found["label"] = item.label
        if found["reward"] is None and item.reward is not None:
            found["reward"] = item.reward
    return [rows[i] for i in sorted(rows)]
