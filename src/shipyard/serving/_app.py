"""The inference server: FastAPI app speaking the Open Inference Protocol v2 and plain JSON.

Endpoints: ``/v2/health/live``, ``/v2/health/ready``, ``/v2``, ``/v2/models/{name}``
(``/versions/{v}``), ``.../ready``, ``.../infer``; ``POST /predict``; ``POST /feedback``;
``GET /metrics``. Bodies are read with orjson and answered with orjson; errors are
``{"error": "..."}`` as the protocol says: 400 for a body that is not what the protocol
describes, 422 for input the model's signature refuses (the column named), 404 for another
model or version, 503 while no model is ready. Every answer carries ``X-Request-ID`` (the
client's, or a new one).

It serves one model reference (``churn@champion``) or a named deployment (routes and a
policy, see ``_deployments``); either way a :class:`~shipyard.serving._router.Router` picks
the route. A watcher polls the store: a moved alias or a changed deployment builds a new
router whose models are loaded and warmed before it replaces the old one; a canary's judge
runs there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.routing import Route

from shipyard._version import __version__
from shipyard.config import get_settings
from shipyard.errors import InvalidInput
from shipyard.serving import _deployments as deployments
from shipyard.serving._auth import Keyring, RateLimiter
from shipyard.serving._canary import judge
from shipyard.serving._log import InferenceLog
from shipyard.serving._metrics import Metrics
from shipyard.serving._protocol import (
    FEEDBACK_BODY,
    INFER_BODY,
    PREDICT_BODY,
    BadRequest,
    body_schema,
    oip_columns,
    oip_outputs,
    plain_columns,
    plain_outputs,
)
from shipyard.serving._router import Router, RouteStats, Ticket, Tickets
from shipyard.serving._slot import Active, Slot

__all__ = ["create_app"]

log = logging.getLogger("shipyard.serving")
access = logging.getLogger("shipyard.serving.access")  # one JSON line per request, at INFO

_OIP_TYPES = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}
MAIN = "main"  # the one route of a server for a single model reference


def _settle_memory() -> None:
    """Collect, then freeze what survives (the imported libraries, the loaded models) out of
    the cyclic collector's sight. A server imports ~2,000 modules (~190,000 tracked objects):
    without this each full collection walked them all, ~100 ms with the loop stalled, and
    under load that set the p99. Frozen objects are still freed by reference counting."""
    gc.collect()
    gc.freeze()


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers
    )


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Server:
    """What the endpoints share: the current router, statistics, log, metrics."""

    def __init__(
        self,
        model: str | None,
        deployment: str | None,
        format: str,
        max_batch: int,
        max_wait: float,
        log_sample: float,
        log_dir: str | Path | None,
        auth: bool,
        max_inflight: int,
    ) -> None:
        if (model is None) == (deployment is None):
            raise InvalidInput("Serve exactly one of model='name@alias' or deployment='name'.")
        self.model = model
        self.deployment = deployment
        self.name = deployment or str(model).split("@")[0]
        self.format = format
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.metrics = Metrics()
        self.batch_rows = self.metrics.batch.labels(self.name)
        self.stats: dict[str, RouteStats] = {}
        self.tickets = Tickets()
        self.router: Router | None = None
        self.log: InferenceLog | None = None
        if log_sample > 0:
            folder = Path(log_dir) if log_dir is not None else get_settings().home / "inference"
            self.log = InferenceLog(folder, self.name, sample=log_sample)
        self.last_error: str | None = None
        self.keyring = Keyring() if auth else None
        self.limiter = RateLimiter()
        self.max_inflight = max_inflight
        self.inflight = 0

    def gate(self, request: Request, scope: str) -> Response | None:
        """None when the request may go on; otherwise the answer that stops it (401, 403,
        429 or 503)."""
        if self.inflight >= self.max_inflight:
            return _json(
                503,
                {"error": f"Overloaded: {self.inflight} requests in flight; retry shortly."},
                {"retry-after": "1"},
            )
        if self.keyring is None:
            return None
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else None
        key = key or request.headers.get("x-api-key")
        if not key:
            return _json(
                401,
                {"error": "An API key is required: 'Authorization: Bearer <key>'."},
                {"www-authenticate": "Bearer"},
            )
        found = self.keyring.find(key)
        if found is None:
            return _json(
                401, {"error": "Unknown or revoked API key."}, {"www-authenticate": "Bearer"}
            )
        if scope not in found.scopes:
            return _json(
                403,
                {"error": f"Key {found.name!r} lacks the {scope!r} scope "
                 f"(it has {', '.join(found.scopes)})."},
            )  # fmt: skip
        if found.rate_limit is not None:
            wait = self.limiter.allow(found.name, found.rate_limit)
            if wait > 0:
                return _json(
                    429,
                    {"error": f"Rate limit of {found.rate_limit:g} requests/s for key "
                     f"{found.name!r} reached."},
                    {"retry-after": str(max(1, round(wait)))},
                )  # fmt: skip
        return None

    # -- building routers ----------------------------------------------------------------
    def _slot(self, ref: str, old: Router | None) -> Slot:
        if old is not None:
            for route, slot in old.slots.items():
                if old.models[route] == ref:
                    return slot  # same reference: keep the loaded model
        return Slot(
            ref,
            format=self.format,
            max_batch=self.max_batch,
            max_wait=self.max_wait,
            observe_batch=self.batch_rows.observe,
            observe_load=lambda ref, seconds: self.metrics.load.labels(ref.split("@")[0]).observe(
                seconds
            ),
        )

    def build(self) -> Router:
        """A router for the deployment (or model) as stored now, every model loaded."""
        old = self.router
        if self.deployment is None:
            assert self.model is not None
            slots = {MAIN: self._slot(self.model, old)}
            models, weights, policy = {MAIN: self.model}, {MAIN: 100.0}, {}
            revision: tuple[str, int] = ("", 0)
        else:
            stored = deployments.get(self.deployment)
            models = {r.name: r.model for r in stored.routes}
            slots = {r.name: self._slot(r.model, old) for r in stored.routes}
            weights, policy, revision = stored.split, stored.policy, (stored.id, stored.revision)
        for slot in slots.values():
            if not slot.ready:
                slot.load()
        return Router(self.name, slots, models, weights, policy, revision, self.stats)

    async def watch(self, poll: float) -> None:
        """Follow the store: aliases, the deployment's revision, the canary's judgement."""
        while True:
            await asyncio.sleep(poll)
            try:
                await self._check()
            except Exception as exc:
                if str(exc) != self.last_error:
                    log.error("could not apply a change of %s: %s", self.name, exc)
                    self.metrics.load_failures.labels(self.name).inc()
                self.last_error = str(exc)

    async def _check(self) -> None:
        if self.keyring is not None:
            await asyncio.to_thread(self.keyring.refresh)  # revoked keys stop working
        router = self.router
        if router is None:
            return
        for slot in router.slots.values():
            before = slot.last_error
            if await slot.refresh():
                _settle_memory()
            if slot.last_error is not None and slot.last_error != before:
                self.metrics.load_failures.labels(self.name).inc()
        if self.deployment is None:
            return
        revision = await asyncio.to_thread(deployments.revision, self.deployment)
        if revision != router.revision:
            rebuilt = await asyncio.to_thread(self.build)
            self._fresh_stats(router, rebuilt)
            self.router = rebuilt
            self.last_error = None
            _settle_memory()
            return
        policy = router.policy
        if policy.get("kind") == "canary" and policy.get("status") == "running":
            decision = judge(
                policy, self.stats[policy["baseline"]], self.stats[policy["candidate"]]
            )
            if decision is None:
                return
            applied = await asyncio.to_thread(
                deployments.record_decision,
                self.deployment,
                router.revision[1],
                decision.policy,
                decision.weights,
                decision.kind,
                decision.evidence,
                router.revision[0],
            )
            if applied is not None:
                log.info("%s: %s %s", self.name, decision.kind, decision.evidence)
                for route in (policy["baseline"], policy["candidate"]):
                    self.stats[route].reset()
                self.router = await asyncio.to_thread(self.build)

    def _fresh_stats(self, old: Router, new: Router) -> None:
        """Statistics start over where what they measured changed: every route of a
        deployment created again, and a canary's two routes at each step (whoever took it:
        another worker's decision arrives here as a new revision)."""
        if old.revision[0] != new.revision[0]:
            for stats in self.stats.values():
                stats.reset()
            return
        keys = ("kind", "step", "status", "baseline", "candidate")
        if new.policy.get("kind") == "canary" and any(
            old.policy.get(k) != new.policy.get(k) for k in keys
        ):
            for route in (new.policy["baseline"], new.policy["candidate"]):
                self.stats[route].reset()


def create_app(
    model: str | None = None,
    *,
    deployment: str | None = None,
    format: str = "auto",
    max_batch: int = 64,
    max_wait: float = 0.0,
    poll: float = 2.0,
    log_sample: float = 1.0,
    log_dir: str | Path | None = None,
    auth: bool = False,
    max_inflight: int = 1024,
    max_body: int = 64 * 1024 * 1024,
) -> FastAPI:
    """An app serving ``model`` (``churn@champion``, followed as the alias moves) or the
    named ``deployment`` (its routes and policy, followed as they change).

    ``format``: ``auto`` (int8 ONNX, then ONNX, then native), ``onnx`` or ``native``.
    ``max_batch``/``max_wait``: micro-batching (``max_batch=1`` turns it off).
    ``poll``: seconds between checks of the store (0: never). ``log_sample``: share of
    requests written to the inference log (0: none) under ``log_dir``
    (``SHIPYARD_HOME/inference``). ``auth``: every endpoint but health needs an API key
    with the endpoint's scope (``shipyard keys create``). ``max_inflight``: requests
    answered 503 at once beyond this many in flight, rather than queued without end.
    ``max_body``: bodies larger than this many bytes are answered 413.
    """
    server = _Server(
        model, deployment, format, max_batch, max_wait, log_sample, log_dir, auth, max_inflight
    )
    metrics = server.metrics

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.router = await asyncio.to_thread(server.build)
        _settle_memory()
        log.info("serving %s", server.name)
        watcher = asyncio.create_task(server.watch(poll)) if poll > 0 else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if server.log is not None:
                await asyncio.to_thread(server.log.close)

    app = FastAPI(
        title="Shipyard model server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None if auth else "/openapi.json",  # with auth, only health is open
    )
    app.state.server = server
    counters: dict[tuple[str, str, str, str, int], Any] = {}
    shadow_tasks: set[asyncio.Task[None]] = set()
    timers: dict[tuple[str, str, str, str], Any] = {}

    def record(
        endpoint: str, route: str | None, active: Active | None, code: int, seconds: float
    ) -> None:
        name, version = (active.name, str(active.version)) if active else ("", "")
        key = (endpoint, route or "", name, version, code)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = metrics.requests.labels(*key[:4], str(code))
        counter.inc()
        if code < 400:
            timer = timers.get(key[:4])
            if timer is None:
                timer = timers[key[:4]] = metrics.latency.labels(*key[:4])
            timer.observe(seconds)

    def current_router(name: str | None = None) -> Router:
        router = server.router
        if router is None or not router.ready:
            raise HTTPError(503, f"No model is ready yet ({server.name}).")
        if name is not None and name != server.name:
            raise HTTPError(404, f"Model {name!r} is not served here (serving {server.name!r}).")
        return router

    def pick(router: Router, body: Any, request: Request, version: str | None) -> str:
        if version is not None:
            for route, slot in router.slots.items():
                if slot.active is not None and str(slot.active.version) == version:
                    return route
            served = sorted({str(s.active.version) for s in router.slots.values() if s.active})
            raise HTTPError(
                404,
                f"Version {version!r} of {server.name!r} is not served here "
                f"(serving {', '.join(served)}).",
            )
        sticky = router.policy.get("sticky")
        key = None
        if sticky:
            key = request.headers.get(sticky)
            if key is None and isinstance(body, dict):
                record = body
                if isinstance(body.get("records"), list) and body["records"]:
                    record = body["records"][0]
                value = record.get(sticky) if isinstance(record, dict) else None
                key = None if value is None else str(value)
        return router.choose(key)

    Parse = Callable[[Any, list[str]], tuple[dict[str, Any], int]]
    Shape = Callable[[Active, Any, np.ndarray, np.ndarray | None], dict[str, Any]]

    async def answer(
        request: Request,
        endpoint: str,
        parse: Parse,
        shape: Shape,
        name: str | None = None,
        version: str | None = None,
    ) -> Response:
        refused = server.gate(request, "predict")
        if refused is not None:
            return refused
        server.inflight += 1
        try:
            return await answered(request, endpoint, parse, shape, name, version)
        finally:
            server.inflight -= 1

    async def answered(
        request: Request,
        endpoint: str,
        parse: Parse,
        shape: Shape,
        name: str | None,
        version: str | None,
    ) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        active: Active | None = None
        route: str | None = None
        try:
            router = current_router(name)
            body = await read_body(request)
            if "x-request-id" not in request.headers and isinstance(body, dict):
                given = body.get("id")  # an OIP request names itself: feedback uses that id
                if isinstance(given, str) and 0 < len(given) <= 128:
                    request_id = given
            route = pick(router, body, request, version)
            active = router.slots[route].active
            assert active is not None
            signature = active.model.signature
            raw, rows = parse(body, signature.names if signature is not None else [])
            columns = active.model.validate(raw)
            try:
                labels, proba = await active.batcher.predict(columns, rows)
            except InvalidInput:
                raise
            except Exception:
                server.stats[route].errors += 1
                raise
            payload = shape(active, body, labels, proba)
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
        seconds = time.perf_counter() - started
        record(endpoint, route, active, status, seconds)
        if access.isEnabledFor(logging.INFO):
            access.info(
                orjson.dumps(
                    {
                        "at": time.time(),
                        "request_id": request_id,
                        "endpoint": endpoint,
                        "route": route,
                        "model": active.name if active else None,
                        "version": active.version if active else None,
                        "status": status,
                        "latency_ms": round(seconds * 1e3, 3),
                        **({"error": payload["error"]} if status >= 400 else {}),
                    }
                ).decode()
            )
        if status == 200 and route is not None and active is not None:
            stats = server.stats[route]
            stats.requests += 1
            stats.latencies.append(seconds)
            first = labels[0].item() if hasattr(labels[0], "item") else labels[0]
            server.tickets.add(request_id, Ticket(route, active.name, active.version, first))
            logged = server.log is not None and server.log.wanted()
            if logged:
                assert server.log is not None
                server.log.request(
                    request_id, route, active.name, active.version, seconds, columns, labels, proba
                )
            for shadow in router.shadows:
                task = asyncio.create_task(
                    run_shadow(router, shadow, raw, request_id, labels, logged)
                )
                shadow_tasks.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(shadow_tasks.discard)
        return Response(
            orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            status_code=status,
            media_type="application/json",
            headers={"x-request-id": request_id},
        )

    async def run_shadow(
        router: Router,
        route: str,
        raw: dict[str, Any],
        request_id: str,
        primary: Any,
        logged: bool,
    ) -> None:
        """A copy of the request to a shadow route: logged and compared, never returned."""
        active = router.slots[route].active
        if active is None:
            return
        started = time.perf_counter()
        try:
            columns = active.model.validate(raw)
            # in a thread: a slow shadow (a native pipeline) must not hold up the event loop
            labels, proba = await asyncio.to_thread(active.model.predict_columns, columns)
        except Exception as exc:
            server.stats[route].errors += 1
            metrics.shadow.labels(server.name, route, "error").inc()
            log.debug("shadow %s failed on %s: %s", route, request_id, exc)
            return
        seconds = time.perf_counter() - started
        stats = server.stats[route]
        stats.requests += 1
        stats.latencies.append(seconds)
        agree = int(np.sum(np.asarray(labels) == np.asarray(primary)))
        metrics.shadow.labels(server.name, route, "agree").inc(agree)
        metrics.shadow.labels(server.name, route, "differ").inc(len(labels) - agree)
        if server.log is not None and logged:  # sampled with the answer it shadows
            server.log.request(
                request_id, route, active.name, active.version, seconds, columns, labels, proba,
                shadow=True,
            )  # fmt: skip

    def infer_shape(
        active: Active, body: Any, labels: np.ndarray, proba: np.ndarray | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_name": server.name,
            "model_version": str(active.version),
            "outputs": oip_outputs(labels, proba),
        }
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            out["id"] = body["id"]
        return out

    def predict_shape(
        active: Active, body: Any, labels: np.ndarray, proba: np.ndarray | None
    ) -> dict[str, Any]:
        out = plain_outputs(labels, proba)
        out.update(model=active.name, version=active.version)
        if active.model.classes is not None and proba is not None:
            out["classes"] = list(active.model.classes)
        return out

    plain = _json

    async def read_body(request: Request) -> Any:
        """The JSON body; 413 beyond ``max_body`` bytes (checked as it streams in)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise HTTPError(413, f"The body is larger than {max_body:,} bytes.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise HTTPError(413, f"The body is larger than {max_body:,} bytes.")
            chunks.append(chunk)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as exc:
            raise HTTPError(400, f"The body is not valid JSON: {exc}.") from exc

    @app.get("/v2/health/live", tags=["health"])
    async def live() -> Response:
        return plain(200, {"live": True})

    @app.get("/v2/health/ready", tags=["health"])
    async def ready() -> Response:
        ok = server.router is not None and server.router.ready
        return plain(200 if ok else 503, {"ready": ok})

    @app.get("/v2", tags=["metadata"])
    async def server_metadata(request: Request) -> Response:
        refused = server.gate(request, "predict")
        if refused is not None:
            return refused
        return plain(200, {"name": "shipyard", "version": __version__, "extensions": []})

    def metadata(name: str, version: str | None) -> Response:
        try:
            router = current_router(name)
            served = [s.active for s in router.slots.values() if s.active is not None]
            if version is not None:
                served = [a for a in served if str(a.version) == version]
                if not served:
                    raise HTTPError(404, f"Version {version!r} of {name!r} is not served here.")
        except HTTPError as exc:
            return plain(exc.status, {"error": exc.message})
        first = served[0]
        signature = first.model.signature
        inputs = [
            {"name": spec.name, "datatype": _OIP_TYPES.get(spec.type, "BYTES"), "shape": [-1]}
            for spec in (signature.inputs if signature is not None else [])
        ]
        outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
        if first.model.classes is not None:
            width = len(first.model.classes)
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
        return plain(
            200,
            {
                "name": name,
                "versions": sorted({str(a.version) for a in served}, key=int),
                "platform": f"shipyard-{first.model.version.flavor}-{first.model.format}",
                "inputs": inputs,
                "outputs": outputs,
            },
        )

    @app.get("/v2/models/{name}", tags=["metadata"])
    async def model_metadata(name: str, request: Request) -> Response:
        return server.gate(request, "predict") or metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["metadata"])
    async def version_metadata(name: str, version: str, request: Request) -> Response:
        return server.gate(request, "predict") or metadata(name, version)

    def model_ready(name: str, version: str | None) -> Response:
        response = metadata(name, version)
        if response.status_code != 200:
            return response
        return plain(200, {"name": name, "ready": True})

    @app.get("/v2/models/{name}/ready", tags=["health"])
    async def model_is_ready(name: str, request: Request) -> Response:
        return server.gate(request, "predict") or model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["health"])
    async def version_is_ready(name: str, version: str, request: Request) -> Response:
        return server.gate(request, "predict") or model_ready(name, version)

    @app.post("/v2/models/{name}/infer", tags=["inference"], openapi_extra=body_schema(INFER_BODY))
    async def infer_latest(name: str, request: Request) -> Response:
        return await answer(request, "infer", oip_columns, infer_shape, name)

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["inference"],
        openapi_extra=body_schema(INFER_BODY),
    )
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await answer(request, "infer", oip_columns, infer_shape, name, version)

    @app.post("/predict", tags=["inference"], openapi_extra=body_schema(PREDICT_BODY))
    async def predict_route(request: Request) -> Response:
        return await answer(request, "predict", plain_columns, predict_shape)

    @app.post("/feedback", tags=["inference"], openapi_extra=body_schema(FEEDBACK_BODY))
    async def feedback_route(request: Request) -> Response:
        refused = server.gate(request, "feedback")
        if refused is not None:
            return refused
        try:
            body = await read_body(request)
        except HTTPError as exc:
            return plain(exc.status, {"error": exc.message})
        items = body if isinstance(body, list) else [body]
        if not items or not all(isinstance(i, dict) for i in items):
            return plain(400, {"error": 'Send {"id": ..., "label": ..., "reward": ...} or a list.'})
        for i, item in enumerate(items):
            if not isinstance(item.get("id"), str):
                return plain(400, {"error": f"feedback[{i}].id must be a request id (text)."})
            reward = item.get("reward")
            if reward is not None and (
                isinstance(reward, bool) or not isinstance(reward, (int, float))
                or not 0 <= reward <= 1
            ):  # fmt: skip
                return plain(400, {"error": f"feedback[{i}].reward must be a number in [0, 1]."})
            if "label" not in item and reward is None:
                return plain(400, {"error": f"feedback[{i}] needs a label or a reward."})
        known = 0
        for item in items:
            ticket = server.tickets.get(item["id"])
            reward, label = item.get("reward"), item.get("label")
            if ticket is not None:
                known += 1
                stats = server.stats.setdefault(ticket.route, RouteStats())
                tickets = server.tickets
                if label is not None and item["id"] not in tickets.labelled:  # once each
                    tickets.labelled.add(item["id"])
                    stats.labelled += 1
                    stats.correct += float(label == ticket.prediction)
                if reward is not None and item["id"] not in tickets.rewarded:
                    tickets.rewarded.add(item["id"])
                    stats.rewarded += 1
                    stats.rewards += float(reward)
            if server.log is not None:
                server.log.feedback(item["id"], label, reward)
        return plain(200, {"accepted": len(items), "matched": known})

    @app.get("/metrics", tags=["operations"])
    async def metrics_route(request: Request) -> Response:
        refused = server.gate(request, "admin")
        if refused is not None:
            return refused
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    # The inference endpoints again, first in the route table and as plain Starlette routes:
    # they match before anything else and skip FastAPI's parameter solving (~20% of a
    # one-row request's time); the routes above stay for the OpenAPI description.
    async def fast_predict(request: Request) -> Response:
        return await answer(request, "predict", plain_columns, predict_shape)

    async def fast_infer(request: Request) -> Response:
        params = request.path_params
        return await answer(
            request, "infer", oip_columns, infer_shape, params["name"], params.get("version")
        )

    app.router.routes[:0] = [
        Route("/predict", fast_predict, methods=["POST"]),
        Route("/v2/models/{name}/infer", fast_infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", fast_infer, methods=["POST"]),
    ]
    return app
