"""The live part of ``bench/rollouts.py``: real ``shipyard serve`` processes under load.

a. A candidate that fails every request, under a canary at a stated load, with 1 and 2
   workers: the failed requests clients saw, against the step's error budget (2).
b. Blue-green: ``promote`` to the other colour mid-load; failed requests (goal 0).
c. A CPU-bound shadow (20 ms of pure Python per call): the primary's p50 / p99 at a stated
   load with and without the shadow route (goal: p99 within 10%), and the shadow copies
   answered and dropped.

Load is open-loop (requests sent on a fixed schedule, whatever the answers do), from one
asyncio client in this process; each scenario uses a fresh store under a temp folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _common import log, temp_folder
from shipyard.testing.servers import LOAN_ROW

HERE = Path(__file__).resolve().parent
ROW = LOAN_ROW
FEATURES = list(ROW)


def _prepare(home: Path) -> None:
    """A store with ``good`` @1 and @2 (scikit-learn), ``failing`` @1 and ``busy`` @1."""
    os.environ["SHIPYARD_HOME"] = str(home)
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        os.environ.pop(var, None)
    sys.path.insert(0, str(HERE))
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import shipyard as sy
    from _shadow_models import Busy
    from shipyard.config import reset_settings
    from shipyard.data import make_loans
    from shipyard.testing.servers import FailsOn

    reset_settings()
    frame = make_loans(2000, seed=0)
    X, y = frame[FEATURES], frame["default"]
    for c in (0.5, 1.0):
        encode = ColumnTransformer(
            [("num", StandardScaler(), FEATURES[:5]), ("cat", OneHotEncoder(), ["region"])]
        )
        model = Pipeline([("pre", encode), ("m", LogisticRegression(C=c, max_iter=300))])
        sy.models.register("good", model.fit(X, y), X=X, y=y)
    sample = X[X["income"] != 52000.0]
    sy.models.register("failing", FailsOn("income", 52000.0), X=sample)
    sy.models.register("busy", Busy(0.02), X=sample)


@contextmanager
def _server(deployment: str, workers: int = 1, poll: float = 0.5) -> Iterator[str]:
    from shipyard.testing.servers import free_port

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", "serve", "--deployment", deployment,
         "--port", str(port), "--workers", str(workers), "--poll", str(poll),
         "--log-sample", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read()[-2000:]!r}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _load(
    url: str,
    rate: float,
    seconds: float,
    during: Callable[[], None] | None = None,
    at: float = 0.5,
) -> tuple[list[float], list[int]]:
    """Open-loop load: ``rate`` requests/s for ``seconds``; ``during`` runs (in a thread)
    at ``at`` of the way. Latencies of 200 answers, and every status."""
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one() -> None:
            sent = time.perf_counter()
            try:
                answer = await client.post("/predict", json=ROW)
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - sent)
            except httpx.HTTPError:
                statuses.append(0)

        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        fired = False
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if during is not None and not fired and index >= total * at:
                fired = True
                tasks.append(asyncio.ensure_future(asyncio.to_thread(during)))
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
    return latencies, statuses


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M))


def failing_candidate(workers: int, rate: float, seconds: float) -> dict[str, Any]:
    from shipyard.serving import deployments

    name = f"fail-{workers}"
    deployments.create(name, {"base": "good@1", "cand": "failing@1"}, policy="canary")
    with _server(name, workers=workers) as url:
        _, statuses = asyncio.run(_load(url, rate, seconds))
    state = deployments.get(name)
    failed = sum(s >= 500 or s == 0 for s in statuses)
    return {
        "scenario": f"failing candidate, {workers} worker(s), {rate:g} req/s",
        "failed": failed,
        "requests": len(statuses),
        "status": state.policy.get("status"),
        "goal": "failed ≤ 2 (the step's budget)",
        "met": failed <= 2 and state.policy.get("status") == "rolled_back",
    }


def blue_green(rate: float, seconds: float) -> dict[str, Any]:
    from shipyard.serving import deployments

    deployments.create("bg", {"blue": "good@1", "green": "good@2"}, policy="blue_green")
    with _server("bg") as url:
        _, statuses = asyncio.run(
            _load(url, rate, seconds, during=lambda: deployments.promote("bg", "green"))
        )
        versions = httpx.post(f"{url}/predict", json=ROW).json()["version"]
    failed = sum(s != 200 for s in statuses)
    return {
        "scenario": f"blue-green switch under {rate:g} req/s",
        "failed": failed,
        "requests": len(statuses),
        "status": f"serving version {versions}",
        "goal": "0 failed",
        "met": failed == 0 and versions == 2,
    }


def shadow_cost(rate: float, seconds: float) -> dict[str, Any]:
    from shipyard.serving import deployments

    deployments.create("plain", {"main": "good@1"})
    deployments.create("mirrored", {"main": "good@1", "busy": "busy@1"}, policy="shadow")
    figures = {}
    for name in ("plain", "mirrored"):
        with _server(name) as url:
            asyncio.run(_load(url, rate, 2.0))  # warm
            latencies, statuses = asyncio.run(_load(url, rate, seconds))
            answered = _metric(url, "shipyard_shadow_rows_total")
            dropped = _metric(url, "shipyard_shadow_dropped_total")
        figures[name] = (latencies, statuses, answered, dropped)
    base, shadowed = figures["plain"][0], figures["mirrored"][0]
    ratio = _pct(shadowed, 99) / _pct(base, 99)
    return {
        "scenario": f"CPU-bound 20 ms shadow at {rate:g} req/s",
        "failed": sum(s != 200 for s in figures["mirrored"][1]),
        "requests": len(figures["mirrored"][1]),
        "status": (
            f"p50 {_pct(base, 50):.2f} → {_pct(shadowed, 50):.2f} ms, p99 {_pct(base, 99):.2f}"
            f" → {_pct(shadowed, 99):.2f} ms; shadow rows answered "
            f"{figures['mirrored'][2]:,.0f}, dropped {figures['mirrored'][3]:,.0f}"
        ),
        "goal": "p99 +≤ 10%",
        "met": ratio <= 1.10,
    }


def run_live(rate: float = 680.0, seconds: float = 10.0, shadow_rate: float = 300.0) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = []
    with temp_folder("shipyard-rollouts-", keep=False) as root:
        _prepare(root / "home")
        for workers in (1, 2):
            rows.append(failing_candidate(workers, rate, seconds))
            log(str(rows[-1]))
        rows.append(blue_green(rate, seconds))
        log(str(rows[-1]))
        rows.append(shadow_cost(shadow_rate, seconds))
        log(str(rows[-1]))
    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title="Rollouts on real servers")
    for column in ("Scenario", "Failed / requests", "Outcome", "Goal", "Result"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["scenario"],
            f"{row['failed']:,} / {row['requests']:,}",
            str(row["status"]),
            row["goal"],
            "[green]met[/]" if row["met"] else "[red]missed[/]",
        )
    console.print(table)
