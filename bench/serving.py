"""Serving benchmark: Shipyard's model server against ``mlflow models serve`` and a minimal
FastAPI + ONNX Runtime app, over HTTP on 127.0.0.1, on the same model, in one run.

Usage::

    python bench/serving.py                  # full run: 3 rounds of 7-s load tests (~7 min)
    python bench/serving.py --quick          # 1 round of 5-s load tests, 20 swaps (~2 min)
    python bench/serving.py --duration 30    # seconds per load test (over all rounds)
    python bench/serving.py --rounds 1       # each server started and measured once
    python bench/serving.py --only floor,shipyard  # of ceiling, floor, mlflow, shipyard, memory
    python bench/serving.py --client python  # the built-in asyncio load generator, not wrk
    python bench/serving.py --keep           # keep the temp folder (server logs, wrk output)

The model: ``HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
random_state=0)`` (100 trees; early stopping would keep ~58) fitted on
``make_classification(20_000, 20, random_state=0)`` as a DataFrame with columns f0..f19.
Shipyard registers it (``models.register("bench", model, X=X, y=y)``) and exports it to ONNX
(``models.export(ref, "onnx")``: skl2onnx, checked against the original); MLflow logs the
same fitted object (``mlflow.sklearn.log_model``: cloudpickle, an input example so that
it has a signature to enforce, pip requirements given) in a SQLite store.

Servers, each alone in its own process while it is measured, one uvicorn worker each
(uvicorn picks uvloop and httptools for all of them), ``OMP_NUM_THREADS=1``:

- ceiling: a FastAPI endpoint that reads the body and returns a constant (no model);
- floor: a minimal FastAPI app: orjson parses the record, a float32 row in column order,
  ``InferenceSession.run`` on Shipyard's ONNX bytes (one intra-op thread, as Shipyard's
  session), predictions and probabilities back through orjson; for a list of records it
  builds the array with a per-row Python loop, as a naive app would;
- MLflow: ``mlflow models serve -m <model> --env-manager local -w 1``, ``POST /invocations``
  with ``{"dataframe_records": [...]}``; its pyfunc answers labels only (less work);
- Shipyard: ``python -m shipyard.cli serve bench@champion --workers 1`` (ONNX Runtime, as
  ``--format auto`` picks the export), ``POST /predict`` with the bare record: as it ships
  (micro-batching on: ``--max-batch 64 --max-wait 0``), without micro-batching
  (``--max-batch 1``), with ``--max-wait 0.002``, and as shipped but with the inference log
  off (``--log-sample 0``, a reference for its cost), and as shipped with ``--workers 2``
  (two server processes; at 32 connections only). Otherwise its defaults stay on:
  validation against the signature, routing (the alias re-resolved every 2 s), Prometheus
  metrics, the inference log (every request; each server its own ``--log-dir``, whose rows
  are counted afterwards).

Scenarios (the issue's goals in brackets):

1. One-row requests on 32 connections for ``--duration`` s: requests/s, p50 and p99
   [Shipyard as shipped ≥ 0.8x the floor's requests/s; with ``--workers 2``, above one
   worker's: it scales (on 2 cores shared with the load generator, not 2x)].
2. One-row requests on 1 connection [Shipyard ≥ 0.8x the floor's requests/s, its p99 at
   most 1.5x the floor's].
3. One request of 1,000 rows, median of ``--big-requests`` sequential requests on one
   keep-alive connection (httpx): Shipyard ``{"records": [...]}`` and ``{"columns": {...}}``,
   the floor's records, MLflow's ``dataframe_records`` [Shipyard faster than the floor].
4. Memory: one Shipyard worker with one model, its RSS after a warm-up; then the
   ``champion`` alias moves between two more versions ``--swaps`` times (server polling
   every 0.05 s; each move waits until ``/v2/models/bench`` reports the new version, then one
   request checks that it answers) and the RSS after, with no other traffic meanwhile, so
   that what requests keep (the inference log's queue, recent request ids) does not count
   as growth [no growth; read here as at most 2%, at least 2 MB].

Load: wrk (Debian's package) with a Lua script that POSTs the body: ``-t1 -c1`` and
``-t2 -c32``, ``--latency``, figures read from the script's ``done`` hook. Without wrk (or
with ``--client python``), an asyncio client on raw sockets in this process (keep-alive,
fixed concurrency, every latency recorded). The load tests run in ``--rounds`` rounds (3;
``--duration`` is split over them): each round starts every server in turn, checks its
answer for the same row against scikit-learn's, warms it up for ``--warmup`` s at 32
connections, measures it and stops it, so that a busy spell of a shared machine falls on
all servers alike; the table gives the medians of the rounds. The servers and the load
generator share the machine's cores (2 here): the notes give how many cores each used and
the server's CPU time per request, and the set-up lines how much CPU other processes used
while each server was measured.

Everything is written under one temporary folder (the stores, the apps, the server logs),
removed at the end (``--keep`` keeps it); every server started is ended on exit, SIGTERM
included. Shipyard runs from a copy of ``src/shipyard`` taken at the start (this process
and every Shipyard server import it, through ``PYTHONPATH``), so edits to the work tree
during the run reach none of them.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import logging
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    Timing,
    exit_on_sigterm,
    fill_defaults,
    fmt_s,
    log,
    no_mlflow_telemetry,
    quiet_mlflow,
    source_state,
    versions,
    workspace,
)

no_mlflow_telemetry()  # before MLflow is imported anywhere

HOST = "127.0.0.1"
NAME = "bench"  # the model, in Shipyard's registry
FEATURES = 20
TRAIN_ROWS = 20_000
TREES = 100
BIG_ROWS = 1_000
BIG_WARMUP = 3  # untimed 1,000-row requests before the timed ones
CHECK_ROW = 0  # the row every server answers before timing (one of the first BIG_ROWS)
JSON = {"content-type": "application/json"}
PARTS = ("ceiling", "floor", "mlflow", "shipyard", "memory")
SHIPYARD_VARIANTS = {  # key: (label, arguments of shipyard serve besides the model and port)
    "sy-default": (
        "as shipped (micro-batching: --max-batch 64 --max-wait 0)",
        ["--max-batch", "64", "--max-wait", "0"],
    ),
    "sy-nobatch": ("--max-batch 1 (no micro-batching)", ["--max-batch", "1"]),
    "sy-wait": ("--max-wait 0.002 (micro-batching, batches held 2 ms)", ["--max-wait", "0.002"]),
    "sy-nolog": ("as shipped but the inference log off (--log-sample 0)", ["--log-sample", "0"]),
    "sy-workers2": ("as shipped, --workers 2 (two server processes)", ["--workers", "2"]),
}
WIDTH = 190


# -- the apps of the floor and the ceiling -------------------------------------------------

FLOOR_APP = '''"""The floor: a minimal FastAPI app calling ONNX Runtime (from bench/serving.py)."""

import os

import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

COLUMNS = os.environ["FLOOR_COLUMNS"].split(",")
options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(
    os.environ["FLOOR_ONNX"], options, providers=["CPUExecutionProvider"]
)
INPUT = session.get_inputs()[0].name
app = FastAPI()


@app.get("/ping")
async def ping() -> Response:
    return Response(b"ok")


@app.post("/predict")
async def predict(request: Request) -> Response:
    body = orjson.loads(await request.body())
    records = body["records"] if "records" in body else [body]
    x = np.array([[record[c] for c in COLUMNS] for record in records], dtype=np.float32)
    labels, proba = session.run(None, {INPUT: x})
    out = {"predictions": labels.tolist(), "probabilities": proba.tolist()}
    return Response(orjson.dumps(out), media_type="application/json")
'''

CEILING_APP = '''"""The HTTP ceiling: an endpoint returning a constant (from bench/serving.py)."""

from fastapi import FastAPI, Request
from fastapi.responses import Response

ANSWER = b'{"predictions":[0],"probabilities":[[0.5,0.5]]}'
app = FastAPI()


@app.get("/ping")
async def ping() -> Response:
    return Response(b"ok")


@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")
'''

WRK_SCRIPT = """-- POST the body in the file named by the first argument (from bench/serving.py)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d "
    .. "p50_us=%d p99_us=%d max_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


# -- processes -----------------------------------------------------------------------------


class ServerFailed(RuntimeError):
    """A server did not start, or answered wrongly."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, sid...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the machine has spent busy since boot, and of those in softirq (which is
    charged to no process: on 127.0.0.1 mostly the loopback's packet processing)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return math.nan, math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, softirq / tick


class Others:
    """CPU time of other processes during a stretch: the machine's busy time less softirq,
    this process's, its finished children's (wrk) and the server's."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float, float]:
        mine = os.times()
        own = mine.user + mine.system + mine.children_user + mine.children_system
        busy, softirq = machine_cpu()
        return busy, softirq, own, self.server.cpu_seconds(), time.monotonic()

    def stop(self) -> tuple[float, float, float]:
        """(other processes' CPU seconds, softirq seconds, wall seconds)."""
        end = self._sample()
        busy, softirq, own, server, wall = (b - a for a, b in zip(self.start, end, strict=True))
        return max(0.0, busy - softirq - own - server), softirq, wall


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (``VmRSS``), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fmt_mb(size: float) -> str:
    return f"{size / 2**20:,.1f} MB"


class Server:
    """One server process in its own session (so that it ends with everything it started)."""

    def __init__(
        self,
        key: str,
        label: str,
        cmd: list[str],
        env: dict[str, str],
        *,
        port: int,
        path: str,
        ready: str,
        logs: Path,
        cwd: Path,
    ) -> None:
        self.key, self.label, self.cmd, self.env = key, label, cmd, env
        self.port, self.path, self.ready_path = port, path, ready
        self.log_path = logs / f"{key}.log"
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def base(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self, timeout: float) -> float:
        """Start it and wait until it answers its readiness path; the seconds that took."""
        import httpx

        started = time.perf_counter()
        with open(self.log_path, "wb") as logfile:
            self.process = subprocess.Popen(
                self.cmd,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        RUNNING.append(self)
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(
                        f"{self.label} exited with code {self.process.returncode}: {self.tail()}"
                    )
                try:
                    if client.get(self.base(self.ready_path)).status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise ServerFailed(f"{self.label} was not ready after {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " / ".join(text[-lines:])[-1500:]

    def pids(self) -> list[int]:
        """The processes of its session (the server and any it started)."""
        if self.process is None:
            return []
        sid = self.process.pid
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields is not None and int(fields[3]) == sid:
                    found.append(int(entry.name))
        return found

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) its processes have used so far."""
        total = 0
        for pid in self.pids():
            fields = _proc_stat(pid)
            if fields is not None:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss(self) -> tuple[int, int]:
        """(RSS of its largest process, which serves; RSS of its other processes)."""
        sizes = sorted((rss_bytes(pid) for pid in self.pids()), reverse=True)
        return (sizes[0], sum(sizes[1:])) if sizes else (0, 0)

    def stop(self) -> None:
        """End its session: SIGTERM, then SIGKILL for what is left after 10 s."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            process.poll()
            if not self.pids():
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"  {self.label} (pid {process.pid}) did not exit")
        self.process = None
        if self in RUNNING:
            RUNNING.remove(self)


RUNNING: list[Server] = []  # every server started and not yet ended


def stop_all() -> None:
    for server in list(RUNNING):
        server.stop()


# -- load generation -----------------------------------------------------------------------


@dataclass
class Load:
    """One load test: a fixed number of connections posting the same body for some seconds."""

    connections: int
    seconds: float
    requests: int
    errors: int
    p50: float
    p99: float
    worst: float
    server_cpu: float  # CPU seconds of the server's processes during the test
    client_cpu: float  # and of the load generator's
    rate: float | None = None  # requests/s when not requests / seconds (rounds: their median)

    @property
    def rps(self) -> float:
        return self.rate if self.rate is not None else self.requests / self.seconds

    def cell(self) -> str:
        return f"{self.rps:,.0f}/s\n{fmt_s(self.p50)} / {fmt_s(self.p99)}"

    def cpu_per_request(self) -> str:
        return fmt_s(self.server_cpu / max(1, self.requests))

    def summary(self) -> str:
        errors = f", {self.errors:,} errors" if self.errors else ""
        return (
            f"{self.rps:,.0f} req/s, p50 {fmt_s(self.p50)}, p99 {fmt_s(self.p99)}, max "
            f"{fmt_s(self.worst)}{errors}; server {self.server_cpu / self.seconds:.2f} cores "
            f"({self.cpu_per_request()} CPU/request), client {self.client_cpu / self.seconds:.2f}"
        )


class Wrk:
    """wrk with a Lua script that posts a body from a file and prints its figures."""

    method = "wrk -t1 -c1 and -t2 -c32 --latency --timeout 10s, a Lua script posting the body"

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.script = folder / "post.lua"
        self.script.write_text(WRK_SCRIPT)
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
        first = (out.stdout or out.stderr).strip().splitlines()
        self.version = first[0].split("[")[0].strip() if first else "wrk"

    def run(self, server: Server, body: Path, connections: int, seconds: int, tag: str) -> Load:
        threads = 1 if connections == 1 else 2
        cmd = [
            self.binary,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(self.script),
            server.url,
            "--",
            str(body),
        ]
        cpu0, before = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        after, cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN), server.cpu_seconds()
        (self.folder / f"wrk-{server.key}-{tag}.txt").write_text(out.stdout + out.stderr)
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
        if out.returncode != 0 or line is None:
            raise ServerFailed(f"wrk failed on {server.label}: {(out.stderr or out.stdout)[-800:]}")
        figures = dict(part.split("=") for part in line.split()[1:])
        n = {k: int(v) for k, v in figures.items()}
        errors = n["status"] + n["connect"] + n["read"] + n["write"] + n["timeout"]
        client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return Load(
            connections,
            n["duration_us"] / 1e6,
            n["requests"],
            errors,
            n["p50_us"] / 1e6,
            n["p99_us"] / 1e6,
            n["max_us"] / 1e6,
            cpu1 - cpu0,
            client,
        )


class AsyncClient:
    """A load generator in this process: asyncio on raw sockets, HTTP/1.1 keep-alive, a fixed
    number of connections each sending its next request when the last is answered."""

    method = "the asyncio client in this process: raw sockets, keep-alive, fixed connections"
    version = "asyncio client (this process)"

    def run(self, server: Server, body: Path, connections: int, seconds: int, tag: str) -> Load:
        import asyncio
        import gc

        payload = body.read_bytes()
        request = (
            f"POST {server.path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        try:
            import uvloop

            runner: Callable[[Any], Any] = uvloop.run
        except ImportError:
            runner = asyncio.run
        cpu0, before = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
        gc.collect()
        gc.disable()
        try:
            latencies, errors, wall = runner(
                _drive(server.port, request, connections, float(seconds))
            )
        finally:
            gc.enable()
        after, cpu1 = resource.getrusage(resource.RUSAGE_SELF), server.cpu_seconds()
        if not latencies:
            raise ServerFailed(f"{server.label} answered no request in {seconds} s")
        timing = Timing(latencies, latency=True)
        return Load(
            connections,
            wall,
            len(latencies),
            errors,
            timing.median,
            timing.p99,
            max(latencies),
            cpu1 - cpu0,
            (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        )


async def _drive(
    port: int, request: bytes, connections: int, seconds: float
) -> tuple[list[float], int, float]:
    import asyncio

    latencies: list[float] = []
    errors = 0
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds

    async def connection() -> None:
        nonlocal errors
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while clock() < deadline:
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError:
                    errors += 1
                    await asyncio.sleep(0.01)
                    continue
            sent = clock()
            try:
                writer.write(request)
                status = await _read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors += 1
                writer.close()
                reader = writer = None
                continue
            latencies.append(clock() - sent)
            if not 200 <= status < 400:
                errors += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return latencies, errors, clock() - start


async def _read_response(reader: Any) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


# -- set-up: the model, both registries, the bodies ----------------------------------------


@dataclass
class Setup:
    """The model, the bodies each server is sent, and what it should answer."""

    root: Path
    columns: list[str]
    labels: Any  # scikit-learn's labels for the first BIG_ROWS rows
    proba: Any  # and its probabilities
    bodies: dict[str, Path]
    versions: list[int]  # Shipyard versions of NAME (the first is champion)
    mlflow_uri: str
    mlflow_model: str
    onnx: Path
    env: dict[str, str]  # every server's environment
    serve_options: str  # the source of the snapshot's ``shipyard serve`` (which options exist)
    notes: list[tuple[str, str]] = field(default_factory=list)


def snapshot_source(root: Path) -> tuple[Path, str]:
    """A copy of the work tree's ``src/shipyard`` (the folder for ``PYTHONPATH``, and a
    description with a digest of the copy)."""
    source = Path(__file__).resolve().parent.parent / "src" / "shipyard"
    dest = root / "source"
    shutil.copytree(source, dest / "shipyard", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted(dest.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
    return (
        dest,
        f"{source_state()}, work tree copied at the start, sha256 {digest.hexdigest()[:12]}",
    )


def build(ws: Any, args: argparse.Namespace) -> Setup:
    import mlflow
    import orjson
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    import shipyard as sy

    root: Path = ws.root
    start = time.perf_counter()
    features, target = make_classification(TRAIN_ROWS, FEATURES, random_state=0)
    columns = [f"f{i}" for i in range(FEATURES)]
    X = pd.DataFrame(features, columns=columns)
    y = pd.Series(target, name="y")
    model = HistGradientBoostingClassifier(
        max_iter=TREES, early_stopping=False, random_state=0
    ).fit(X, y)
    log(f"Model fitted in {time.perf_counter() - start:.1f} s")

    # Shipyard: three versions of the same model, each exported to ONNX; champion on the first
    ws.shipyard()
    start = time.perf_counter()
    numbers = []
    for _ in range(3):
        version = sy.models.register(NAME, model, X=X, y=y)
        sy.models.export(version.ref, "onnx")
        numbers.append(int(version.version))
    sy.models.set_alias(f"{NAME}@{numbers[0]}", "champion")
    info = sy.models.get(f"{NAME}@champion")
    export = info.exports["onnx"]
    onnx_path = root / "apps" / "model.onnx"
    onnx_path.parent.mkdir()
    onnx_path.write_bytes(sy.models.load(f"{NAME}@champion", format="onnx").native)
    log(f"Shipyard: 3 versions registered and exported in {time.perf_counter() - start:.1f} s")

    # MLflow: the same fitted object
    from importlib import metadata

    _, uri, experiment = ws.mlflow(experiment="bench-serving")
    start = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment):
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=X.iloc[:5],
            serialization_format="cloudpickle",
            pip_requirements=[
                f"{p}=={metadata.version(p)}"
                for p in ("scikit-learn", "numpy", "pandas", "cloudpickle")
            ],
        )
    log(f"MLflow: model logged in {time.perf_counter() - start:.1f} s")

    # The bodies
    bodies = root / "bodies"
    bodies.mkdir()
    record = X.iloc[CHECK_ROW].to_dict()
    big = X.iloc[:BIG_ROWS]
    big_records = big.to_dict(orient="records")
    contents = {
        "one": record,
        "one-mlflow": {"dataframe_records": [record]},
        "big-records": {"records": big_records},
        "big-columns": {"columns": {c: big[c].tolist() for c in columns}},
        "big-mlflow": {"dataframe_records": big_records},
    }
    paths = {}
    for key, content in contents.items():
        paths[key] = bodies / f"{key}.json"
        paths[key].write_bytes(orjson.dumps(content))

    apps = root / "apps"
    (apps / "floor_app.py").write_text(FLOOR_APP)
    (apps / "ceiling_app.py").write_text(CEILING_APP)
    (root / "tmp").mkdir()
    (root / "logs").mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": uri,
        "TMPDIR": str(root / "tmp"),
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "FLOOR_ONNX": str(onnx_path),
        "FLOOR_COLUMNS": ",".join(columns),
    }
    env.pop("MLFLOW_MODELS_WORKERS", None)

    setup = Setup(
        root=root,
        columns=columns,
        labels=model.predict(big),
        proba=model.predict_proba(big),
        bodies=paths,
        versions=numbers,
        mlflow_uri=uri,
        mlflow_model=logged.model_uri,
        onnx=onnx_path,
        env=env,
        serve_options=(Path(sy.__file__).parent / "cli" / "_serve.py").read_text(),
    )
    one = len(paths["one"].read_bytes())
    setup.notes.append(
        (
            f"Model: HistGradientBoostingClassifier(max_iter={TREES}, early_stopping=False) on "
            f"make_classification({TRAIN_ROWS:,}, {FEATURES}, random_state=0)",
            f"{model.n_iter_} trees; Shipyard {NAME}@{numbers[0]} skops {fmt_mb(info.size)}, "
            f"ONNX {fmt_mb(export.size)} ({export.report.get('converter', '?')}, max |Δp| "
            f"{export.report.get('max_diff', float('nan')):.1g} vs the original); MLflow "
            f"{logged.model_uri} (cloudpickle)",
        )
    )
    setup.notes.append(
        (
            "Bodies",
            f"one row: {one} bytes (the bare record; MLflow {{'dataframe_records': [record]}}); "
            f"1,000 rows: records {fmt_mb(paths['big-records'].stat().st_size)}, columns "
            f"{fmt_mb(paths['big-columns'].stat().st_size)}",
        )
    )
    return setup


# -- the servers -----------------------------------------------------------------------------


def make_server(key: str, setup: Setup, *, poll: float = 2.0) -> Server:
    python = sys.executable
    port = free_port()
    common = {"port": port, "logs": setup.root / "logs", "cwd": setup.root / "apps"}
    if key in ("ceiling", "floor"):
        cmd = [python, "-m", "uvicorn", f"{key}_app:app", "--host", HOST, "--port", str(port)]
        cmd += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
        label = "HTTP ceiling (constant)" if key == "ceiling" else "floor (FastAPI + ONNX Runtime)"
        return Server(key, label, cmd, setup.env, path="/predict", ready="/ping", **common)
    if key == "mlflow":
        cmd = [python, "-m", "mlflow", "models", "serve", "-m", setup.mlflow_model]
        cmd += ["--env-manager", "local", "-h", HOST, "-p", str(port), "-w", "1"]
        return Server(
            key, "mlflow models serve", cmd, setup.env, path="/invocations", ready="/ping", **common
        )
    label, extra = SHIPYARD_VARIANTS.get(key, SHIPYARD_VARIANTS["sy-default"])
    cmd = [python, "-m", "shipyard.cli", "serve", f"{NAME}@champion", "--host", HOST]
    cmd += ["--port", str(port), "--format", "auto", "--poll", str(poll)]
    cmd += extra if "--workers" in extra else ["--workers", "1", *extra]
    if "--log-dir" in setup.serve_options:  # each server its own inference log, counted after
        cmd += ["--log-dir", str(setup.root / "inference" / key)]
    return Server(
        key,
        f"Shipyard, {label}",
        cmd,
        setup.env,
        path="/predict",
        ready="/v2/health/ready",
        **common,
    )


def check_answer(server: Server, setup: Setup) -> str:
    """The server's answer for the check row must be scikit-learn's (label; probability
    within 1e-4 where it answers one)."""
    import httpx
    import orjson

    if server.key == "ceiling":
        return "constant answer (not checked)"
    body = setup.bodies["one-mlflow" if server.key == "mlflow" else "one"].read_bytes()
    response = httpx.post(server.url, content=body, headers=JSON, timeout=30)
    if response.status_code != 200:
        raise ServerFailed(f"{server.label} answered {response.status_code}: {response.text[:300]}")
    out = orjson.loads(response.content)
    label, want = out["predictions"][0], int(setup.labels[CHECK_ROW])
    if int(label) != want:
        raise ServerFailed(f"{server.label} answered label {label!r}; scikit-learn says {want}")
    if "probabilities" not in out:
        return f"label {label} ✓"
    got = float(out["probabilities"][0][1])
    expected = float(setup.proba[CHECK_ROW][1])
    if abs(got - expected) > 1e-4:
        raise ServerFailed(f"{server.label}: P(1) {got:.6f}; scikit-learn says {expected:.6f}")
    return f"label {label}, P(1) {got:.4f} ✓"


def big_requests(server: Server, body: Path, setup: Setup, count: int) -> Timing:
    """Seconds of ``count`` sequential 1,000-row requests on one keep-alive connection,
    after 3 untimed ones; the last answer's labels are checked."""
    import httpx
    import numpy as np
    import orjson

    content = body.read_bytes()
    samples = []
    with httpx.Client(timeout=120) as client:
        for _ in range(BIG_WARMUP):
            client.post(server.url, content=content, headers=JSON).read()
        for _ in range(count):
            start = time.perf_counter()
            response = client.post(server.url, content=content, headers=JSON)
            response.read()
            samples.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise ServerFailed(f"{server.label}: {response.status_code} {response.text[:300]}")
    labels = np.asarray(orjson.loads(response.content)["predictions"])
    agree = float(np.mean(labels == setup.labels))
    if agree < 0.999:
        raise ServerFailed(f"{server.label}: 1,000-row labels agree with scikit-learn on {agree}")
    return Timing(samples, latency=True)


@dataclass
class Measured:
    """What one server did, over the rounds."""

    key: str
    label: str
    start_seconds: list[float] = field(default_factory=list)
    answer: str = ""
    runs: dict[int, list[Load]] = field(default_factory=dict)  # connections: one per round
    samples: dict[str, list[float]] = field(default_factory=dict)  # 1,000-row request seconds
    rss: tuple[int, int] = (0, 0)  # after its last round
    answered: int = 0  # rows answered (wrk's counts: requests still in flight at the end not)
    others: tuple[float, float, float] = (0.0, 0.0, 0.0)  # see Others.stop, summed
    logged: int | None = None  # rows in its inference log

    @property
    def loads(self) -> dict[int, Load]:
        return {c: combine(runs) for c, runs in self.runs.items()}

    @property
    def big(self) -> dict[str, Timing]:
        return {k: Timing(v, latency=True) for k, v in self.samples.items()}


def combine(runs: list[Load]) -> Load:
    """The rounds of one load test as one: requests/s, p50 and p99 the medians of the
    rounds'; counts and CPU seconds summed."""
    return Load(
        runs[0].connections,
        sum(r.seconds for r in runs),
        sum(r.requests for r in runs),
        sum(r.errors for r in runs),
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        max(r.worst for r in runs),
        sum(r.server_cpu for r in runs),
        sum(r.client_cpu for r in runs),
        rate=statistics.median(r.rps for r in runs),
    )


def bench_server(
    key: str, setup: Setup, client: Any, args: argparse.Namespace, result: Measured | None
) -> Measured:
    """One round of one server: start, check, warm up, the load tests, the 1,000-row
    requests (for the floor, MLflow and Shipyard as shipped), stop."""
    server = make_server(key, setup)
    result = result or Measured(key, server.label)
    turn = f"round {len(result.start_seconds) + 1}/{args.rounds}"
    log(f"{server.label}: starting ({turn})")
    body = setup.bodies["one-mlflow" if key == "mlflow" else "one"]
    try:
        started = server.start(args.start_timeout)
        result.start_seconds.append(started)
        result.answer = check_answer(server, setup)
        log(f"  ready in {started:.1f} s; {result.answer}")
        others = Others(server)
        warm = client.run(server, body, 32, args.warmup, "warmup")
        result.answered += warm.requests + 1
        for connections in (32,) if key == "sy-workers2" else (1, 32):
            load = client.run(server, body, connections, args.round_seconds, f"c{connections}")
            result.runs.setdefault(connections, []).append(load)
            result.answered += load.requests
            log(f"  {connections} connection(s): {load.summary()}")
        bodies = {"floor": ("big-records",), "mlflow": ("big-mlflow",)}.get(key, ())
        if key == "sy-default":
            bodies = ("big-records", "big-columns")
        for name in bodies:
            timing = big_requests(server, setup.bodies[name], setup, args.round_big)
            result.samples.setdefault(name, []).extend(timing.samples)
            result.answered += BIG_ROWS * (timing.n + BIG_WARMUP)
            log(f"  1,000 rows ({name}): median {fmt_s(timing.median)}, {timing.spread()}")
        used = others.stop()
        result.others = tuple(a + b for a, b in zip(result.others, used, strict=True))
        result.rss = server.rss()
        log(f"  RSS {fmt_mb(result.rss[0])}; {_others(used)}")
    finally:
        server.stop()
    if key.startswith("sy-") and "--log-dir" in setup.serve_options:
        result.logged = logged_rows(setup.root / "inference" / key)
        log(f"  inference log: {result.logged:,} rows (≥ {result.answered:,} rows answered)")
    return result


def _others(others: tuple[float, float, float]) -> str:
    used, softirq, wall = others
    if not wall:
        return "other processes: not measured"
    return (
        f"other processes used {used:.1f} CPU-s in {wall:.0f} s ({100 * used / wall:.0f}% of a "
        f"core; kernel softirq, mostly loopback networking, another {100 * softirq / wall:.0f}%)"
    )


def logged_rows(folder: Path) -> int:
    """Rows in the Parquet files of an inference log folder."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in folder.rglob("*.parquet"))


# -- memory and hot swaps ----------------------------------------------------------------------


@dataclass
class Memory:
    warm: int  # RSS after the warm-up
    swapped: int  # after the swaps (no traffic meanwhile but one check request per swap)
    loaded: int  # after another warm-up on the version the swaps ended on
    series: list[tuple[int, int]]  # (swaps done, RSS)
    swaps: Timing  # seconds from set_alias to the new version answering
    errors: int


def bench_memory(setup: Setup, client: Any, args: argparse.Namespace) -> Memory:
    """RSS of one Shipyard worker after a warm-up, then after ``--swaps`` moves of the
    champion alias between two more versions (each move: set_alias, wait until the server
    reports the new version, one request checked to answer from it)."""
    import httpx
    import orjson

    import shipyard as sy

    server = make_server("sy-memory", setup, poll=0.05)
    server.label = "Shipyard as shipped, --poll 0.05 (memory and hot swaps)"
    log(f"{server.label}: starting")
    try:
        sy.models.set_alias(f"{NAME}@{setup.versions[0]}", "champion")
        server.start(args.start_timeout)
        check_answer(server, setup)
        warm = client.run(server, setup.bodies["one"], 32, args.warmup, "memory-warm")
        time.sleep(0.5)
        rss_warm = server.rss()[0]
        log(f"  RSS after warm-up: {fmt_mb(rss_warm)}")
        meta = server.base(f"/v2/models/{NAME}")
        one = setup.bodies["one"].read_bytes()
        targets = setup.versions[1:]
        samples, series = [], []
        with httpx.Client(timeout=10) as http:
            for i in range(args.swaps):
                target = targets[i % len(targets)]
                start = time.perf_counter()
                sy.models.set_alias(f"{NAME}@{target}", "champion")
                deadline = start + 60
                while orjson.loads(http.get(meta).content).get("versions") != [str(target)]:
                    if time.perf_counter() > deadline:
                        raise ServerFailed(f"version {target} not served 60 s after set_alias")
                    time.sleep(0.002)
                samples.append(time.perf_counter() - start)
                answer = orjson.loads(http.post(server.url, content=one, headers=JSON).content)
                if answer.get("version") != target:
                    raise ServerFailed(f"after swap {i + 1} the answer came from {answer}")
                if i + 1 in (1, 2, 10, args.swaps) or (i + 1) % 50 == 0:
                    series.append((i + 1, server.rss()[0]))
        time.sleep(0.5)
        rss_swapped = server.rss()[0]
        again = client.run(server, setup.bodies["one"], 32, args.warmup, "memory-after")
        time.sleep(0.5)
        rss_loaded = server.rss()[0]
        timing = Timing(samples, latency=True)
        log(
            f"  {args.swaps} swaps: median {fmt_s(timing.median)}, p99 {fmt_s(timing.p99)}; "
            f"RSS after: {fmt_mb(rss_swapped)} ({(rss_swapped - rss_warm) / 2**20:+.1f} MB); "
            f"after another warm-up: {fmt_mb(rss_loaded)}"
        )
        return Memory(rss_warm, rss_swapped, rss_loaded, series, timing, warm.errors + again.errors)
    finally:
        server.stop()


# -- the table -------------------------------------------------------------------------------


@dataclass
class Line:
    scenario: str
    mlflow: str = "—"
    floor: str = "—"
    shipyard: str = "—"
    vs_floor: str = "—"
    vs_mlflow: str = "—"
    goal: str = "—"
    met: bool | None = None
    notes: str = ""


def _ratio(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}×" if value < 10 else f"{value:,.0f}×"


def _load_notes(*loads: tuple[str, Load | None]) -> str:
    """Server CPU per request, cores used (server + load generator), errors."""
    shown = [(name, load) for name, load in loads if load is not None]
    cpu = " · ".join(f"{name} {load.cpu_per_request()}" for name, load in shown)
    cores = " · ".join(
        f"{name} {load.server_cpu / load.seconds:.2f}+{load.client_cpu / load.seconds:.2f}"
        for name, load in shown
    )
    errors = [f"{name}: {load.errors:,} errors" for name, load in shown if load.errors]
    return "; ".join([f"server CPU/request: {cpu}", f"cores, server+load: {cores}", *errors])


def load_lines(results: dict[str, Measured], connections: int, number: int) -> list[Line]:
    """The rows of one concurrency: each Shipyard variant against MLflow and the floor."""

    def get(key: str) -> Load | None:
        found = results.get(key)
        return found.loads.get(connections) if found else None

    floor, mlflow = get("floor"), get("mlflow")
    lines = []
    what = "32 connections" if connections == 32 else "1 connection"
    goals: dict[str, tuple[str, Callable[[Load, Load], bool]]]
    if connections == 32:
        goals = {
            "sy-nobatch": ("≥ 0.8× the floor's req/s", lambda s, f: s.rps >= 0.8 * f.rps),
            "sy-default": ("≥ 0.8× the floor's req/s", lambda s, f: s.rps >= 0.8 * f.rps),
            "sy-wait": ("above the floor's req/s", lambda s, f: s.rps > f.rps),
        }
        order = ("sy-nobatch", "sy-default", "sy-wait", "sy-nolog", "sy-workers2")
    else:
        goals = {
            "sy-default": (
                "≥ 0.8× the floor's req/s, p99 ≤ 1.5× the floor's",
                lambda s, f: s.rps >= 0.8 * f.rps and s.p99 <= 1.5 * f.p99,
            ),
            "sy-nobatch": ("p99 ≤ 1.5× the floor's", lambda s, f: s.p99 <= 1.5 * f.p99),
        }
        order = ("sy-default", "sy-nobatch", "sy-wait", "sy-nolog")
    letters = iter("abcdefgh")
    for key in order:
        shipyard = get(key)
        if shipyard is None:
            continue
        line = Line(
            f"{number}{next(letters)}. one row, {what}: Shipyard {SHIPYARD_VARIANTS[key][0]}",
            mlflow.cell() if mlflow else "—",
            floor.cell() if floor else "—",
            shipyard.cell(),
        )
        if floor:
            line.vs_floor = (
                f"req/s {_ratio(shipyard.rps / floor.rps)}\np99 {_ratio(shipyard.p99 / floor.p99)}"
            )
        if mlflow:
            line.vs_mlflow = (
                f"req/s {_ratio(shipyard.rps / mlflow.rps, 1)}\n"
                f"p99 {_ratio(shipyard.p99 / mlflow.p99)}"
            )
        if key in goals:
            line.goal, test = goals[key]
            if floor:
                line.met = test(shipyard, floor) and shipyard.errors == 0
        elif key == "sy-wait":
            line.goal = "— (holds each batch 2 ms by design)"
        elif key == "sy-nolog":
            line.goal = "— (reference: the inference log's cost)"
        elif key == "sy-workers2":
            one = get("sy-default")
            line.goal = "scales: above one worker's req/s (as shipped)"
            if one is not None:
                line.met = shipyard.rps > one.rps and shipyard.errors == 0
                line.vs_floor += f"\n÷1 worker {_ratio(shipyard.rps / one.rps)}"
        line.notes = _load_notes(("MLflow", mlflow), ("floor", floor), ("Shipyard", shipyard))
        lines.append(line)
    ceiling = results.get("ceiling")
    if ceiling and connections in ceiling.loads:
        load = ceiling.loads[connections]
        lines.append(
            Line(
                f"{number}{next(letters)}. reference, {what}: the HTTP ceiling, a FastAPI "
                "endpoint returning "
                "a constant, no model (in the Floor column)",
                floor=load.cell(),
                notes=_load_notes(("ceiling", load)),
            )
        )
    return lines


def big_lines(results: dict[str, Measured]) -> list[Line]:
    floor = results["floor"].big.get("big-records") if "floor" in results else None
    mlflow = results["mlflow"].big.get("big-mlflow") if "mlflow" in results else None
    shipyard = results["sy-default"].big if "sy-default" in results else {}
    lines = []
    for letter, key, what in (
        ("a", "big-records", '{"records": [...]}'),
        ("b", "big-columns", '{"columns": {...}}'),
    ):
        timing = shipyard.get(key)
        if timing is None:
            continue
        line = Line(
            f"3{letter}. one request of 1,000 rows: Shipyard {what}, as shipped (the floor: "
            "records, array built row by row; MLflow: dataframe_records)",
            mlflow.cell() if mlflow else "—",
            floor.cell() if floor else "—",
            timing.cell(),
            goal="faster than the floor (median)",
        )
        if floor:
            line.vs_floor = f"time {_ratio(timing.median / floor.median)}"
            line.met = timing.median < floor.median
        if mlflow:
            line.vs_mlflow = f"time {_ratio(timing.median / mlflow.median)}"
        line.notes = (
            f"p50 / p99 of {timing.n} sequential requests each on one keep-alive connection"
        )
        lines.append(line)
    return lines


def memory_line(memory: Memory | None, results: dict[str, Measured], swaps: int) -> list[Line]:
    if memory is None:
        return []
    growth = memory.swapped - memory.warm
    tolerance = max(2 * 2**20, 0.02 * memory.warm)
    mlflow, floor = results.get("mlflow"), results.get("floor")
    series = ", ".join(f"{n}: {fmt_mb(rss)}" for n, rss in memory.series)
    later = ""
    if len(memory.series) > 2:
        later = (
            f" ({(memory.series[-1][1] - memory.series[1][1]) / 2**20:+.1f} MB from swap 2 to "
            f"{memory.series[-1][0]}, once both versions had been loaded)"
        )
    others = "MLflow and floor columns: their RSS after their load tests" + (
        f" (MLflow's CLI parent process holds {fmt_mb(mlflow.rss[1])} more)" if mlflow else ""
    )
    return [
        Line(
            f"4. memory: RSS of one Shipyard worker with one model after a warm-up → after {swaps} "
            "hot swaps (champion moved back and forth between two more versions)",
            fmt_mb(mlflow.rss[0]) if mlflow else "—",
            fmt_mb(floor.rss[0]) if floor else "—",
            f"{fmt_mb(memory.warm)} →\n{fmt_mb(memory.swapped)}",
            goal=f"no growth (read as ≤ {fmt_mb(tolerance)}: 2%, at least 2 MB)",
            met=growth <= tolerance and memory.errors == 0,
            notes=f"growth {growth / 2**20:+.1f} MB{later}; RSS after n swaps: {series}; after "
            f"another warm-up: {fmt_mb(memory.loaded)}; a swap (set_alias "
            f"until the server reports the new version, --poll 0.05): p50 "
            f"{fmt_s(memory.swaps.median)}, p99 {fmt_s(memory.swaps.p99)}; {others}",
        )
    ]


def print_results(
    lines: list[Line],
    setup: Setup,
    results: dict[str, Measured],
    skipped: list[str],
    args: argparse.Namespace,
    client: Any,
    wall: float,
) -> None:
    import fastapi
    import onnxruntime
    import orjson
    import sklearn
    import uvicorn
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else WIDTH)
    table = Table(
        title="Model serving over HTTP on 127.0.0.1: MLflow vs a FastAPI + ONNX Runtime floor vs "
        "Shipyard (same model, one uvicorn worker each, one run)",
        show_lines=True,
    )
    table.add_column("Scenario", overflow="fold", ratio=4)
    table.add_column("MLflow", justify="right", no_wrap=True)
    table.add_column("Floor", justify="right", no_wrap=True)
    table.add_column("Shipyard", justify="right", no_wrap=True)
    table.add_column("Shipyard÷floor", justify="right", no_wrap=True)
    table.add_column("Shipyard÷MLflow", justify="right", no_wrap=True)
    table.add_column("Goal", overflow="fold", ratio=2)
    table.add_column("Result", no_wrap=True)
    table.add_column("Notes", overflow="fold", ratio=4)
    for line in lines:
        table.add_row(
            *map(escape, (line.scenario, line.mlflow, line.floor, line.shipyard)),
            *map(escape, (line.vs_floor, line.vs_mlflow, line.goal)),
            {True: "[green]met[/]", False: "[red]missed[/]", None: "—"}[line.met],
            escape(line.notes),
        )
    console.print(table)
    console.print(
        f"Rows 1–2: requests/s, then p50 / p99 latency ({client.method}): "
        + (
            f"the medians of {args.rounds} rounds of {args.round_seconds} s (each round starts "
            "every server afresh, the servers taking turns)"
            if args.rounds > 1
            else f"one run of {args.round_seconds} s"
        )
        + f", each after {args.warmup} s of warm-up at 32 connections. Row 3: p50 / p99 of "
        "one 1,000-row request, the samples of all rounds. Ratios are Shipyard's figure "
        "over the other's: above 1 is better for req/s, worse for p99 and time. The servers "
        f"and the load generator share this machine's {os.cpu_count()} cores (nothing is "
        "pinned): the Notes give the cores each used and the server's CPU time per request. "
        "Shipyard's server runs with its defaults: validation against the signature, routing "
        "(the alias re-resolved every 2 s), Prometheus metrics and "
        + (
            "the inference log (every request, Parquet written by a background thread) on."
            if "--log-sample" in setup.serve_options
            else "no inference log (this version has none)."
        )
    )
    for what, value in setup.notes:
        console.print(escape(f"  setup: {what}: {value}"))
    for result in results.values():
        logged = (
            ""
            if result.logged is None
            else f"; inference log: {result.logged:,} rows (≥ {result.answered:,} answered)"
        )
        console.print(
            escape(
                f"  server: {result.label}: ready "
                f"{', '.join(f'{x:.1f}' for x in result.start_seconds)} s after start; "
                f"{result.answer}; RSS {fmt_mb(result.rss[0])}{logged}; during its tests "
                f"{_others(result.others)}"
            )
        )
    for what in skipped:
        console.print(f"  [yellow]skipped[/]: {escape(what)}")
    total = (
        sum(r.others[0] for r in results.values()),
        sum(r.others[1] for r in results.values()),
        sum(r.others[2] for r in results.values()),
    )
    extra = [
        ("scikit-learn", sklearn.__version__),
        ("ONNX Runtime", onnxruntime.__version__),
        ("FastAPI", fastapi.__version__),
        ("uvicorn", uvicorn.__version__),
        ("orjson", orjson.__version__),
        ("load", client.version),
    ]
    console.print(
        f"{versions(args.source, extra)}; {platform.machine()}; "
        f"{'--quick; ' if args.quick else ''}--duration {args.duration}, --rounds {args.rounds}, "
        f"--warmup {args.warmup}, "
        f"--big-requests {args.big_requests}, --swaps {args.swaps}; total wall time "
        f"{wall / 60:.1f} min; during all load tests {_others(total)}"
    )


# -- arguments and main ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5-s load tests, a smoke run")
    parser.add_argument(
        "--duration",
        type=int,
        default=None,
        help="seconds of each load test, split over the rounds (default 20, quick 5)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds: every server is started, measured and stopped once per round, the servers "
        "taking turns, so that a busy spell of the machine falls on all alike; the table gives "
        "the medians (default 3, quick 1)",
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="seconds of warm-up load (default 2, quick 1)"
    )
    parser.add_argument(
        "--big-requests",
        type=int,
        default=None,
        help="timed 1,000-row requests per server and body (default 30, quick 10)",
    )
    parser.add_argument(
        "--swaps", type=int, default=None, help="alias moves in scenario 4 (default 100, quick 20)"
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=None,
        help="seconds a server may take to be ready before it is skipped (default 180, quick 60)",
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (auto), wrk, or the built-in asyncio client",
    )
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    quick = args.quick
    fill_defaults(
        args,
        {
            "duration": 5 if quick else 20,
            "rounds": 1 if quick else 3,
            "warmup": 1 if quick else 2,
            "big_requests": 10 if quick else 30,
            "swaps": 20 if quick else 100,
            "start_timeout": 60.0 if quick else 180.0,
        },
    )
    args.only = set(PARTS) if not args.only else {p.strip() for p in args.only.split(",")}
    unknown = args.only - set(PARTS)
    if unknown:
        parser.error(f"unknown --only part(s): {', '.join(sorted(unknown))}")
    if min(args.duration, args.rounds, args.warmup, args.big_requests, args.swaps) < 1:
        parser.error("--duration, --rounds, --warmup, --big-requests, --swaps: at least 1")
    args.round_seconds = max(1, round(args.duration / args.rounds))  # wrk takes whole seconds
    args.round_big = max(1, round(args.big_requests / args.rounds))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_mlflow(logging.ERROR)
    exit_on_sigterm()
    atexit.register(stop_all)
    wall = time.perf_counter()
    wrk = shutil.which("wrk")
    if args.client == "wrk" and wrk is None:
        raise SystemExit("--client wrk: wrk is not on PATH (apt-get install wrk)")
    results: dict[str, Measured] = {}
    failed: set[str] = set()
    skipped: list[str] = []
    memory = None
    with workspace("shipyard-bench-serving-", args.keep) as ws:
        snapshot, args.source = snapshot_source(ws.root)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(snapshot), os.environ.get("PYTHONPATH")) if p
        )
        sys.path.insert(0, str(snapshot))
        import shipyard

        if not str(shipyard.__file__).startswith(str(snapshot) + os.sep):
            raise SystemExit(f"Shipyard imported from {shipyard.__file__}, not {snapshot}")
        log(f"Shipyard source: {args.source}")
        client: Any = (
            Wrk(wrk, ws.root) if wrk is not None and args.client != "python" else AsyncClient()
        )
        if wrk is None:
            skipped.append("wrk is not installed: load from the built-in asyncio client")
        log(f"Load generator: {client.version}")
        try:
            setup = build(ws, args)
            keys = [
                k
                for k, part in (
                    ("ceiling", "ceiling"),
                    ("floor", "floor"),
                    ("mlflow", "mlflow"),
                    ("sy-default", "shipyard"),
                    ("sy-nobatch", "shipyard"),
                    ("sy-wait", "shipyard"),
                    ("sy-nolog", "shipyard"),
                    ("sy-workers2", "shipyard"),
                )
                if part in args.only
            ]
            if "sy-nolog" in keys and "--log-sample" not in setup.serve_options:
                keys.remove("sy-nolog")
                skipped.append("inference log off: this Shipyard's serve has no --log-sample")
            for _ in range(args.rounds):
                for key in keys:
                    if key in failed:
                        continue
                    try:
                        results[key] = bench_server(key, setup, client, args, results.get(key))
                    except ServerFailed as exc:
                        log(f"  skipped: {exc}")
                        skipped.append(f"{key}: {exc}")
                        failed.add(key)
                        results.pop(key, None)
            if "memory" in args.only:
                try:
                    memory = bench_memory(setup, client, args)
                except ServerFailed as exc:
                    log(f"  skipped: {exc}")
                    skipped.append(f"memory: {exc}")
        finally:
            stop_all()
        lines = [
            *load_lines(results, 32, 1),
            *load_lines(results, 1, 2),
            *big_lines(results),
            *memory_line(memory, results, args.swaps),
        ]
        print_results(lines, setup, results, skipped, args, client, time.perf_counter() - wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
