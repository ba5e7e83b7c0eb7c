"""Experiments, runs, params, tags, metric series and artifact records in the metadata store.

Writes take batches (metric points arrive buffered by the client, params as a dict), each
batch one transaction. Returned objects are frozen snapshots. Thread-safe.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from shipyard import _validate as check
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import Blob, Database
from shipyard.tracking import _rows
from shipyard.tracking._backend import RawPoint, TrackingBackend
from shipyard.tracking._process import ProcessInfo, is_alive
from shipyard.tracking._search import search
from shipyard.tracking._tables import (
    ARTIFACTS,
    EXPERIMENTS,
    LATEST,
    METRICS,
    PARAMS,
    RUNS,
    TAGS,
)
from shipyard.tracking._types import (
    ArtifactInfo,
    Experiment,
    ExperimentId,
    LatestMetric,
    Point,
    RunData,
    RunId,
    RunInfo,
    RunsPage,
)


class TrackingStore(TrackingBackend):
    """Tracking records in a :class:`~shipyard.store.Database` (SQLite, PostgreSQL, memory).

    Thread-safe. The constructor only stores its arguments (``heartbeat_timeout``: seconds
    without a heartbeat after which a running run is reaped as killed).
    """

    def __init__(self, db: Database, heartbeat_timeout: float = 30.0) -> None:
        self.db = db
        self.heartbeat_timeout = heartbeat_timeout
        self._experiments: dict[str, Experiment] = {}

    # -- experiments -------------------------------------------------------------------

    def experiment(self, name: str, *, create: bool = True) -> Experiment:
        """The experiment called ``name``, created when missing (safe across processes).

        Experiments are never renamed, so a name once resolved is remembered.
        """
        known = self._experiments.get(name)
        if known is not None:
            return known
        with self.db.read() as conn:
            row = conn.execute(select(EXPERIMENTS).where(EXPERIMENTS.c.name == name)).first()
        if row is not None:
            found = _rows.experiment(row)
            self._experiments[name] = found
            return found
        if not create:
            raise NotFound(f"No experiment named {name!r}. Try: shipyard experiments list")
        new_id = ExperimentId(uuid.uuid4().hex)
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(EXPERIMENTS).values(id=new_id, name=name, created_at=time.time())
                )
        except SAIntegrityError:
            pass  # another process created it first: read theirs
        return self.experiment(name, create=False)

    def get_experiment(self, name_or_id: str) -> Experiment:
        """An experiment by name or id."""
        with self.db.read() as conn:
            row = conn.execute(
                select(EXPERIMENTS).where(
                    (EXPERIMENTS.c.name == name_or_id) | (EXPERIMENTS.c.id == name_or_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"No experiment named {name_or_id!r}. Try: shipyard experiments list")
        return _rows.experiment(row)

    def list_experiments(self) -> list[Experiment]:
        """Every experiment with its number of (not deleted) runs, oldest first."""
        counts = (
            select(RUNS.c.experiment_id, func.count().label("n"))
            .where(RUNS.c.deleted_at.is_(None))
            .group_by(RUNS.c.experiment_id)
            .subquery()
        )
        query = (
            select(EXPERIMENTS, func.coalesce(counts.c.n, 0).label("run_count"))
            .outerjoin(counts, counts.c.experiment_id == EXPERIMENTS.c.id)
            .order_by(EXPERIMENTS.c.created_at)
        )
        with self.db.read() as conn:
            return [_rows.experiment(row) for row in conn.execute(query)]

    # -- run lifecycle -----------------------------------------------------------------

    def create_run(
        self,
        experiment_id: ExperimentId,
        name: str,
        *,
        parent_id: RunId | None,
        process: ProcessInfo,
        source: Mapping[str, Any],
        environment: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        start_time: float | None = None,
    ) -> RunInfo:
        """Insert a running run (and its initial tags) in one transaction."""
        now = time.time() if start_time is None else start_time
        run_id = RunId(uuid.uuid4().hex)
        values = {
            "id": run_id,
            "experiment_id": experiment_id,
            "parent_id": parent_id,
            "name": name,
            "status": "running",
            "start_time": now,
            "end_time": None,
            "heartbeat_at": now,
            "host": process.host,
            "pid": process.pid,
            "process_started": process.started,
            "source_commit": source.get("commit"),
            "source_dirty": source.get("dirty"),
            "entry_point": source.get("entry_point"),
            "environment": json.dumps(dict(environment), sort_keys=True),
            "deleted_at": None,
        }
        with self.db.write() as conn:
            if parent_id is not None:
                self._require_run(conn, parent_id)
            conn.execute(_rows.INSERT_RUN, values)
            if tags:
                conn.execute(
                    _rows.INSERT_TAGS,
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
                )
        return _rows.run_info(values)

    def resume_run(self, run_id: RunId, process: ProcessInfo) -> RunInfo:
        """Mark an existing run running again, owned by ``process``."""
        now = time.time()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(
                    status="running",
                    end_time=None,
                    heartbeat_at=now,
                    host=process.host,
                    pid=process.pid,
                    process_started=process.started,
                )
            )
            row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).one()
        return _rows.run_info(dict(row._mapping))

    def heartbeat(self, run_ids: Sequence[RunId], now: float | None = None) -> None:
        """Record that the processes owning ``run_ids`` are alive."""
        if not run_ids:
            return
        with self.db.write() as conn:
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id.in_(run_ids), RUNS.c.status == "running")
                .values(heartbeat_at=time.time() if now is None else now)
            )

    def reap(self, now: float | None = None) -> list[RunId]:
        """Mark running runs whose process is gone as killed; returns their ids.

        A run is dead when its heartbeat is older than ``heartbeat_timeout``, or at once when
        it belongs to a process on this host that no longer exists. The end time is the last
        heartbeat. Reads first and writes only when something died.
        """
        now = time.time() if now is None else now
        me = ProcessInfo.current()
        cutoff = now - self.heartbeat_timeout
        query = select(
            RUNS.c.id, RUNS.c.pid, RUNS.c.process_started, RUNS.c.host, RUNS.c.heartbeat_at
        ).where(
            RUNS.c.status == "running",
            (RUNS.c.heartbeat_at < cutoff) | (RUNS.c.host == me.host),
        )
        with self.db.read() as conn:
            candidates = conn.execute(query).all()
        dead = [
            row
            for row in candidates
            if row.heartbeat_at < cutoff
            or (row.host == me.host and not is_alive(row.pid, row.process_started))
        ]
        if not dead:
            return []
        with self.db.write() as conn:
            for row in dead:
                conn.execute(
                    update(RUNS)
                    .where(
                        RUNS.c.id == row.id,
                        RUNS.c.status == "running",
                        RUNS.c.heartbeat_at == row.heartbeat_at,
                    )
                    .values(status="killed", end_time=row.heartbeat_at)
                )
        return [RunId(row.id) for row in dead]

    def delete_run(self, run_id: RunId, *, purge: bool = False) -> list[RunId]:
        """Delete a run and its child runs (soft: hidden from searches; ``purge``: removed).

        Artifact content stays in the artifact store (it may be shared with other runs).
        Returns the ids deleted.
        """
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            ids = [run_id]
            frontier = [run_id]
            while frontier:
                frontier = [
                    RunId(r)
                    for r in conn.scalars(select(RUNS.c.id).where(RUNS.c.parent_id.in_(frontier)))
                ]
                ids.extend(frontier)
            if purge:
                for table in (ARTIFACTS, LATEST, METRICS, TAGS, PARAMS):
                    conn.execute(delete(table).where(table.c.run_id.in_(ids)))
                conn.execute(delete(RUNS).where(RUNS.c.id.in_(ids)))
            else:
                conn.execute(update(RUNS).where(RUNS.c.id.in_(ids)).values(deleted_at=time.time()))
        return ids

    # -- params, tags, metrics, artifacts ----------------------------------------------

    def log_params(self, run_id: RunId, params: Mapping[str, str], _retry: bool = True) -> None:
        """Record params; one already stored with another value is a :class:`Conflict`.

        Re-logging the same value is a no-op. Nothing is written when any value conflicts.
        """
        if not params:
            return
        try:
            with self.db.write() as conn:
                stored = dict(
                    conn.execute(_rows.SELECT_PARAMS, {"rid": run_id, "keys": list(params)}).all()
                )
                _rows.check_param_conflicts(run_id, stored, params)
                new = [
                    {"run_id": run_id, "key": k, "value": v}
                    for k, v in params.items()
                    if k not in stored
                ]
                if new:
                    conn.execute(_rows.INSERT_PARAMS, new)
        except SAIntegrityError as exc:  # no such run, or a concurrent writer won the race
            with self.db.read() as conn:
                self._require_run(conn, run_id)
                stored = dict(
                    conn.execute(
                        select(PARAMS.c.key, PARAMS.c.value).where(PARAMS.c.run_id == run_id)
                    ).all()
                )
            _rows.check_param_conflicts(run_id, stored, params)
            if _retry:  # the racing writer stored the same values: store the rest, once more
                self.log_params(run_id, params, _retry=False)
                return
            raise Conflict(f"Params of run {run_id} changed concurrently: {exc.orig}") from exc

    def set_tags(self, run_id: RunId, tags: Mapping[str, str]) -> None:
        """Set tags, replacing any previous value of the same key."""
        if not tags:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(delete(TAGS).where(TAGS.c.run_id == run_id, TAGS.c.key.in_(list(tags))))
            conn.execute(
                insert(TAGS), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
            )

    def write_metrics(
        self,
        run_id: RunId,
        points: Sequence[RawPoint],
        heartbeat_at: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Append metric points (one transaction) and keep each key's latest point; a
        ``batch_id`` the run already has is a batch written before: not written again."""
        if not points:
            return
        with self._run_must_exist(run_id), self.db.write() as conn:
            if _rows.claim_batch(conn, self.db.dialect, run_id, batch_id):
                _rows.write_points(conn, self.db.dialect, run_id, points)
            if heartbeat_at is not None:
                conn.execute(
                    update(RUNS)
                    .where(RUNS.c.id == run_id, RUNS.c.status == "running")
                    .values(heartbeat_at=heartbeat_at)
                )

    def finish_run(
        self,
        run_id: RunId,
        status: str,
        points: Sequence[RawPoint] = (),
        end_time: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Write the last metric points (unless the run has ``batch_id`` already) and the
        final status in one transaction."""
        check.final_status(status)
        with self._run_must_exist(run_id), self.db.write() as conn:
            if points and _rows.claim_batch(conn, self.db.dialect, run_id, batch_id):
                _rows.write_points(conn, self.db.dialect, run_id, points)
            conn.execute(
                _rows.FINISH_RUN,
                {"rid": run_id, "st": status, "et": time.time() if end_time is None else end_time},
            )

    def read_metrics(self, run_id: RunId, key: str) -> list[Point]:
        """Every point of one metric of a run, by step then time."""
        query = (
            select(METRICS.c.key, METRICS.c.value, METRICS.c.step, METRICS.c.timestamp)
            .where(METRICS.c.run_id == run_id, METRICS.c.key == key)
            .order_by(METRICS.c.step, METRICS.c.timestamp, METRICS.c.id)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_run(conn, run_id)
        return [Point(r.key, r.value, r.step, r.timestamp) for r in rows]

    def add_artifacts(self, run_id: RunId, entries: Iterable[tuple[str, Blob, str]]) -> None:
        """Record (path, blob, kind) entries; a path logged again points at the new content."""
        by_path = {  # a path given twice in one call: the later entry, as in two calls
            path: {
                "run_id": run_id,
                "path": path,
                "digest": blob.digest,
                "size": blob.size,
                "kind": kind,
                "created_at": time.time(),
            }
            for path, blob, kind in entries
        }
        rows = list(by_path.values())
        if not rows:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                delete(ARTIFACTS).where(
                    ARTIFACTS.c.run_id == run_id, ARTIFACTS.c.path.in_([r["path"] for r in rows])
                )
            )
            conn.execute(insert(ARTIFACTS), rows)

    # -- reading runs ------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunData:
        """A run with its params, tags, latest metrics, artifacts and children.

        ``run_id`` may be a unique prefix of at least 6 characters of the id.
        """
        self.reap()
        with self.db.read() as conn:
            row = self._find_run(conn, run_id)
            rid = RunId(row.id)
            params = dict(
                conn.execute(
                    select(PARAMS.c.key, PARAMS.c.value).where(PARAMS.c.run_id == rid)
                ).all()
            )
            tags = dict(
                conn.execute(select(TAGS.c.key, TAGS.c.value).where(TAGS.c.run_id == rid)).all()
            )
            metrics = {
                m.key: LatestMetric(m.key, m.value, m.step, m.timestamp, m._mapping["count"])
                for m in conn.execute(
                    select(LATEST).where(LATEST.c.run_id == rid).order_by(LATEST.c.key)
                )
            }
            artifacts = [
                ArtifactInfo(a.path, a.digest, a.size, a.kind, a.created_at)
                for a in conn.execute(
                    select(ARTIFACTS).where(ARTIFACTS.c.run_id == rid).order_by(ARTIFACTS.c.path)
                )
            ]
            children = [
                RunId(c)
                for c in conn.scalars(
                    select(RUNS.c.id)
                    .where(RUNS.c.parent_id == rid, RUNS.c.deleted_at.is_(None))
                    .order_by(RUNS.c.start_time)
                )
            ]
            experiment = conn.scalar(
                select(EXPERIMENTS.c.name).where(EXPERIMENTS.c.id == row.experiment_id)
            )
        return RunData(
            _rows.run_info(dict(row._mapping)),
            str(experiment),
            params,
            tags,
            metrics,
            artifacts,
            children,
        )

    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> RunsPage:
        """One page of matching runs: a query for the page (keyset-paged), three for values."""
        return search(
            self,
            self.db,
            experiments,
            filter,
            order_by,
            max_results,
            page_token,
            columns,
            include_deleted,
        )

    def _find_run(self, conn: Connection, run_id: str) -> Row[Any]:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
        if row is None and 6 <= len(run_id) < 32:
            matches = conn.execute(
                select(RUNS).where(RUNS.c.id.startswith(run_id, autoescape=True)).limit(2)
            ).all()
            if len(matches) == 2:
                raise InvalidInput(f"Run id prefix {run_id!r} matches several runs; give more.")
            row = matches[0] if matches else None
        if row is None:
            raise NotFound(f"No run with id {run_id!r}. Try: shipyard runs list")
        return row

    @contextmanager
    def _run_must_exist(self, run_id: str) -> Iterator[None]:
        """Turn a foreign-key failure (the run was purged meanwhile) into :class:`NotFound`."""
        try:
            yield
        except SAIntegrityError as exc:
            raise NotFound(
                f"Run {run_id} no longer exists (it was deleted); nothing was written."
            ) from exc

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.scalar(select(RUNS.c.id).where(RUNS.c.id == run_id)) is None:
            raise NotFound(f"No run with id {run_id!r}. Try: shipyard runs list")
