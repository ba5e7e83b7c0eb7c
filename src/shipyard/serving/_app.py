"""The inference server: FastAPI app speaking the Open Inference Protocol v2 and plain JSON.

Endpoints: ``/v2/health/live``, ``/v2/health/ready``, ``/v2``, ``/v2/models/{name}``
(``/versions/{v}``), ``.../ready``, ``.../infer``; ``POST /predict``; ``GET /metrics``.
Bodies are read with orjson and answered with orjson; errors are ``{"error": "..."}`` as the
protocol says: 400 for a body that is not what the protocol describes, 422 for input the
model's signature refuses (the column named), 404 for another model or version, 503 while no
model is ready. Every answer carries ``X-Request-ID`` (the client's, or a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from shipyard._version import __version__
from shipyard.errors import InvalidInput
from shipyard.serving._metrics import Metrics
from shipyard.serving._protocol import (
    BadRequest,
    oip_columns,
    oip_outputs,
    plain_columns,
    plain_outputs,
)
from shipyard.serving._slot import Active, Slot

__all__ = ["create_app"]

log = logging.getLogger("shipyard.serving")

_OIP_TYPES = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(
    model: str,
    *,
    format: str = "auto",
    max_batch: int = 64,
    max_wait: float = 0.0,
    poll: float = 2.0,
) -> FastAPI:
    """An app serving the model version ``model`` names (``churn@champion``); it follows
    the reference, hot-swapping when the alias moves (checked every ``poll`` seconds).

    ``format``: ``auto`` (int8 ONNX, then ONNX, then native), ``onnx`` or ``native``.
    ``max_batch``/``max_wait``: micro-batching (``max_batch=1`` turns it off).
    """
    metrics = Metrics()
    batch_rows = metrics.batch.labels(model.split("@")[0])
    slot = Slot(
        model,
        format=format,
        max_batch=max_batch,
        max_wait=max_wait,
        observe_batch=batch_rows.observe,
        observe_load=lambda ref, seconds: metrics.load.labels(ref.split("@")[0]).observe(seconds),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = await asyncio.to_thread(slot.load)
        log.info("serving %s (%s)", active.model.version.ref, active.model.format)
        watcher = asyncio.create_task(_watch(slot, poll, metrics)) if poll > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(
        title="Shipyard model server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.slot = slot
    app.state.metrics = metrics
    counters: dict[tuple[str, str, str, int], Any] = {}
    timers: dict[tuple[str, str, str], Any] = {}

    def record(endpoint: str, active: Active | None, code: int, seconds: float) -> None:
        name, version = (active.name, str(active.version)) if active else ("", "")
        key = (endpoint, name, version, code)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = metrics.requests.labels(endpoint, name, version, str(code))
        counter.inc()
        if code < 400:
            timer = timers.get(key[:3])
            if timer is None:
                timer = timers[key[:3]] = metrics.latency.labels(endpoint, name, version)
            timer.observe(seconds)

    def current(name: str | None = None, version: str | None = None) -> Active:
        active = slot.active
        if active is None:
            raise HTTPError(503, f"No model is ready yet ({slot.ref}).")
        if name is not None and name != active.name:
            raise HTTPError(404, f"Model {name!r} is not served here (serving {active.name!r}).")
        if version is not None and version != str(active.version):
            raise HTTPError(
                404,
                f"Version {version!r} of {active.name!r} is not served here "
                f"(serving version {active.version}).",
            )
        return active

    async def answer(
        request: Request,
        endpoint: str,
        handle: Callable[[Any, Active], Awaitable[dict[str, Any]]],
        name: str | None = None,
        version: str | None = None,
    ) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        active: Active | None = None
        try:
            active = current(name, version)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                raise HTTPError(400, f"The body is not valid JSON: {exc}.") from exc
            payload = await handle(body, active)
            payload.setdefault("id", request_id)
            status = 200
        except HTTPError as exc:
            status, payload = exc.status, {"error": exc.message}
        except BadRequest as exc:
            status, payload = 400, {"error": str(exc)}
        except InvalidInput as exc:
            status, payload = 422, {"error": str(exc)}
        except Exception as exc:
            log.exception("request %s failed", request_id)
            status, payload = 500, {"error": f"The model failed on this input: {exc}"}
        record(endpoint, active, status, time.perf_counter() - started)
        return Response(
            orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            status_code=status,
            media_type="application/json",
            headers={"x-request-id": request_id},
        )

    async def infer(body: Any, active: Active) -> dict[str, Any]:
        signature = active.model.signature
        names = signature.names if signature is not None else []
        raw, rows = oip_columns(body, names)
        columns = active.model.validate(raw)
        labels, proba = await active.batcher.predict(columns, rows)
        out: dict[str, Any] = {
            "model_name": active.name,
            "model_version": str(active.version),
            "outputs": oip_outputs(labels, proba),
        }
        if isinstance(body.get("id"), str):
            out["id"] = body["id"]
        return out

    async def predict(body: Any, active: Active) -> dict[str, Any]:
        signature = active.model.signature
        names = signature.names if signature is not None else []
        raw, rows = plain_columns(body, names)
        columns = active.model.validate(raw)
        labels, proba = await active.batcher.predict(columns, rows)
        out = plain_outputs(labels, proba)
        out.update(model=active.name, version=active.version)
        if active.model.classes is not None and proba is not None:
            out["classes"] = list(active.model.classes)
        return out

    def plain(status: int, payload: Any) -> Response:
        return Response(orjson.dumps(payload), status_code=status, media_type="application/json")

    @app.get("/v2/health/live", tags=["health"])
    async def live() -> Response:
        return plain(200, {"live": True})

    @app.get("/v2/health/ready", tags=["health"])
    async def ready() -> Response:
        return plain(200 if slot.ready else 503, {"ready": slot.ready})

    @app.get("/v2", tags=["metadata"])
    async def server_metadata() -> Response:
        return plain(200, {"name": "shipyard", "version": __version__, "extensions": []})

    def metadata(name: str, version: str | None) -> Response:
        try:
            active = current(name, version)
        except HTTPError as exc:
            return plain(exc.status, {"error": exc.message})
        signature = active.model.signature
        inputs = [
            {"name": spec.name, "datatype": _OIP_TYPES.get(spec.type, "BYTES"), "shape": [-1]}
            for spec in (signature.inputs if signature is not None else [])
        ]
        outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
        if active.model.classes is not None:
            outputs.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": [-1, len(active.model.classes)],
                }
            )
        return plain(
            200,
            {
                "name": active.name,
                "versions": [str(active.version)],
                "platform": f"shipyard-{active.model.version.flavor}-{active.model.format}",
                "inputs": inputs,
                "outputs": outputs,
            },
        )

    @app.get("/v2/models/{name}", tags=["metadata"])
    async def model_metadata(name: str) -> Response:
        return metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["metadata"])
    async def version_metadata(name: str, version: str) -> Response:
        return metadata(name, version)

    def model_ready(name: str, version: str | None) -> Response:
        try:
            current(name, version)
        except HTTPError as exc:
            return plain(exc.status, {"error": exc.message})
        return plain(200, {"name": name, "ready": True})

    @app.get("/v2/models/{name}/ready", tags=["health"])
    async def model_is_ready(name: str) -> Response:
        return model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["health"])
    async def version_is_ready(name: str, version: str) -> Response:
        return model_ready(name, version)

    @app.post("/v2/models/{name}/infer", tags=["inference"])
    async def infer_latest(name: str, request: Request) -> Response:
        return await answer(request, "infer", infer, name)

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["inference"])
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await answer(request, "infer", infer, name, version)

    @app.post("/predict", tags=["inference"])
    async def predict_route(request: Request) -> Response:
        return await answer(request, "predict", predict)

    @app.get("/metrics", tags=["operations"])
    async def metrics_route() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app


async def _watch(slot: Slot, poll: float, metrics: Metrics) -> None:
    """Follow the reference: swap when it names another version."""
    while True:
        await asyncio.sleep(poll)
        before = slot.last_error
        await slot.refresh()
        if slot.last_error is not None and slot.last_error != before:
            metrics.load_failures.labels(slot.ref.split("@")[0]).inc()
