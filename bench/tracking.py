"""Tracking benchmark: the same work through MLflow and Shipyard, both on SQLite, in one run.

Usage::

    python bench/tracking.py              # full sizes (a few minutes, mostly MLflow)
    python bench/tracking.py --quick      # smaller sizes, a smoke run (~45 s)
    python bench/tracking.py --runs 3     # at most 3 timed repeats per measurement
    python bench/tracking.py --mlflow-100k  # also search 100,000 MLflow runs (~8 min more)

Scenarios (the issue's goals in brackets):

1. Log 5,000 metric values one call at a time in one run, timed until the run has ended so
   every value is durable [Shipyard >= 100,000 values/s and >= 400x MLflow]. MLflow's
   ``log_batch`` for the same values is an extra reference row.
2. Create 200 runs, each with 10 params and 5 metrics (each tool's batch calls), started and
   ended [>= 10x MLflow].
3. Search 10,000 runs by ``metrics.auc > 0.9`` ordered by ``metrics.auc`` descending, page of
   100 [Shipyard < 50 ms per query and >= 10x MLflow]. Both stores are filled by bulk
   ``INSERT`` through SQLAlchemy into each tool's own schema with identical data, and both
   searches are checked to return the same runs in the same order before timing.
4. 100,000 runs in Shipyard: a page of 1,000 with a metric filter and order, first page and a
   deep page reached by following page tokens [< 100 ms per page]. MLflow only with
   ``--mlflow-100k``, and then page 1 only: on SQLite 3.40 one MLflow page takes minutes at
   this size (its query scans a materialized subquery of latest_metrics once per matching
   run), so walking 50 pages would take hours.

Each measurement reports the median of up to ``--runs`` repeats; slow MLflow measurements
stop repeating once ``--budget`` seconds are spent (at least one repeat each). Everything is
written under one temporary folder, which is removed at the end (``--keep`` keeps it); the
process also works from inside it so nothing lands in the current folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    Report,
    Row,
    Timing,
    Workspace,
    exit_on_sigterm,
    fill_defaults,
    fmt_rate,
    fmt_s,
    log,
    measure,
    no_mlflow_telemetry,
    print_report,
    quiet_mlflow,
    scenario_numbers,
    source_state,
    timed_call,
    versions,
    workspace,
)

no_mlflow_telemetry()  # before MLflow is imported anywhere

SEARCH_FILTER = "metrics.auc > 0.9"
DEEP_FILTER = "metrics.auc > 0.6"  # ~80% of runs match: enough pages to go 50 deep
SHIPYARD_ORDER = "metrics.auc desc"
MLFLOW_ORDER = "metrics.auc DESC"
INSERT_CHUNK = 5_000  # runs per executemany batch when populating


# -- SQLite settings for reference rows ----------------------------------------------------


@contextmanager
def shipyard_sqlite_settings(folder: Path) -> Iterator[None]:
    """SQLite connections to databases under ``folder`` get Shipyard's settings.

    Shipyard opens SQLite in WAL mode with ``synchronous=NORMAL`` (no fsync per commit);
    MLflow keeps SQLite's defaults (rollback journal, ``synchronous=FULL``: fsyncs on every
    commit). For reference rows only, so that the speed-up can be split into "SQLite
    settings" and "everything else".
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    prefix = str(folder)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
        if any(f and f.startswith(prefix) for f in files):
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
    for db in folder.glob("*.db"):
        with sqlite3.connect(db) as conn:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        assert mode == "wal", f"{db} is in journal mode {mode!r}, not WAL"


# -- scenario 1: metric values one call at a time ------------------------------------------


def bench_log_metric(ws: Workspace, report: Report, args: argparse.Namespace) -> None:
    import mlflow
    from mlflow.entities import Metric

    import shipyard as sy

    n = args.values
    rng = random.Random(1)
    values = [1.0 / (i + 1) + rng.random() * 1e-3 for i in range(n)]
    log(f"Scenario 1: {n:,} metric values, one call each")

    mlflow_runs: list[tuple[Any, str]] = []

    def mlflow_per_call(client: Any, experiment_id: str) -> Callable[[], float]:
        def timed() -> float:
            run = mlflow.start_run(experiment_id=experiment_id)
            mlflow_runs.append((client, run.info.run_id))
            start = time.perf_counter()
            for step, value in enumerate(values):
                mlflow.log_metric("loss", value, step=step)
            mlflow.end_run()
            return time.perf_counter() - start

        with mlflow.start_run(experiment_id=experiment_id):  # warm-up: imports, first writes
            mlflow.log_metric("warmup", 0.0)
        return timed

    def mlflow_batch(client: Any, experiment_id: str) -> Callable[[], float]:
        def timed() -> float:
            run = client.create_run(experiment_id)
            mlflow_runs.append((client, run.info.run_id))
            start = time.perf_counter()
            now = int(time.time() * 1000)
            metrics = [Metric("loss", value, now, step) for step, value in enumerate(values)]
            client.log_batch(run.info.run_id, metrics=metrics)
            client.set_terminated(run.info.run_id)
            return time.perf_counter() - start

        return timed

    client, _, experiment_id = ws.mlflow("log")
    ml_calls = measure(mlflow_per_call(client, experiment_id), args.runs, args.budget)
    ml_batch = measure(mlflow_batch(client, experiment_id), args.runs, args.budget)
    ml_wal = None
    if args.mlflow_wal:
        with shipyard_sqlite_settings(ws.root / "mlflow" / "log-wal"):
            client_w, _, experiment_w = ws.mlflow("log-wal")
            ml_wal = measure(mlflow_per_call(client_w, experiment_w), args.runs, args.budget)
    for owner, run_id in mlflow_runs:
        stored = len(owner.get_metric_history(run_id, "loss"))
        assert stored == n, f"MLflow run {run_id} holds {stored} of {n} values"

    ws.shipyard("log")
    with sy.start_run(experiment="bench-log") as warm:  # warm-up: engine, schema, git info
        warm.log_metric("warmup", 0.0)
    shipyard_runs: list[str] = []

    def shipyard_per_call() -> float:
        run = sy.start_run(experiment="bench-log")
        shipyard_runs.append(run.id)
        start = time.perf_counter()
        for step, value in enumerate(values):
            run.log_metric("loss", value, step=step)
        run.end()
        return time.perf_counter() - start

    sy_calls = measure(shipyard_per_call, max(args.runs, 5), args.budget)
    for run_id in shipyard_runs:
        stored = len(sy.get_metric_history(run_id, "loss"))
        assert stored == n, f"Shipyard run {run_id} holds {stored} of {n} values"

    rate = n / sy_calls.median
    ratio = ml_calls.median / sy_calls.median
    report.add(
        Row(
            f"1. {n:,} metric values, one log_metric call each, until the run has ended",
            ml_calls,
            sy_calls,
            f"{fmt_rate(n, ml_calls.median, 'values')}; {ml_calls.spread()}",
            f"{fmt_rate(n, sy_calls.median, 'values')}; {sy_calls.spread()}",
            "≥100,000 values/s and ≥400×",
            rate >= 100_000 and ratio >= 400,
        )
    )
    report.add(
        Row(
            f"1b. reference: MLflow log_batch of the same {n:,} values (vs Shipyard per call)",
            ml_batch,
            sy_calls,
            f"{fmt_rate(n, ml_batch.median, 'values')}; {ml_batch.spread()}",
            "same as row 1",
        )
    )
    if ml_wal is not None:
        report.add(
            Row(
                "1c. reference: MLflow per call with Shipyard's SQLite settings (WAL, "
                "synchronous=NORMAL: no fsync per commit)",
                ml_wal,
                sy_calls,
                f"{fmt_rate(n, ml_wal.median, 'values')}; {ml_wal.spread()}",
                "same as row 1",
            )
        )


# -- scenario 2: many small runs -----------------------------------------------------------


def bench_create_runs(ws: Workspace, report: Report, args: argparse.Namespace) -> None:
    import mlflow

    import shipyard as sy

    n = args.create_runs
    params = [{f"param_{k}": f"value-{r}-{k}" for k in range(10)} for r in range(n)]
    metrics = [{f"metric_{k}": (r * 10 + k) / 7.0 for k in range(5)} for r in range(n)]
    log(f"Scenario 2: {n:,} runs with 10 params and 5 metrics each")

    def mlflow_runs(experiment_id: str) -> Callable[[], float]:
        def timed() -> float:
            start = time.perf_counter()
            for r in range(n):
                with mlflow.start_run(experiment_id=experiment_id):
                    mlflow.log_params(params[r])
                    mlflow.log_metrics(metrics[r])
            return time.perf_counter() - start

        with mlflow.start_run(experiment_id=experiment_id):  # warm-up
            mlflow.log_params(params[0])
            mlflow.log_metrics(metrics[0])
        return timed

    ml = measure(mlflow_runs(ws.mlflow("runs")[2]), args.runs, args.budget)
    ml_wal = None
    if args.mlflow_wal:
        with shipyard_sqlite_settings(ws.root / "mlflow" / "runs-wal"):
            ml_wal = measure(mlflow_runs(ws.mlflow("runs-wal")[2]), args.runs, args.budget)

    ws.shipyard("runs")

    def shipyard_runs() -> float:
        start = time.perf_counter()
        for r in range(n):
            with sy.start_run(experiment="bench-runs") as run:
                run.log_params(params[r])
                run.log_metrics(metrics[r])
        return time.perf_counter() - start

    with sy.start_run(experiment="bench-runs") as warm:  # warm-up
        warm.log_params(params[0])
        warm.log_metrics(metrics[0])
    syt = measure(shipyard_runs, max(args.runs, 5), args.budget)

    last = sy.search_runs("bench-runs", max_results=1)
    assert "metrics.metric_4" in last.columns and "params.param_9" in last.columns

    ratio = ml.median / syt.median
    report.add(
        Row(
            f"2. {n:,} runs, each started, 10 params + 5 metrics (batch calls), ended",
            ml,
            syt,
            f"{fmt_rate(n, ml.median, 'runs')}; {ml.spread()}",
            f"{fmt_rate(n, syt.median, 'runs')}; {syt.spread()}",
            "≥10×",
            ratio >= 10,
        )
    )
    if ml_wal is not None:
        report.add(
            Row(
                "2b. reference: MLflow with Shipyard's SQLite settings (WAL, synchronous=NORMAL)",
                ml_wal,
                syt,
                f"{fmt_rate(n, ml_wal.median, 'runs')}; {ml_wal.spread()}",
                "same as row 2",
            )
        )


# -- populating stores by bulk insert ------------------------------------------------------


@dataclass
class SyntheticRuns:
    """Finished runs with params, tags and one point per metric: the same data for both."""

    ids: list[str]
    names: list[str]
    starts: list[float]  # epoch seconds
    ends: list[float]
    params: list[dict[str, str]]
    metrics: list[dict[str, float]]
    tags: list[dict[str, str]]

    @classmethod
    def make(cls, n: int, seed: int = 7) -> SyntheticRuns:
        rng = random.Random(seed)
        base = time.time() - n * 60.0
        data = cls([], [], [], [], [], [], [])
        for i in range(n):
            data.ids.append(f"{rng.getrandbits(128):032x}")
            data.names.append(f"run-{i}")
            start = base + i * 60.0
            data.starts.append(start)
            data.ends.append(start + 30.0 + rng.random() * 600.0)
            data.params.append(
                {
                    "model": rng.choice(("lgbm", "xgboost", "rf", "mlp")),
                    "learning_rate": repr(round(rng.uniform(0.001, 0.3), 5)),
                    "max_depth": str(rng.randint(2, 12)),
                    "n_estimators": str(rng.choice((100, 200, 500, 1000))),
                    "seed": str(i),
                }
            )
            data.metrics.append(
                {
                    "auc": 0.5 + 0.5 * rng.random(),
                    "logloss": rng.uniform(0.1, 0.7),
                    "accuracy": rng.uniform(0.6, 0.99),
                }
            )
            data.tags.append({"team": rng.choice(("growth", "risk", "search"))})
        return data

    def __len__(self) -> int:
        return len(self.ids)

    def matching(self, threshold: float) -> list[str]:
        """Ids of runs with auc > threshold, best auc first."""
        pairs = [
            (m["auc"], i)
            for m, i in zip(self.metrics, self.ids, strict=True)
            if m["auc"] > threshold
        ]
        return [i for _, i in sorted(pairs, reverse=True)]

    def chunks(self) -> Iterator[range]:
        for lo in range(0, len(self), INSERT_CHUNK):
            yield range(lo, min(lo + INSERT_CHUNK, len(self)))


def populate_mlflow(uri: str, experiment_id: str, artifact_root: str, data: SyntheticRuns) -> None:
    """Bulk-insert ``data`` into MLflow's own tables (schema made by its client)."""
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(uri)
    meta = MetaData()
    meta.reflect(engine, only=["runs", "params", "tags", "metrics", "latest_metrics"])
    t = meta.tables
    exp = int(experiment_id)
    with engine.begin() as conn:
        for part in data.chunks():
            runs, params, tags, metrics, latest = [], [], [], [], []
            for i in part:
                rid = data.ids[i]
                start_ms, end_ms = int(data.starts[i] * 1000), int(data.ends[i] * 1000)
                runs.append(
                    {
                        "run_uuid": rid,
                        "name": data.names[i],
                        "source_type": "LOCAL",
                        "source_name": "bench",
                        "entry_point_name": "",
                        "user_id": "bench",
                        "status": "FINISHED",
                        "start_time": start_ms,
                        "end_time": end_ms,
                        "source_version": "",
                        "lifecycle_stage": "active",
                        "artifact_uri": f"{artifact_root}/{rid}/artifacts",
                        "experiment_id": exp,
                        "deleted_time": None,
                    }
                )
                params.extend(
                    {"key": k, "value": v, "run_uuid": rid} for k, v in data.params[i].items()
                )
                tags.append({"key": "mlflow.runName", "value": data.names[i], "run_uuid": rid})
                tags.extend(
                    {"key": k, "value": v, "run_uuid": rid} for k, v in data.tags[i].items()
                )
                for k, v in data.metrics[i].items():
                    point = {"key": k, "value": v, "timestamp": end_ms, "step": 0, "is_nan": False}
                    metrics.append({**point, "run_uuid": rid})
                    latest.append({**point, "run_uuid": rid})
            conn.execute(t["runs"].insert(), runs)
            conn.execute(t["params"].insert(), params)
            conn.execute(t["tags"].insert(), tags)
            conn.execute(t["metrics"].insert(), metrics)
            conn.execute(t["latest_metrics"].insert(), latest)
    engine.dispose()


def populate_shipyard(db_url: str, experiment_id: str, data: SyntheticRuns) -> None:
    """Bulk-insert ``data`` into the tables of ``shipyard.store._schema``."""
    from sqlalchemy import create_engine

    from shipyard.store._schema import Base

    t = Base.metadata.tables
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for part in data.chunks():
            runs, params, tags, metrics, latest = [], [], [], [], []
            for i in part:
                rid = data.ids[i]
                runs.append(
                    {
                        "id": rid,
                        "experiment_id": experiment_id,
                        "parent_id": None,
                        "name": data.names[i],
                        "status": "finished",
                        "start_time": data.starts[i],
                        "end_time": data.ends[i],
                        "heartbeat_at": data.ends[i],
                        "host": "bench-host",
                        "pid": 1,
                        "process_started": None,
                        "source_commit": None,
                        "source_dirty": None,
                        "entry_point": "bench",
                        "environment": "{}",
                        "deleted_at": None,
                    }
                )
                params.extend(
                    {"run_id": rid, "key": k, "value": v} for k, v in data.params[i].items()
                )
                tags.extend({"run_id": rid, "key": k, "value": v} for k, v in data.tags[i].items())
                for k, v in data.metrics[i].items():
                    point = {"run_id": rid, "key": k, "value": v, "step": 0}
                    metrics.append({**point, "timestamp": data.ends[i]})
                    latest.append({**point, "timestamp": data.ends[i], "count": 1})
            conn.execute(t["runs"].insert(), runs)
            conn.execute(t["params"].insert(), params)
            conn.execute(t["tags"].insert(), tags)
            conn.execute(t["metrics"].insert(), metrics)
            conn.execute(t["latest_metrics"].insert(), latest)
    engine.dispose()


def build_shipyard(ws: Workspace, name: str, data: SyntheticRuns, report: Report) -> str:
    """A Shipyard store named ``name`` holding ``data``; returns the experiment name."""
    from shipyard.tracking import tracking_store

    ws.shipyard(name)
    experiment = f"bench-{name}"
    exp = tracking_store().experiment(experiment)  # creates DB, schema, experiment
    start = time.perf_counter()
    populate_shipyard(os.environ["SHIPYARD_DB_URL"], exp.id, data)
    report.setup.append(
        (f"Shipyard: bulk insert {len(data):,} runs", fmt_s(time.perf_counter() - start))
    )
    return experiment


def build_mlflow(ws: Workspace, name: str, data: SyntheticRuns, report: Report) -> tuple[Any, str]:
    """An MLflow store named ``name`` holding ``data``; returns (client, experiment id)."""
    client, uri, experiment_id = ws.mlflow(name)
    artifact_root = client.get_experiment(experiment_id).artifact_location
    start = time.perf_counter()
    populate_mlflow(uri, experiment_id, artifact_root, data)
    report.setup.append(
        (f"MLflow: bulk insert {len(data):,} runs", fmt_s(time.perf_counter() - start))
    )
    return client, experiment_id


def mlflow_all_ids(client: Any, experiment_id: str, filter: str, page: int) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        runs = client.search_runs(
            [experiment_id], filter, order_by=[MLFLOW_ORDER], max_results=page, page_token=token
        )
        ids.extend(r.info.run_id for r in runs)
        token = runs.token
        if not token:
            return ids


def shipyard_all_ids(experiment: str, filter: str, page: int) -> list[str]:
    import shipyard as sy

    ids: list[str] = []
    token = None
    while True:
        frame = sy.search_runs(
            experiment, filter=filter, order_by=SHIPYARD_ORDER, max_results=page, page_token=token
        )
        ids.extend(frame["run_id"])
        token = frame.attrs["next_page_token"]
        if not token:
            return ids


# -- scenario 3: search ------------------------------------------------------------------


def bench_search(ws: Workspace, report: Report, args: argparse.Namespace) -> None:
    import mlflow

    import shipyard as sy

    n, page = args.search_runs, args.page
    log(f"Scenario 3: search {n:,} runs by '{SEARCH_FILTER}', page of {page}")
    data = SyntheticRuns.make(n)
    client, experiment_id = build_mlflow(ws, "search", data, report)
    experiment = build_shipyard(ws, "search", data, report)

    expected = data.matching(0.9)
    ml_ids = mlflow_all_ids(client, experiment_id, SEARCH_FILTER, 1000)
    sy_ids = shipyard_all_ids(experiment, SEARCH_FILTER, 1000)
    assert len(ml_ids) == len(sy_ids) == len(expected), (len(ml_ids), len(sy_ids), len(expected))
    assert ml_ids == sy_ids == expected, "MLflow and Shipyard disagree on the matching runs"
    report.setup.append((f"Both searches return the same {len(expected):,} runs, same order", "✓"))

    def ml_frame() -> Any:
        return mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=[MLFLOW_ORDER],
            max_results=page,
        )

    def ml_entities() -> Any:
        return client.search_runs(
            [experiment_id], SEARCH_FILTER, order_by=[MLFLOW_ORDER], max_results=page
        )

    def sy_frame() -> Any:
        return sy.search_runs(
            experiment, filter=SEARCH_FILTER, order_by=SHIPYARD_ORDER, max_results=page
        )

    first_ml, first_sy = ml_frame(), sy_frame()  # warm-up, and one more check
    assert list(first_ml["run_id"]) == list(first_sy["run_id"]) == expected[:page]
    assert [r.info.run_id for r in ml_entities()] == expected[:page]

    repeats = max(args.runs, 10)
    ml = measure(timed_call(ml_frame), repeats, args.budget)
    ml_ent = measure(timed_call(ml_entities), repeats, args.budget)
    syt = measure(timed_call(sy_frame), repeats, args.budget)

    ratio = ml.median / syt.median
    report.add(
        Row(
            f"3. search {n:,} runs: {SEARCH_FILTER}, order auc desc, page of {page} "
            f"({len(expected):,} match) — DataFrame",
            ml,
            syt,
            f"mlflow.search_runs; {ml.spread()}",
            f"sy.search_runs; {syt.spread()}",
            "<50 ms and ≥10×",
            syt.median < 0.050 and ratio >= 10,
        )
    )
    report.add(
        Row(
            "3b. reference: MlflowClient.search_runs (Run objects, no DataFrame)",
            ml_ent,
            syt,
            f"{ml_ent.spread()}",
            "same as row 3",
        )
    )


# -- scenario 4: 100k runs, paging -------------------------------------------------------


def bench_big(ws: Workspace, report: Report, args: argparse.Namespace) -> None:
    import shipyard as sy

    n, page = args.big_runs, args.big_page
    log(f"Scenario 4: {n:,} runs, pages of {page} by '{DEEP_FILTER}'")
    data = SyntheticRuns.make(n, seed=11)
    experiment = build_shipyard(ws, "big", data, report)
    matches = len(data.matching(0.6))
    deep = max(1, min(args.deep_page, matches // page))

    def sy_page(token: str | None, filter: str = DEEP_FILTER, size: int = page) -> Any:
        return sy.search_runs(
            experiment, filter=filter, order_by=SHIPYARD_ORDER, max_results=size, page_token=token
        )

    # Walk the pages by token up to the deep one, timing each step of the walk.
    tokens: list[str | None] = [None]
    walk: list[float] = []
    seen = 0
    for _ in range(deep):
        start = time.perf_counter()
        frame = sy_page(tokens[-1])
        walk.append(time.perf_counter() - start)
        seen += len(frame)
        tokens.append(frame.attrs["next_page_token"])
    assert seen == min(deep * page, matches), (seen, deep, page, matches)
    assert list(sy_page(None)["run_id"]) == data.matching(0.6)[:page]
    assert (
        list(sy_page(None, SEARCH_FILTER, args.page)["run_id"]) == data.matching(0.9)[: args.page]
    )

    repeats = max(args.runs, 10)
    first = measure(timed_call(lambda: sy_page(None)), repeats, args.budget)
    deep_t = measure(timed_call(lambda: sy_page(tokens[deep - 1])), repeats, args.budget)
    small = measure(
        timed_call(lambda: sy_page(None, SEARCH_FILTER, args.page)), repeats, args.budget
    )

    ml_first = ml_small = None
    ml_note = ml_deep_note = "skipped (--mlflow-100k)"
    if args.mlflow_100k:
        ml_first, ml_small = bench_big_mlflow(ws, report, args, data)
        ml_deep_note = "not timed: offset paging, each page costs at least as much as page 1"

    walk_note = (
        f"walk of {deep} pages: median {fmt_s(statistics.median(walk))}, max {fmt_s(max(walk))}"
    )
    for label, ml_t, sy_t, note in (
        (
            f"4a. {n:,} runs: page 1 of {page}, {DEEP_FILTER} ({matches:,} match)",
            ml_first,
            first,
            "",
        ),
        (f"4b. {n:,} runs: page {deep} of {page} via page tokens", None, deep_t, walk_note),
        (f"4c. {n:,} runs: {SEARCH_FILTER}, page of {args.page}", ml_small, small, ""),
    ):
        report.add(
            Row(
                label,
                ml_t,
                sy_t,
                ml_t.spread() if ml_t else (ml_deep_note if label.startswith("4b") else ml_note),
                "; ".join(x for x in (sy_t.spread(), note) if x),
                "<100 ms per page",
                sy_t.median < 0.100,
            )
        )


def bench_big_mlflow(
    ws: Workspace, report: Report, args: argparse.Namespace, data: SyntheticRuns
) -> tuple[Timing, Timing]:
    """MLflow on the same 100k runs: page 1 of each query (a page can take minutes)."""
    client, experiment_id = build_mlflow(ws, "big", data, report)
    log("  MLflow at this size: each query below may take minutes")
    pages: dict[tuple[str, int], list[str]] = {}

    def ml_page(filter: str, size: int) -> Callable[[], None]:
        def call() -> None:
            runs = client.search_runs(
                [experiment_id], filter, order_by=[MLFLOW_ORDER], max_results=size
            )
            pages[(filter, size)] = [r.info.run_id for r in runs]

        return call

    small = measure(timed_call(ml_page(SEARCH_FILTER, args.page)), args.runs, args.budget)
    first = measure(timed_call(ml_page(DEEP_FILTER, args.big_page)), args.runs, args.budget)
    assert pages[(SEARCH_FILTER, args.page)] == data.matching(0.9)[: args.page]
    assert pages[(DEEP_FILTER, args.big_page)] == data.matching(0.6)[: args.big_page]
    return first, small


# -- output and arguments ------------------------------------------------------------------


def print_results(report: Report, args: argparse.Namespace, wall: float) -> None:
    print_report(
        report,
        title="Tracking: MLflow vs Shipyard (SQLite, same machine, same process)",
        width=170,
        legend="Times are medians of the repeats shown in Notes (n=...).",
        footer=f"{versions(args.source)}; "
        f"{'--quick; ' if args.quick else ''}--runs {args.runs}, --budget {args.budget:g}s; "
        f"total wall time {wall:.1f} s",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="timed repeats per measurement (median reported; Shipyard and searches take at "
        "least 5/10, cheap as they are); default 3",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds after which a measurement stops repeating (default 30, quick 5)",
    )
    parser.add_argument("--mlflow-100k", action="store_true", help="scenario 4 for MLflow too")
    parser.add_argument(
        "--no-mlflow-wal",
        dest="mlflow_wal",
        action="store_false",
        help="skip the reference rows 1c/2b (MLflow with Shipyard's SQLite journal settings)",
    )
    parser.add_argument("--values", type=int, help="scenario 1 size (default 5,000)")
    parser.add_argument("--create-runs", type=int, help="scenario 2 size (default 200)")
    parser.add_argument("--search-runs", type=int, help="scenario 3 size (default 10,000)")
    parser.add_argument("--big-runs", type=int, help="scenario 4 size (default 100,000)")
    parser.add_argument("--only", help="comma-separated scenario numbers to run, e.g. 1,3")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "values": 1_000 if quick else 5_000,
        "create_runs": 50 if quick else 200,
        "search_runs": 2_000 if quick else 10_000,
        "big_runs": 20_000 if quick else 100_000,
        "budget": 5.0 if quick else 30.0,
    }
    fill_defaults(args, defaults)
    args.page = 100
    args.big_page = 1_000
    args.deep_page = 50
    args.only = scenario_numbers(args.only, (1, 2, 3, 4))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.source = source_state()  # before the run: the code imported is the code measured
    quiet_mlflow(logging.WARNING)
    exit_on_sigterm()
    wall = time.perf_counter()
    report = Report()
    scenarios = {1: bench_log_metric, 2: bench_create_runs, 3: bench_search, 4: bench_big}
    with workspace("shipyard-bench-", args.keep) as ws:
        for number, scenario in scenarios.items():
            if number in args.only:
                scenario(ws, report, args)
    print_results(report, args, time.perf_counter() - wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
