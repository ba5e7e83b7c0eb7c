"""Where a prediction request's time goes: Shipyard's model server and the FastAPI + ONNX
Runtime floor of ``bench/serving.py``, driven in this process, step by step.

Usage::

    python bench/serving_steps.py                    # one-row requests, 5,000 of them
    python bench/serving_steps.py --requests 20000   # more requests per measurement
    python bench/serving_steps.py --rows 1000        # 1,000-row requests (records and columns)
    python bench/serving_steps.py --only shipyard    # of floor, shipyard

Load tests over HTTP measure wall time, which a shared machine makes noisy. This script
measures CPU time instead, robust to other processes: each app (the same model as
``bench/serving.py``: ``HistGradientBoostingClassifier(max_iter=100)`` on
``make_classification(20_000, 20)``, Shipyard's ONNX export) is called as an ASGI app on
an asyncio event loop (uvloop when installed, as uvicorn picks it), with no network and no
uvicorn: a loop of sequential requests, each the same body. The figures:

- total: the main thread's CPU time (``time.thread_time``) per request, uninstrumented, the
  median of ``--repeats`` loops; plus the CPU time other threads took meanwhile (Shipyard's
  inference-log writer, Parquet in the background; read from each thread's CPU clock);
- stages: the same loop again with a CPU-time probe around each step (exclusive times: a
  step's own time, its timed sub-steps left out), the probes' own cost measured and taken
  off, and the rest (ASGI, Starlette routing, the request object, glue) by difference.

Shipyard's steps: gate (overload, key), body (read and ``orjson.loads``), route pick,
parse (body to columns, ``_protocol``), validate (signature), predict (the batcher's own
overhead), model (``predict_columns``: ONNX Runtime and the probability handling), answer
shape, metrics (Prometheus), statistics (the evidence pool, the feedback ticket), inference
log (queued on the request path), shadows, access line (off by default), the service's glue
(``infer``) and the response (``orjson.dumps`` and the ``Response``). The floor's: body
(FastAPI's ``request.body()`` and ``orjson.loads``), array (``np.array`` of the rows), model
(``session.run``), ``orjson.dumps``, the response, and its route glue.

Shipyard as shipped (``shipyard serve`` defaults: validation, routing, Prometheus metrics,
the inference log on every request under a temporary folder, access lines off).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import fill_defaults, log, no_mlflow_telemetry, workspace

no_mlflow_telemetry()

FEATURES = 20
TRAIN_ROWS = 20_000
TREES = 100
NAME = "bench"
clock = time.thread_time_ns


# -- timing probes ---------------------------------------------------------------------------


@dataclass
class Stages:
    """Exclusive CPU nanoseconds per stage, and the probes each stage's figure holds."""

    ns: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)
    async_children: dict[str, int] = field(default_factory=dict)  # of those, async probes
    stack: list[list[Any]] = field(default_factory=list)  # [stage, started, inner ns]
    on: bool = False

    def enter(self, stage: str) -> None:
        self.stack.append([stage, clock(), 0])

    def leave(self) -> None:
        stage, started, inner = self.stack.pop()
        spent = clock() - started
        self.ns[stage] = self.ns.get(stage, 0) + spent - inner
        self.calls[stage] = self.calls.get(stage, 0) + 1
        if self.stack:
            parent = self.stack[-1]
            parent[2] += spent
            self.children[parent[0]] = self.children.get(parent[0], 0) + 1
            if stage in ASYNC_STAGES:
                self.async_children[parent[0]] = self.async_children.get(parent[0], 0) + 1

    def reset(self) -> None:
        self.ns.clear()
        self.calls.clear()
        self.children.clear()
        self.async_children.clear()


STAGES = Stages()


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` counted as ``stage`` (its probed callees left out) while probes are on."""

    def probe(*args: Any, **kwargs: Any) -> Any:
        if not STAGES.on:
            return fn(*args, **kwargs)
        STAGES.enter(stage)
        try:
            return fn(*args, **kwargs)
        finally:
            STAGES.leave()

    return probe


def timed_async(stage: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """An ``async`` ``fn`` counted as ``stage`` (the requests run one at a time, so the
    awaits inside are this request's own)."""

    ASYNC_STAGES.add(stage)

    async def probe(*args: Any, **kwargs: Any) -> Any:
        if not STAGES.on:
            return await fn(*args, **kwargs)
        STAGES.enter(stage)
        try:
            return await fn(*args, **kwargs)
        finally:
            STAGES.leave()

    return probe


def probe_cost() -> tuple[float, float]:
    """Nanoseconds a probe adds to its own stage and to its parent's, measured on no-ops."""
    inner = timed("inner", lambda: None)

    def outer_body() -> None:
        inner()

    outer = timed("outer", outer_body)
    bare = timed("bare", lambda: None)
    STAGES.on = True
    for _ in range(3):
        STAGES.reset()
        for _ in range(20_000):
            outer()
            bare()
    STAGES.on = False
    own = STAGES.ns["inner"] / STAGES.calls["inner"]
    # outer's exclusive time less a bare probe's: what one child probe adds to its parent
    to_parent = (STAGES.ns["outer"] - STAGES.ns["bare"]) / STAGES.calls["outer"]
    STAGES.reset()
    return own, max(0.0, to_parent)


async def probe_cost_async() -> tuple[float, float]:
    """:func:`probe_cost` for the probes of ``async`` steps (a coroutine more each)."""

    async def nothing() -> None:
        return None

    inner = timed_async("inner", nothing)

    async def outer_body() -> None:
        await inner()

    outer = timed_async("outer", outer_body)
    bare = timed_async("bare", nothing)
    STAGES.on = True
    for _ in range(3):
        STAGES.reset()
        for _ in range(20_000):
            await outer()
            await bare()
    STAGES.on = False
    own = STAGES.ns["inner"] / STAGES.calls["inner"]
    to_parent = (STAGES.ns["outer"] - STAGES.ns["bare"]) / STAGES.calls["outer"]
    STAGES.reset()
    return own, max(0.0, to_parent)


ASYNC_STAGES: set[str] = set()  # the stages whose probes are async (their own costs)


# -- the ASGI driver ------------------------------------------------------------------------


def scope_of(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"wrk"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def drive(app: Any, path: str, body: bytes, count: int) -> int:
    """``count`` sequential POSTs of ``body`` to ``app``; the status of the last."""
    status = 0
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        nonlocal status
        if event["type"] == "http.response.start":
            status = event["status"]

    for _ in range(count):
        await app(scope_of(path, body), receive, send)
    return status


def other_threads_ns() -> dict[str, int]:
    """CPU nanoseconds used so far by this process's threads but the calling one, by
    thread name (worker threads' numbers dropped: ``asyncio_0`` and ``asyncio_1`` are one)."""
    found: dict[str, int] = {}
    me = threading.get_ident()
    for thread in threading.enumerate():
        if thread.ident is None or thread.ident == me or not thread.is_alive():
            continue
        try:
            spent = time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ProcessLookupError):
            continue
        name = thread.name.rstrip("0123456789").rstrip("_-") or "thread"
        found[name] = found.get(name, 0) + spent
    return found


@dataclass
class Result:
    name: str
    total_us: float  # main thread CPU µs per request, uninstrumented (median of repeats)
    totals: list[float]
    others_us: dict[str, float]  # other threads' CPU µs per request meanwhile, by name
    stages: dict[str, float]  # exclusive µs per request, probes' cost taken off
    probed_us: float  # the instrumented loop's main-thread µs per request


async def measure(
    name: str, app: Any, path: str, body: bytes, args: argparse.Namespace, order: list[str]
) -> Result:
    """The uninstrumented totals, then one instrumented loop for the stages."""
    status = await drive(app, path, body, max(50, args.requests // 10))  # warm-up
    if status != 200:
        raise SystemExit(f"{name}: answered {status}")
    totals, others = [], []
    for _ in range(args.repeats):
        before_others, before = other_threads_ns(), clock()
        await drive(app, path, body, args.requests)
        totals.append((clock() - before) / args.requests / 1e3)
        await asyncio.sleep(1.2)  # let the log writer write what this loop queued
        after = other_threads_ns()
        others.append(
            {
                name: (spent - before_others.get(name, 0)) / args.requests / 1e3
                for name, spent in after.items()
            }
        )
    own, to_parent = probe_cost()
    async_own, async_to_parent = await probe_cost_async()
    STAGES.reset()
    STAGES.on = True
    STAGES.async_children.clear()
    before = clock()
    try:
        await drive(app, path, body, args.requests)
    finally:
        STAGES.on = False
    probed = (clock() - before) / args.requests / 1e3
    stages = {}
    for stage in order:
        ns = STAGES.ns.get(stage, 0)
        mine = async_own if stage in ASYNC_STAGES else own
        sync_children = STAGES.children.get(stage, 0) - STAGES.async_children.get(stage, 0)
        ns -= STAGES.calls.get(stage, 0) * mine + sync_children * to_parent
        ns -= STAGES.async_children.get(stage, 0) * async_to_parent
        stages[stage] = max(0.0, ns) / args.requests / 1e3
    if args.profile:
        await profile(app, path, body, args)
    total = statistics.median(totals)
    stages["rest: ASGI, Starlette routing, request object, glue"] = max(
        0.0, total - sum(stages.values())
    )
    names = {name for found in others for name in found}
    spent = {name: statistics.median(o.get(name, 0.0) for o in others) for name in names}
    return Result(name, total, totals, spent, stages, probed)


async def profile(app: Any, path: str, body: bytes, args: argparse.Namespace) -> None:
    """cProfile's view of one more loop, top ``--profile`` functions by own time
    (deterministic profiling inflates small calls: read it for where, not how much)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    await drive(app, path, body, args.requests)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("tottime")
    stats.print_stats(args.profile)
    if os.environ.get("STEPS_CALLERS"):
        stats.print_callers(os.environ["STEPS_CALLERS"])


# -- the two apps ---------------------------------------------------------------------------


def build_model(root: Path, rows: int) -> tuple[Any, dict[str, bytes], list[str]]:
    """Fit the bench model, register and export it in a store under ``root``; the ONNX
    bytes and the bodies (one record, or ``rows`` rows as records and as columns)."""
    import orjson
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    import shipyard as sy

    features, target = make_classification(TRAIN_ROWS, FEATURES, random_state=0)
    columns = [f"f{i}" for i in range(FEATURES)]
    X = pd.DataFrame(features, columns=columns)
    y = pd.Series(target, name="y")
    model = HistGradientBoostingClassifier(
        max_iter=TREES, early_stopping=False, random_state=0
    ).fit(X, y)
    version = sy.models.register(NAME, model, X=X, y=y)
    sy.models.export(version.ref, "onnx")
    sy.models.set_alias(version.ref, "champion")
    onnx = root / "model.onnx"
    onnx.write_bytes(sy.models.load(f"{NAME}@champion", format="onnx").native)
    if rows == 1:
        bodies = {"one row": orjson.dumps(X.iloc[0].to_dict())}
    else:
        part = X.iloc[:rows]
        bodies = {
            f"{rows:,} rows, records": orjson.dumps({"records": part.to_dict(orient="records")}),
            f"{rows:,} rows, columns": orjson.dumps(
                {"columns": {c: part[c].tolist() for c in columns}}
            ),
        }
    return onnx, bodies, columns


SHIPYARD_ORDER = [
    "gate",
    "body: read + orjson.loads",
    "route pick",
    "parse (body to columns)",
    "validate (signature)",
    "predict: batcher",
    "model: predict_columns (ONNX Runtime)",
    "answer shape",
    "metrics (Prometheus)",
    "access line",
    "statistics + ticket (evidence pool)",
    "inference log (queue a row)",
    "shadows",
    "service glue (infer, _answer, _after)",
    "response: orjson.dumps + Response",
]


def shipyard_app(root: Path) -> tuple[Any, Any]:
    """Shipyard's app as ``shipyard serve`` builds it, with probes on each step."""
    from shipyard.serving import _routes, _service
    from shipyard.serving._app import create_app
    from shipyard.serving._batcher import Batcher
    from shipyard.serving._log import InferenceLog
    from shipyard.serving._pool import Pool
    from shipyard.serving._shadow import ShadowQueue

    service_cls = _service.InferenceService
    s = SHIPYARD_ORDER
    service_cls.gate = timed(s[0], service_cls.gate)  # type: ignore[method-assign]
    _routes.HttpBody.load = timed_async(s[1], _routes.HttpBody.load)  # type: ignore[method-assign]
    service_cls.pick = timed(s[2], service_cls.pick)  # type: ignore[method-assign]
    _service.plain_columns = timed(s[3], _service.plain_columns)
    _service.oip_columns = timed(s[3], _service.oip_columns)
    loaded = importlib.import_module("shipyard.models._loaded").LoadedModel
    loaded.validate = timed(s[4], loaded.validate)
    signature = importlib.import_module("shipyard.models._signature").Signature
    if hasattr(signature, "record_columns"):  # the one-record fast path
        signature.record_columns = timed(s[4], signature.record_columns)
    Batcher.predict = timed_async(s[5], Batcher.predict)  # type: ignore[method-assign]
    loaded.predict_columns = timed(s[6], loaded.predict_columns)
    service_cls._predict_shape = staticmethod(  # type: ignore[method-assign]
        timed(s[7], service_cls._predict_shape)
    )
    service_cls._infer_shape = timed(s[7], service_cls._infer_shape)  # type: ignore[method-assign]
    service_cls._record = timed(s[8], service_cls._record)  # type: ignore[method-assign]
    service_cls._access_line = staticmethod(  # type: ignore[method-assign]
        timed(s[9], service_cls._access_line)
    )
    Pool.answered = timed(s[10], Pool.answered)  # type: ignore[method-assign]
    InferenceLog.request = timed(s[11], InferenceLog.request)  # type: ignore[method-assign]
    ShadowQueue.offer = timed(s[12], ShadowQueue.offer)  # type: ignore[method-assign]
    service_cls.infer = timed_async(s[13], service_cls.infer)  # type: ignore[method-assign]
    dumps = _routes.orjson.dumps
    shim = types.SimpleNamespace(**{k: getattr(_routes.orjson, k) for k in dir(_routes.orjson)})
    shim.dumps = timed(s[14], dumps)
    _routes.orjson = shim  # type: ignore[assignment]
    _routes.Response = timed(s[14], _routes.Response)  # type: ignore[misc]
    app = create_app(f"{NAME}@champion", log_dir=root / "inference")
    return app, app.router.lifespan_context(app)


FLOOR_ORDER = [
    "body: request.body() + orjson.loads",
    "array: np.array of the rows",
    "model: session.run (ONNX Runtime)",
    "response: orjson.dumps + Response",
]


def floor_app(onnx: Path, columns: list[str]) -> Any:
    """The floor app of ``bench/serving.py`` (its very source), with probes on its steps."""
    sys.path.insert(0, str(Path(__file__).parent))
    from serving import FLOOR_APP

    os.environ["FLOOR_ONNX"] = str(onnx)
    os.environ["FLOOR_COLUMNS"] = ",".join(columns)
    module = types.ModuleType("floor_app")
    exec(compile(FLOOR_APP, "floor_app.py", "exec"), module.__dict__)
    import numpy as np
    import orjson

    f = FLOOR_ORDER
    module.orjson = types.SimpleNamespace(  # type: ignore[attr-defined]
        loads=timed(f[0], orjson.loads), dumps=timed(f[3], orjson.dumps)
    )
    module.np = types.SimpleNamespace(  # type: ignore[attr-defined]
        array=timed(f[1], np.array), float32=np.float32
    )
    session = module.session  # type: ignore[attr-defined]
    module.session = types.SimpleNamespace(  # type: ignore[attr-defined]
        run=timed(f[2], session.run)
    )
    module.Response = timed(f[3], module.Response)  # type: ignore[attr-defined]
    request_cls = importlib.import_module("starlette.requests").Request
    request_cls.body = timed_async(f[0], request_cls.body)  # type: ignore[method-assign]
    return module.app  # type: ignore[attr-defined]


# -- output -----------------------------------------------------------------------------


def print_table(results: list[Result], body: str) -> None:
    print()
    print(f"Per-request CPU time, {body} (main thread, µs; stages exclusive, probes' cost off)")
    for result in results:
        print()
        spread = ", ".join(f"{t:.1f}" for t in result.totals)
        print(f"{result.name}: {result.total_us:.1f} µs/request ({spread})")
        print(f"  {'stage':<52} {'µs/request':>11} {'share':>7}")
        for stage, us in result.stages.items():
            share = 100 * us / result.total_us if result.total_us else 0.0
            print(f"  {stage:<52} {us:>11.1f} {share:>6.1f}%")
        print(f"  {'total (main thread)':<52} {result.total_us:>11.1f} {100.0:>6.1f}%")
        print(f"  {'(the same loop with the probes)':<52} {result.probed_us:>11.1f}")
        others = sum(result.others_us.values())
        print(f"  {'other threads meanwhile, all':<52} {others:>11.1f}")
        for name, us in sorted(result.others_us.items(), key=lambda item: -item[1]):
            if us >= 0.05:
                print(f"    {name:<50} {us:>11.1f}")
    if len(results) == 2 and results[0].total_us:
        floor, shipyard = results
        print()
        print(
            f"Shipyard ÷ floor, main thread CPU per request: "
            f"{shipyard.total_us / floor.total_us:.2f}× ({shipyard.total_us:.1f} vs "
            f"{floor.total_us:.1f} µs; uvicorn's HTTP parsing, the same for both, is not in "
            "either)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=None, help="requests per loop")
    parser.add_argument("--repeats", type=int, default=3, help="uninstrumented loops (median)")
    parser.add_argument("--rows", type=int, default=1, help="rows per request (1, or e.g. 1000)")
    parser.add_argument("--only", default="floor,shipyard", help="of floor, shipyard")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--profile", type=int, default=0, help="also print cProfile's top N functions per app"
    )
    args = parser.parse_args(argv)
    fill_defaults(args, {"requests": 5_000 if args.rows == 1 else 200})
    args.only = {p.strip() for p in args.only.split(",")}
    if not args.only <= {"floor", "shipyard"}:
        parser.error("--only takes floor and/or shipyard")
    if min(args.requests, args.repeats, args.rows) < 1:
        parser.error("--requests, --repeats, --rows: at least 1")
    return args


async def run(args: argparse.Namespace, root: Path) -> None:
    onnx, bodies, columns = build_model(root, args.rows)
    floor = floor_app(onnx, columns) if "floor" in args.only else None
    shipyard, lifespan = shipyard_app(root) if "shipyard" in args.only else (None, None)
    if lifespan is not None:
        await lifespan.__aenter__()
    try:
        for what, body in bodies.items():
            results = []
            if floor is not None and "columns" not in what:
                log(f"floor: {what}")
                results.append(await measure("floor", floor, "/predict", body, args, FLOOR_ORDER))
            if shipyard is not None:
                log(f"Shipyard: {what}")
                results.append(
                    await measure(
                        "Shipyard as shipped", shipyard, "/predict", body, args, SHIPYARD_ORDER
                    )
                )
            print_table(results, what)
    finally:
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with workspace("shipyard-bench-steps-", args.keep) as ws:
        ws.shipyard()
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(run(args, ws.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
