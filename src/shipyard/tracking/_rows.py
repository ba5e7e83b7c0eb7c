"""The tracking store's SQL statements built once, and its row-to-snapshot conversions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.errors import Conflict
from shipyard.tracking._backend import RawPoint
from shipyard.tracking._tables import BATCHES, LATEST, PARAMS, RUNS, TAGS
from shipyard.tracking._types import Experiment, ExperimentId, RunId, RunInfo

# Statements on the hot paths (run creation, params, metric flushes, run end), built once:
# parameters are bound at execution, so no per-call statement construction or coercion.
INSERT_RUN = insert(RUNS)
INSERT_TAGS = insert(TAGS)
INSERT_PARAMS = insert(PARAMS)
INSERT_METRICS_SQL = {
    dialect: f"INSERT INTO metrics (run_id, key, step, timestamp, value) VALUES ({marks})"
    for dialect, marks in (("sqlite", "?, ?, ?, ?, ?"), ("postgresql", "%s, %s, %s, %s, %s"))
}
SELECT_PARAMS = select(PARAMS.c.key, PARAMS.c.value).where(
    PARAMS.c.run_id == bindparam("rid"), PARAMS.c.key.in_(bindparam("keys", expanding=True))
)
FINISH_RUN = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("rid"))
    .values(status=bindparam("st"), end_time=bindparam("et"))
)


def _upsert_latest_statement(dialect: Any) -> Any:
    """INSERT ... ON CONFLICT keeping the point with the highest (step, timestamp)."""
    stmt = dialect.insert(LATEST)
    ex = stmt.excluded
    newer = (ex.step > LATEST.c.step) | (
        (ex.step == LATEST.c.step) & (ex.timestamp >= LATEST.c.timestamp)
    )
    return stmt.on_conflict_do_update(
        index_elements=[LATEST.c.run_id, LATEST.c.key],
        set_={
            "value": case((newer, ex.value), else_=LATEST.c.value),
            "step": case((newer, ex.step), else_=LATEST.c.step),
            "timestamp": case((newer, ex.timestamp), else_=LATEST.c.timestamp),
            "count": LATEST.c.count + ex.count,
        },
    )


UPSERT_LATEST = {
    "sqlite": _upsert_latest_statement(sqlite),
    "postgresql": _upsert_latest_statement(postgresql),
}
_CLAIM_BATCH = {
    name: dialect.insert(BATCHES)
    .values(run_id=bindparam("rid"), batch_id=bindparam("bid"))
    .on_conflict_do_nothing()
    .returning(BATCHES.c.batch_id)  # a row back when recorded (rowcount was -1 on PostgreSQL)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def write_points(conn: Connection, dialect: str, run_id: str, points: Sequence[RawPoint]) -> None:
    """Append metric points and keep each key's latest point (in the caller's transaction)."""
    latest: dict[str, list[Any]] = {}
    for key, value, step, ts in points:
        best = latest.get(key)
        if best is None:
            latest[key] = [value, step, ts, 1]
        else:
            best[3] += 1
            if (step, ts) >= (best[1], best[2]):
                best[0], best[1], best[2] = value, step, ts
    # The one statement that carries every metric point: handed to the driver as tuples,
    # skipping SQLAlchemy's per-row parameter processing (half the cost of a flush).
    conn.exec_driver_sql(
        INSERT_METRICS_SQL[dialect], [(run_id, k, s, t, v) for k, v, s, t in points]
    )
    conn.execute(
        UPSERT_LATEST[dialect],
        [
            {"run_id": run_id, "key": k, "value": v, "step": s, "timestamp": t, "count": n}
            for k, (v, s, t, n) in latest.items()
        ],
    )


def claim_batch(conn: Connection, dialect: str, run_id: str, batch_id: str | None) -> bool:
    """Record ``batch_id`` for the run in the transaction of ``conn``: False when the run
    has it already (a batch sent again after its answer was lost: written once, so not
    again), True otherwise (and for a batch without an id). A concurrent attempt with the
    same id waits for this transaction, then finds the id recorded."""
    if batch_id is None:
        return True
    return conn.execute(_CLAIM_BATCH[dialect], {"rid": run_id, "bid": batch_id}).first() is not None


def check_param_conflicts(
    run_id: str, stored: Mapping[str, str], params: Mapping[str, str]
) -> None:
    clashes = {k: (stored[k], v) for k, v in params.items() if k in stored and stored[k] != v}
    if clashes:
        detail = "; ".join(f"'{k}' is {old!r}, not {new!r}" for k, (old, new) in clashes.items())
        raise Conflict(
            f"Params of run {run_id} are write-once: {detail}. Nothing was changed. Log the "
            "new value under another key, or start a new run."
        )


def experiment(row: Row[Any]) -> Experiment:
    m = row._mapping
    return Experiment(
        ExperimentId(m["id"]), m["name"], m["created_at"], m["description"], m.get("run_count")
    )


def run_info(m: Mapping[str, Any]) -> RunInfo:
    env = m["environment"]
    return RunInfo(
        id=RunId(m["id"]),
        experiment_id=ExperimentId(m["experiment_id"]),
        name=m["name"],
        status=m["status"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        parent_id=m["parent_id"],
        host=m["host"],
        pid=m["pid"],
        source_commit=m["source_commit"],
        source_dirty=m["source_dirty"],
        entry_point=m["entry_point"],
        environment=json.loads(env) if env else {},
        deleted=m["deleted_at"] is not None,
    )
