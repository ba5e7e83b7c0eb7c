"""Platform server benchmark: Shipyard's tracking API beside MLflow's tracking server.

Usage::

    python bench/server.py            # 10,000 runs, a 100,000-point metric (~3 minutes)
    python bench/server.py --quick    # 2,000 runs, 20,000 points, fewer calls (~1 minute)

Both servers run in their own process on 127.0.0.1 over SQLite in one temp folder, filled
with the same synthetic runs (``tracking.py``'s bulk inserts into each tool's own schema):
``shipyard.server.run`` (one uvicorn process) and ``mlflow server --workers 1``. The client
is this process, one keep-alive connection per server; calls of both take turns in blocks.

Scenarios (the issue's goals in brackets):

1. List 10,000 runs page by page (100 a page, newest first): p50/p99 of one page.
2. Get one run (params, tags, latest metrics): p50/p99.
3. A 100,000-point metric history downsampled to 1,000 points (Shipyard's ``max_points``;
   MLflow's ``get-history-bulk-interval``, what its UI charts with), and the whole history.
4. Metric logging throughput over loopback HTTP [>= 50,000 values/s]: Shipyard's SDK in
   remote mode (``log_metric`` one value at a time, buffered, one request per flush, timed
   until the run has ended); MLflow's ``log_batch`` at its limit of 1,000 metrics a request.

Then, when ``bench/server_browser.py`` is present, its ``browser_figures(url)`` on the
Shipyard server (times to a rendered runs page and metric chart in Chromium).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    Report,
    Row,
    Timing,
    Workspace,
    exit_on_sigterm,
    fill_defaults,
    fmt_s,
    latencies,
    log,
    no_mlflow_telemetry,
    print_report,
    source_state,
    versions,
    workspace,
)
from tracking import SyntheticRuns, populate_mlflow, populate_shipyard

PAGE = 100
MAX_POINTS = 1_000
METRIC = "loss"


# -- the two servers -----------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(command: list[str], env: dict[str, str], health: str, log_file: Path) -> Iterator[str]:
    """A server process started with ``command``, waited for until ``health`` answers."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} did not start: {log_file.read_text()[-2000:]}")
            try:
                if httpx.get(url + health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer {health} within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shipyard_store(ws: Workspace, data: SyntheticRuns, points: int) -> tuple[Path, str, str]:
    """A Shipyard store with ``data`` and one run holding ``points`` values of ``loss``;
    (home, experiment name, the long run's id)."""
    from shipyard.tracking._api import local_store
    from shipyard.tracking._process import ProcessInfo

    home = ws.shipyard("server")
    store = local_store()
    exp = store.experiment("big")  # the names bench/server_browser.py visits
    populate_shipyard(os.environ["SHIPYARD_DB_URL"], exp.id, data)
    long = store.experiment("long")
    run = store.create_run(
        long.id, "long", parent_id=None, process=ProcessInfo.current(), source={}, environment={}
    )
    now = time.time()
    series = [(METRIC, curve(i), i, now + i * 0.01) for i in range(points)]
    store.finish_run(run.id, "finished", series)
    return home, exp.name, run.id


def mlflow_store(ws: Workspace, data: SyntheticRuns, points: int) -> tuple[str, str, str, Path]:
    """An MLflow store with ``data`` and one run holding ``points`` values of ``loss``;
    (tracking URI, experiment id, the long run's id, artifact folder)."""
    from sqlalchemy import MetaData, create_engine

    client, uri, experiment_id = ws.mlflow("server", experiment="bench-server")
    root = client.get_experiment(experiment_id).artifact_location
    populate_mlflow(uri, experiment_id, root, data)
    long = client.create_experiment("bench-history")
    run = client.create_run(long, run_name="long")
    engine = create_engine(uri)
    meta = MetaData()
    meta.reflect(engine, only=["metrics", "latest_metrics"])
    now_ms = int(time.time() * 1000)
    rows = [
        {
            "key": METRIC,
            "value": curve(i),
            "timestamp": now_ms + i * 10,
            "step": i,
            "is_nan": False,
            "run_uuid": run.info.run_id,
        }
        for i in range(points)
    ]
    with engine.begin() as conn:
        conn.execute(meta.tables["metrics"].insert(), rows)
        conn.execute(meta.tables["latest_metrics"].insert(), [rows[-1]])
    engine.dispose()
    client.set_terminated(run.info.run_id)
    return uri, experiment_id, run.info.run_id, ws.root / "mlflow" / "server" / "artifacts"


def curve(i: int) -> float:
    """A noisy decreasing loss curve."""
    return 1.0 / (1 + i / 1000) + 0.05 * ((i * 7919) % 101) / 101


# -- measurements --------------------------------------------------------------------------


def walk_pages(next_page: Callable[[str | None], str | None], pages: list[float]) -> None:
    """Follow page tokens from the first page to the last, timing each page."""
    token: str | None = None
    while True:
        start = time.perf_counter()
        token = next_page(token)
        pages.append(time.perf_counter() - start)
        if not token:
            return


def bench_listing(sy_url: str, ml_url: str, experiment: tuple[str, str], args: Any) -> Row:
    import httpx

    sy = httpx.Client(base_url=sy_url, timeout=300)
    ml = httpx.Client(base_url=ml_url, timeout=300)
    counts = {"shipyard": 0, "mlflow": 0}

    def sy_page(token: str | None) -> str | None:
        params: dict[str, Any] = {"experiment": experiment[0], "page_size": PAGE}
        if token:
            params["page_token"] = token
        answer = sy.get("/api/runs", params=params).raise_for_status().json()
        counts["shipyard"] += len(answer["items"])
        return answer["next_page_token"]  # type: ignore[no-any-return]

    def ml_page(token: str | None) -> str | None:
        body: dict[str, Any] = {"experiment_ids": [experiment[1]], "max_results": PAGE}
        if token:
            body["page_token"] = token
        answer = ml.post("/api/2.0/mlflow/runs/search", json=body).raise_for_status().json()
        counts["mlflow"] += len(answer.get("runs", []))
        return answer.get("next_page_token")  # type: ignore[no-any-return]

    samples: dict[str, list[float]] = {"shipyard": [], "mlflow": []}
    walk_pages(sy_page, [])  # warm-up walks
    walk_pages(ml_page, [])
    walls: dict[str, list[float]] = {"shipyard": [], "mlflow": []}
    for _ in range(args.walks):
        for name, fn in (("shipyard", sy_page), ("mlflow", ml_page)):
            start = time.perf_counter()
            walk_pages(fn, samples[name])
            walls[name].append(time.perf_counter() - start)
    per_walk = {k: v // (args.walks + 1) for k, v in counts.items()}
    assert per_walk["shipyard"] == per_walk["mlflow"] == args.runs_count, per_walk
    sy.close()
    ml.close()
    note = f"{args.walks} walks of {{:,}} pages of {{}}; whole walk {{}}"
    return Row(
        f"1. List {args.runs_count:,} runs page by page ({PAGE} a page): one page, p50 / p99",
        Timing(samples["mlflow"], latency=True),
        Timing(samples["shipyard"], latency=True),
        note.format(len(samples["mlflow"]) // args.walks, PAGE, fmt_s(min(walls["mlflow"]))),
        note.format(len(samples["shipyard"]) // args.walks, PAGE, fmt_s(min(walls["shipyard"]))),
    )


def bench_one_run(sy_url: str, ml_url: str, ids: list[str], args: Any) -> Row:
    import httpx

    sy = httpx.Client(base_url=sy_url, timeout=300)
    ml = httpx.Client(base_url=ml_url, timeout=300)
    rng = random.Random(3)
    picks = [rng.choice(ids) for _ in range(args.calls)]

    def sy_get(i: int) -> None:
        answer = sy.get(f"/api/runs/{picks[i % len(picks)]}").raise_for_status().json()
        assert answer["params"]

    def ml_get(i: int) -> None:
        run_id = picks[i % len(picks)]
        answer = ml.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
        assert answer.raise_for_status().json()["run"]["data"]["params"]

    timings = latencies({"mlflow": ml_get, "shipyard": sy_get}, args.calls, 5, 20)
    sy.close()
    ml.close()
    return Row(
        "2. Get one run (params, tags, latest metrics), p50 / p99",
        timings["mlflow"],
        timings["shipyard"],
        f"{args.calls:,} calls",
        f"{args.calls:,} calls",
    )


def bench_history(sy_url: str, ml_url: str, runs: tuple[str, str], args: Any) -> list[Row]:
    import httpx

    sy, ml = httpx.Client(base_url=sy_url, timeout=120), httpx.Client(base_url=ml_url, timeout=120)
    sy_path = f"/api/runs/{runs[0]}/metrics/{METRIC}"

    def sy_sampled(_: int) -> None:
        answer = sy.get(sy_path, params={"max_points": MAX_POINTS}).raise_for_status().json()
        assert answer["count"] == args.points and len(answer["values"]) <= MAX_POINTS

    def ml_sampled(_: int) -> None:
        params = {"run_ids": runs[1], "metric_key": METRIC, "max_results": MAX_POINTS}
        answer = ml.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=params)
        assert len(answer.raise_for_status().json()["metrics"]) <= MAX_POINTS + 2

    def sy_full(_: int) -> None:
        assert len(sy.get(sy_path).raise_for_status().json()["values"]) == args.points

    def ml_full(_: int) -> None:
        params = {"run_id": runs[1], "metric_key": METRIC}
        answer = ml.get("/api/2.0/mlflow/metrics/get-history", params=params)
        assert len(answer.raise_for_status().json()["metrics"]) == args.points

    sampled = latencies({"mlflow": ml_sampled, "shipyard": sy_sampled}, args.history_calls, 5, 3)
    full = latencies({"mlflow": ml_full, "shipyard": sy_full}, args.full_calls, 1, 1)
    sy.close()
    ml.close()
    return [
        Row(
            f"3a. A {args.points:,}-point metric history downsampled to {MAX_POINTS:,} "
            "points, p50 / p99",
            sampled["mlflow"],
            sampled["shipyard"],
            f"get-history-bulk-interval, {args.history_calls} calls",
            f"max_points={MAX_POINTS}, {args.history_calls} calls",
        ),
        Row(
            f"3b. The whole {args.points:,}-point history, p50 / p99",
            full["mlflow"],
            full["shipyard"],
            f"get-history, {args.full_calls} calls",
            f"{args.full_calls} calls",
        ),
    ]


def bench_logging(sy_url: str, ml_url: str, args: Any) -> Row:
    """Seconds to log ``args.values`` values, durable at the end, through each server."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    import shipyard as sy
    from shipyard.config import reset_settings

    os.environ["SHIPYARD_URL"] = sy_url
    reset_settings()
    n = args.values

    def shipyard_once() -> float:
        start = time.perf_counter()
        with sy.start_run(experiment="bench-logging") as run:
            for i in range(n):
                run.log_metric("x", i * 0.5, step=i)
        elapsed = time.perf_counter() - start
        assert sy.get_run(run.id).metrics["x"].count == n
        return elapsed

    client = MlflowClient(tracking_uri=ml_url)
    experiment_id = client.create_experiment("bench-logging")

    def mlflow_once() -> float:
        run = client.create_run(experiment_id)
        now = int(time.time() * 1000)
        start = time.perf_counter()
        for first in range(0, n, 1000):
            batch = [Metric("x", i * 0.5, now, i) for i in range(first, min(n, first + 1000))]
            client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)
        return time.perf_counter() - start

    shipyard_once()  # warm-up
    samples: dict[str, list[float]] = {"mlflow": [], "shipyard": []}
    for _ in range(args.repeats):
        samples["mlflow"].append(mlflow_once())
        samples["shipyard"].append(shipyard_once())
    os.environ.pop("SHIPYARD_URL")
    reset_settings()
    rate = {k: n / min(v) for k, v in samples.items()}
    best = rate["shipyard"]
    return Row(
        f"4. Log {n:,} metric values over HTTP, until durable (values/s in notes)",
        Timing(samples["mlflow"]),
        Timing(samples["shipyard"]),
        f"log_batch of 1,000: {rate['mlflow']:,.0f} values/s",
        f"SDK log_metric, one request per flush: {best:,.0f} values/s",
        goal=">= 50,000 values/s",
        met=best >= 50_000,
    )


# -- the run -------------------------------------------------------------------------------


def browser_figures(url: str) -> dict[str, Any] | None:
    """``bench/server_browser.py``'s figures on the Shipyard server, when it is there."""
    if not (Path(__file__).parent / "server_browser.py").exists():
        return None
    from server_browser import browser_figures as figures  # type: ignore[import-not-found]

    try:
        return dict(figures(url))
    except Exception as exc:  # the table above still stands: say what failed, in one line
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--runs-count", type=int, help="runs listed (default 10,000)")
    parser.add_argument("--points", type=int, help="points of the long metric (default 100,000)")
    parser.add_argument("--values", type=int, help="values logged per repeat (default 200,000)")
    parser.add_argument("--no-browser", action="store_true", help="skip server_browser.py")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    fill_defaults(
        args,
        {
            "runs_count": 2_000 if args.quick else 10_000,
            "points": 20_000 if args.quick else 100_000,
            "values": 50_000 if args.quick else 200_000,
        },
    )
    args.walks = 1 if args.quick else 3
    args.calls = 100 if args.quick else 500
    args.history_calls = 10 if args.quick else 50
    args.full_calls = 3 if args.quick else 5
    args.repeats = 2 if args.quick else 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.source = source_state()
    no_mlflow_telemetry()
    exit_on_sigterm()
    wall = time.perf_counter()
    report = Report()
    figures: dict[str, Any] | None = None
    data = SyntheticRuns.make(args.runs_count)
    with workspace("shipyard-server-bench-", args.keep) as ws:
        log(f"Filling both stores: {args.runs_count:,} runs, {args.points:,} points")
        home, sy_exp, sy_long = shipyard_store(ws, data, args.points)
        ml_uri, ml_exp, ml_long, ml_artifacts = mlflow_store(ws, data, args.points)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_URL")}
        sy_cmd = [
            sys.executable,
            "-c",
            "from shipyard.server import run; run('127.0.0.1', {port})",
        ]
        ml_cmd = [
            *[sys.executable, "-m", "mlflow", "server", "--workers", "1"],
            *["--host", "127.0.0.1", "--port", "{port}", "--backend-store-uri", ml_uri],
            *["--default-artifact-root", ml_artifacts.as_uri()],
        ]
        with (
            serving(sy_cmd, env, "/api/health", ws.root / "shipyard.log") as sy_url,
            serving(ml_cmd, env, "/health", ws.root / "mlflow.log") as ml_url,
        ):
            log(f"Shipyard at {sy_url}, MLflow at {ml_url}")
            report.add(bench_listing(sy_url, ml_url, (sy_exp, ml_exp), args))
            report.add(bench_one_run(sy_url, ml_url, data.ids, args))
            for row in bench_history(sy_url, ml_url, (sy_long, ml_long), args):
                report.add(row)
            report.add(bench_logging(sy_url, ml_url, args))
            if not args.no_browser:
                figures = browser_figures(sy_url)
        del home
    print_report(
        report,
        title="Platform server: MLflow's tracking server vs Shipyard's (SQLite, loopback HTTP)",
        width=170,
        legend="Latencies are p50 / p99 per call; speed-up is MLflow's p50 over Shipyard's.",
        footer=f"{versions(args.source)}; {'--quick; ' if args.quick else ''}"
        f"total wall time {time.perf_counter() - wall:.1f} s",
    )
    if figures is not None:
        print("Browser (bench/server_browser.py):")
        for name, value in figures.items():
            print(f"  {name}: {value:,.1f}" if isinstance(value, float) else f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
