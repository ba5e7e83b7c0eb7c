"""The pipeline store: versions (through the registry core), runs and step runs, in SQL.

Every method is one short transaction on the :class:`~shipyard.store.Database` it was built
with. A run's step rows are written in batches (the coordinator buffers what finished and
flushes it with its heartbeat), so a 100-step chain costs a few statements per step.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from shipyard._refs import parse_ref
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.pipelines._records import (
    DONE,
    FINISHED,
    PipelineRun,
    PipelineVersion,
    run_record,
)
from shipyard.pipelines._tables import (
    ALIASES,
    EVENTS,
    PIPELINES,
    RUNS,
    STEPS,
    TAGS,
    VERSIONS,
)
from shipyard.pipelines._values import Stored
from shipyard.store import Database, RegistrySpec, VersionedRegistry, append_audit

__all__ = ["REGISTRY", "PipelineStore"]

REGISTRY = VersionedRegistry(
    RegistrySpec(
        kind="Pipeline",
        cli="pipelines",
        entities=PIPELINES,
        versions=VERSIONS,
        aliases=ALIASES,
        tags=TAGS,
        fk="pipeline_id",
        events=EVENTS,
        counter="next_version",
    )
)

_STEP_FIELDS = (
    "status",
    "attempts",
    "cache_key",
    "started_at",
    "ended_at",
    "error",
    "logs",
    "output_kind",
    "output_digest",
    "output_size",
    "output_inline",
    "output_meta",
    "tracking_run_id",
    "links",
    "source_run",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


class PipelineStore:
    """Pipelines, their versions and runs in the metadata store. Thread-safe."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- versions ----------------------------------------------------------------------

    def register(
        self,
        name: str,
        code_hash: str,
        entry: str,
        source_file: str | None,
        graph: list[dict[str, Any]],
        params: Mapping[str, Any],
        description: str | None = None,
        created_by: str | None = None,
    ) -> PipelineVersion:
        """The version of ``name`` with this code hash, registered now if it is new."""
        with self.db.write() as conn:
            entity_id = REGISTRY.lock_or_create(
                conn, name, {"description": description, "next_version": 1}
            )
            found = conn.scalar(
                select(VERSIONS.c.id).where(
                    VERSIONS.c.pipeline_id == entity_id, VERSIONS.c.code_hash == code_hash
                )
            )
            if found is None:
                found, number = REGISTRY.add_version(
                    conn,
                    entity_id,
                    {
                        "code_hash": code_hash,
                        "entry": entry,
                        "source_file": source_file,
                        "graph": _dumps(graph),
                        "params": _dumps(params),
                        "created_at": time.time(),
                        "created_by": created_by,
                    },
                )
                REGISTRY.event(
                    conn, entity_id, number, "registered", None, f"v{number}", created_by, None
                )
            return self._version(conn, found)

    def version(self, ref: str) -> PipelineVersion:
        """``name``, ``name@3``, ``name@latest`` or ``name@alias`` (NotFound otherwise)."""
        parsed = parse_ref("Pipeline", ref if "@" in ref else f"{ref}@latest")
        with self.db.read() as conn:
            return self._version(conn, REGISTRY.resolve(conn, parsed))

    def versions(self, name: str) -> list[PipelineVersion]:
        """Every version of pipeline ``name``, newest first (NotFound when there is none)."""
        with self.db.read() as conn:
            ids = REGISTRY.version_ids(conn, REGISTRY.entity_id(conn, name))
            return [self._version(conn, version_id) for version_id in ids]

    def version_by_id(self, version_id: str) -> PipelineVersion:
        with self.db.read() as conn:
            return self._version(conn, version_id)

    def _version(self, conn: Connection, version_id: str) -> PipelineVersion:
        row = REGISTRY.row(conn, version_id)
        return PipelineVersion(
            id=row.id,
            name=row.entity_name,
            version=row.version,
            code_hash=row.code_hash,
            entry=row.entry,
            source_file=row.source_file,
            graph=json.loads(row.graph),
            params=json.loads(row.params),
            created_at=row.created_at,
            created_by=row.created_by,
            aliases=REGISTRY.aliases_of(conn, version_id),
        )

    def pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline: name, versions, latest version, last run's status and time."""
        with self.db.read() as conn:
            rows = REGISTRY.summaries(conn)
            last = (
                select(RUNS.c.pipeline_id, func.max(RUNS.c.created_at).label("at"))
                .group_by(RUNS.c.pipeline_id)
                .subquery()
            )
            runs = {
                r.pipeline_id: r
                for r in conn.execute(
                    select(RUNS.c.pipeline_id, RUNS.c.status, RUNS.c.created_at).join(
                        last,
                        (last.c.pipeline_id == RUNS.c.pipeline_id)
                        & (last.c.at == RUNS.c.created_at),
                    )
                )
            }
        return [
            {
                "name": r.name,
                "versions": r.n or 0,
                "latest": r.latest,
                "description": r.description,
                "created_at": r.created_at,
                "last_run_status": runs[r.id].status if r.id in runs else None,
                "last_run_at": runs[r.id].created_at if r.id in runs else None,
            }
            for r in rows
        ]

    # -- runs --------------------------------------------------------------------------

    def create_run(
        self,
        version: PipelineVersion,
        steps: Sequence[str],
        *,
        status: str,
        params: Mapping[str, Any],
        trigger: Mapping[str, Any] | None,
        executor: str,
        options: Mapping[str, Any],
        resumed_from: str | None = None,
        owner: str | None = None,
        created_by: str | None = None,
        also: Callable[[Connection, str], None] | None = None,
    ) -> str:
        """A new run with a pending row per step; its id. ``also(conn, run_id)`` writes
        more in the same transaction (a scheduler's firing): what it raises undoes it all."""
        run_id = uuid.uuid4().hex
        now = time.time()
        running = status == "running"
        if status != "queued":
            options = {**options, "order": list(steps)}
        with self.db.write() as conn:
            pipeline_id = REGISTRY.entity_id(conn, version.name)
            conn.execute(
                insert(RUNS).values(
                    id=run_id,
                    pipeline_id=pipeline_id,
                    version_id=version.id,
                    status=status,
                    params=_dumps(params),
                    trigger=None if trigger is None else _dumps(trigger),
                    executor=executor,
                    options=_dumps(options),
                    resumed_from=resumed_from,
                    created_at=now,
                    started_at=now if running else None,
                    heartbeat_at=now if running else None,
                    owner=owner if running else None,
                    cancel_requested=False,
                    created_by=created_by,
                )
            )
            if steps and status != "queued":
                conn.execute(
                    insert(STEPS),
                    [
                        {"run_id": run_id, "step": s, "status": "pending", "attempts": 0}
                        for s in steps
                    ],
                )
            after = {"run": run_id, "status": status, "trigger": trigger}
            append_audit(conn, f"run-{status}", "pipeline", version.name, after=after)
            if also is not None:
                also(conn, run_id)
        return run_id

    def add_steps(self, run_id: str, steps: Sequence[str], hashes: Mapping[str, str]) -> None:
        """Give a claimed queued run its steps (known once its graph is built), in order."""
        with self.db.write() as conn:
            options = json.loads(
                conn.scalar(select(RUNS.c.options).where(RUNS.c.id == run_id)) or "{}"
            )
            options["order"] = list(steps)
            options["hashes"] = dict(hashes)
            conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(options=_dumps(options)))
            conn.execute(
                insert(STEPS),
                [{"run_id": run_id, "step": s, "status": "pending", "attempts": 0} for s in steps],
            )

    def done_steps(self, run_id: str) -> dict[str, Mapping[str, Any]]:
        """The steps of a run that finished with an output, by name (their row columns)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(STEPS).where(STEPS.c.run_id == run_id, STEPS.c.status.in_(DONE))
            ).all()
        return {row.step: dict(row._mapping) for row in rows}

    def version_of(self, run_id: str) -> PipelineVersion:
        """The version a run ran."""
        with self.db.read() as conn:
            version_id = conn.scalar(select(RUNS.c.version_id).where(RUNS.c.id == run_id))
            if version_id is None:
                raise NotFound(f"No pipeline run {run_id!r}. Try: shipyard pipelines runs")
            return self._version(conn, version_id)

    def mark_lost(self, run_id: str, why: str, status: str = "failed") -> None:
        """End a run whose coordinator is gone (its heartbeat stopped): ``status`` (failed, or
        cancelled when a cancel found it so), with ``why``."""
        with self.db.write() as conn:
            conn.execute(
                update(STEPS)
                .where(
                    STEPS.c.run_id == run_id, STEPS.c.status.in_(("running", "pending", "retrying"))
                )
                .values(status=status, error=why)
            )
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id, RUNS.c.status == "running")
                .values(status=status, error=why, ended_at=time.time())
            )

    def claim(self, run_id: str, owner: str) -> bool:
        """Take a queued run (exactly one claimer wins); whether this one did."""
        now = time.time()
        with self.db.write() as conn:
            done = conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id, RUNS.c.status == "queued")
                .values(status="running", owner=owner, started_at=now, heartbeat_at=now)
            )
            return done.rowcount == 1

    def queued(self, limit: int = 20) -> list[str]:
        """The oldest queued runs' ids."""
        with self.db.read() as conn:
            return list(
                conn.scalars(
                    select(RUNS.c.id)
                    .where(RUNS.c.status == "queued")
                    .order_by(RUNS.c.created_at)
                    .limit(limit)
                )
            )

    def beat(self, run_id: str, steps: Sequence[Mapping[str, Any]]) -> bool:
        """Write finished or started steps and the heartbeat; whether the run should stop: a
        cancel was asked, or it is no longer running (judged lost meanwhile, and maybe
        resumed elsewhere: then nothing is written)."""
        with self.db.write() as conn:
            row = conn.execute(
                select(RUNS.c.status, RUNS.c.cancel_requested).where(RUNS.c.id == run_id)
            ).first()
            if row is None or row.status != "running":
                return True
            self._write_steps(conn, run_id, steps)
            conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(heartbeat_at=time.time()))
            return bool(row.cancel_requested)

    def finish(
        self, run_id: str, status: str, error: str | None, steps: Sequence[Mapping[str, Any]]
    ) -> None:
        """End a running run (and write its last steps) in one transaction; a run another
        process ended meanwhile (judged lost) is left as it is."""
        if status not in FINISHED:
            raise InvalidInput(f"A run ends {FINISHED}; got {status!r}.")
        with self.db.write() as conn:
            ended = conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id, RUNS.c.status == "running")
                .values(status=status, error=_text(error), ended_at=time.time())
            )
            if ended.rowcount == 1:
                self._write_steps(conn, run_id, steps)

    @staticmethod
    def _write_steps(conn: Connection, run_id: str, steps: Sequence[Mapping[str, Any]]) -> None:
        if not steps:
            return
        rows = [{"b_step": s["step"], **_step_values(s)} for s in steps]
        statement = (
            update(STEPS)
            .where(STEPS.c.run_id == bindparam("b_run"), STEPS.c.step == bindparam("b_step"))
            .values({f: bindparam(f) for f in _STEP_FIELDS})
        )
        conn.execute(statement, [{"b_run": run_id, **row} for row in rows])

    def request_cancel(self, run_id: str) -> PipelineRun:
        """Ask a run to stop: a queued one is cancelled now, a running one at its next beat."""
        with self.db.write() as conn:
            status = self._status(conn, run_id)
            if status in FINISHED:
                raise Conflict(f"Run {run_id} already {status}; there is nothing to cancel.")
            # only while still queued: a claimer may have taken it since (PostgreSQL reads
            # committed rows, so the status above may be stale); then it is asked to stop
            done = conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id, RUNS.c.status == "queued")
                .values(status="cancelled", ended_at=time.time(), error="cancelled")
            )
            if done.rowcount == 1:
                conn.execute(
                    update(STEPS).where(STEPS.c.run_id == run_id).values(status="cancelled")
                )
            else:
                conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(cancel_requested=True))
            name = conn.scalar(select(PIPELINES.c.name).join(RUNS).where(RUNS.c.id == run_id))
            append_audit(conn, "run-cancel", "pipeline", str(name), after={"run": run_id})
        return self.run(run_id)

    def _status(self, conn: Connection, run_id: str) -> str:
        status = conn.scalar(select(RUNS.c.status).where(RUNS.c.id == run_id))
        if status is None:
            raise NotFound(f"No pipeline run {run_id!r}. Try: shipyard pipelines runs")
        return str(status)

    # -- reading -----------------------------------------------------------------------

    def full_id(self, run_id: object) -> str:
        """A run's id from the id or a unique prefix of it (six characters or more)."""
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput(f"run id must be a run's id; got {run_id!r}.")
        if len(run_id) >= 32 or len(run_id) < 6 or not run_id.isalnum():
            return run_id
        with self.db.read() as conn:
            found = list(
                conn.scalars(select(RUNS.c.id).where(RUNS.c.id.startswith(run_id)).limit(2))
            )
        if len(found) > 1:
            raise InvalidInput(f"Run id {run_id!r} is the start of several runs; give more of it.")
        return found[0] if found else run_id

    def run(self, run_id: str) -> PipelineRun:
        """One run with its steps (NotFound naming the id)."""
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput(f"run id must be a run's id; got {run_id!r}.")
        with self.db.read() as conn:
            row = conn.execute(_runs_query().where(RUNS.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"No pipeline run {run_id!r}. Try: shipyard pipelines runs")
            steps = conn.execute(
                select(STEPS).where(STEPS.c.run_id == run_id).order_by(STEPS.c.started_at)
            ).all()
        return run_record(row, steps, json.loads(row.options).get("order"))

    def runs(
        self, pipeline: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[PipelineRun]:
        """Runs, newest first (without their steps)."""
        query = _runs_query().order_by(RUNS.c.created_at.desc()).limit(limit)
        with self.db.read() as conn:
            if pipeline is not None:
                query = query.where(RUNS.c.pipeline_id == REGISTRY.entity_id(conn, pipeline))
            if status is not None:
                query = query.where(RUNS.c.status == status)
            rows = conn.execute(query).all()
        return [run_record(row, (), None) for row in rows]

    def cached(self, cache_key: str) -> tuple[str, Mapping[str, Any]] | None:
        """The newest successful step run with this cache key: (run id, its output columns)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(STEPS)
                .where(STEPS.c.cache_key == cache_key, STEPS.c.status.in_(("succeeded",)))
                .order_by(STEPS.c.ended_at.desc())
                .limit(1)
            ).first()
        return None if row is None else (row.run_id, dict(row._mapping))

    def output(self, run_id: str, step: str) -> Stored:
        """The stored output of a step of a run."""
        with self.db.read() as conn:
            row = conn.execute(
                select(STEPS).where(STEPS.c.run_id == run_id, STEPS.c.step == step)
            ).first()
            if row is None:
                self._status(conn, run_id)
                raise NotFound(f"Run {run_id} has no step {step!r}.")
        if row.status not in DONE or row.output_kind is None:
            raise NotFound(f"Step {step!r} of run {run_id} has no output (it {row.status}).")
        return stored_of(dict(row._mapping))


def stored_of(row: Mapping[str, Any]) -> Stored:
    """The :class:`Stored` record kept in a step row's output columns."""
    return Stored(
        row["output_kind"],
        row["output_digest"],
        int(row["output_size"]),
        row["output_inline"],
        json.loads(row["output_meta"] or "{}"),
    )


def _text(value: str | None) -> str | None:
    """Text a step wrote, storable on every backend (PostgreSQL refuses NUL characters)."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _step_values(step: Mapping[str, Any]) -> dict[str, Any]:
    values = {f: step.get(f) for f in _STEP_FIELDS}
    values["attempts"] = int(step.get("attempts") or 0)
    values["error"] = _text(values["error"])
    values["logs"] = _text(values["logs"])
    for key in ("output_meta", "links"):
        if values[key] is not None and not isinstance(values[key], str):
            values[key] = _dumps(values[key])
    return values


def _runs_query() -> Any:
    return (
        select(RUNS, PIPELINES.c.name.label("pipeline"), VERSIONS.c.version)
        .join(PIPELINES, PIPELINES.c.id == RUNS.c.pipeline_id)
        .join(VERSIONS, VERSIONS.c.id == RUNS.c.version_id)
    )
