"""The inference service: what the model server does, without HTTP.

:class:`InferenceService` gates a request (overload, API key, scope, rate limit), picks its
route by the deployment's policy, checks the body against the model's signature, predicts
(micro-batched), sends shadow copies, logs the answer, takes feedback and answers model
metadata; its :class:`~shipyard.serving._watch.Watcher` follows the store. The FastAPI
routes (``_routes``) only carry requests to it, so it can be driven and tested directly::

    service = InferenceService.create("churn@champion", poll=0)
    await service.start()
    answer = await service.infer({"age": 31, ...})
    await service.stop()

Statistics, tickets and feedback go through a ``_pool.Pool``, pooled with every worker and
replica of the deployment (``_evidence``); a failed request runs the judge at once
(``_breaker``), which may take the route's traffic away without waiting for a poll.

Errors are :class:`~shipyard.errors.ShipyardError` subclasses carrying their HTTP status
(``Unavailable`` 503, ``Unauthorized`` 401, ``Forbidden`` 403, ``TooManyRequests`` 429,
``NotFound`` 404, ``InvalidRequest`` 400, ``InvalidInput`` 422, ``PayloadTooLarge`` 413).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from shipyard.config import get_settings
from shipyard.errors import (
    InvalidInput,
    InvalidRequest,
    NotFound,
    ShipyardError,
    TooManyRequests,
    Unavailable,
)
from shipyard.serving._auth import ApiKey, Keyring, RateLimiter, check_key, default_keys
from shipyard.serving._batcher import THREAD_ROWS
from shipyard.serving._breaker import Breaker
from shipyard.serving._call import Call, fair_id, header
from shipyard.serving._deployments import DeploymentStore
from shipyard.serving._evidence import EvidenceStore, InProcessEvidence
from shipyard.serving._evidence_backends import open_evidence
from shipyard.serving._explain import explanation_of
from shipyard.serving._http import error_answer
from shipyard.serving._log import InferenceLog
from shipyard.serving._oip import oip_metadata, oip_outputs, requested_outputs
from shipyard.serving._pool import Pool
from shipyard.serving._protocol import (
    RequestBody,
    check_feedback,
    count_rows,
    oip_columns,
    plain_columns,
    plain_outputs,
    validated,
)
from shipyard.serving._router import Router, RouteStats, Ticket
from shipyard.serving._shadow import ShadowQueue
from shipyard.serving._slot import Active
from shipyard.serving._watch import Served, Watcher, settle_memory
from shipyard.store import default_database

__all__ = ["Answer", "InferenceService"]

log = logging.getLogger("shipyard.serving")
access = logging.getLogger("shipyard.serving.access")  # one JSON line per request, at INFO

Parse = Callable[[Any, list[str]], tuple[dict[str, Any], int]]


@dataclass(frozen=True)
class Answer:
    """A prediction answer: HTTP status, JSON payload, the request's id and extra headers."""

    status: int
    payload: dict[str, Any]
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)


async def _maybe_thread(big: bool, work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)``, in a thread when ``big`` (so the event loop keeps answering)."""
    return await asyncio.to_thread(work, *args) if big else work(*args)


class InferenceService:
    """One served model reference or deployment: gate, route, validate, predict, log,
    feedback (see the module docstring).

    The constructor only keeps its arguments; :meth:`create` builds one from settings
    (the default stores), :meth:`start` loads the models and starts the log writer and
    the watcher, :meth:`stop` ends them. Runs on one event loop (not thread-safe)."""

    def __init__(
        self,
        served: Served,
        watcher: Watcher,
        *,
        log: InferenceLog | None = None,
        keyring: Keyring | None = None,
        poll: float = 2.0,
        max_inflight: int = 1024,
        pool: Pool | None = None,
    ) -> None:
        self.served = served
        self.watcher = watcher
        self.log = log
        self.keyring = keyring
        self.poll = poll
        self.max_inflight = max_inflight
        self.inflight = 0
        self.limiter = RateLimiter()
        self.pool = pool or Pool(served, InProcessEvidence(), shared=False)
        self.breaker = Breaker(served, watcher, self.pool)
        self._watching: asyncio.Task[None] | None = None
        self.shadows = ShadowQueue(served, log, self.pool.shadowed)
        self._counters: dict[tuple[str, str, str, str, int], Any] = {}
        self._timers: dict[tuple[str, str, str, str], Any] = {}

    @classmethod
    def create(
        cls,
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
        store: DeploymentStore | None = None,
        evidence: EvidenceStore | None = None,
    ) -> InferenceService:
        """A service for ``model`` (``churn@champion``) or ``deployment``, on the default
        stores unless ``store`` is given (see ``serving.create_app`` for the settings); a
        deployment's evidence is pooled in ``evidence`` (default: ``open_evidence``)."""
        if (model is None) == (deployment is None):
            raise InvalidInput("Serve exactly one of model='name@alias' or deployment='name'.")
        name = deployment or str(model).split("@")[0]
        served = Served(name, model, deployment, format, max_batch, max_wait)
        if deployment is not None and store is None:
            from shipyard.serving.deployments import default_store

            store = default_store()
        if evidence is None and deployment is not None:
            evidence = open_evidence(getattr(store, "database", None) or default_database())
        keyring = Keyring(default_keys()) if auth else None
        inference_log = (
            InferenceLog.of(name, log_dir, sample=log_sample) if log_sample > 0 else None
        )
        shared, evidence = evidence is not None, evidence or InProcessEvidence()
        return cls(
            served,
            Watcher(served, store, keyring, evidence),
            log=inference_log,
            keyring=keyring,
            poll=poll,
            max_inflight=max_inflight,
            pool=Pool(served, evidence, get_settings().evidence_sync, shared=shared),
        )

    # -- life ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.served.name

    @property
    def stats(self) -> dict[str, RouteStats]:
        """Each route's statistics in the current period, pooled across workers and
        replicas (as of the last sync, plus this process's since)."""
        return self.served.stats

    async def start(self) -> None:
        """Load and warm the models, start the log writer and the watcher."""
        self.served.router = await asyncio.to_thread(self.watcher.build)
        settle_memory()
        if self.log is not None:
            self.log.start()
        log.info("serving %s", self.name)
        self.pool.on_sync = self.breaker.synced
        self.pool.start()
        if self.poll > 0:
            self._watching = asyncio.create_task(self.watcher.run(self.poll))

    async def stop(self) -> None:
        """Stop the watcher and the shadow copies; write what the log holds."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        await self.shadows.stop()
        await self.pool.stop()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    # -- gate and route ------------------------------------------------------------------
    def gate(self, headers: Mapping[str, str], scope: str) -> ApiKey | None:
        """The request's key (None without auth) if it may go on; raises Unavailable
        (overloaded), Unauthorized, Forbidden or TooManyRequests otherwise."""
        if self.inflight >= self.max_inflight:
            raise Unavailable(
                f"Overloaded: {self.inflight} requests in flight; retry shortly.", retry_after=1
            )
        if self.keyring is None:
            return None
        found = check_key(self.keyring, headers, scope)
        if found.rate_limit is not None:
            wait = self.limiter.allow(found.name, found.rate_limit)
            if wait > 0:
                raise TooManyRequests(
                    f"Rate limit of {found.rate_limit:g} requests/s for key {found.name!r} "
                    "reached.",
                    retry_after=wait,
                )
        return found

    def router_for(self, name: str | None = None) -> Router:
        """The router answering now; Unavailable before a model is ready, NotFound for a
        name this server does not serve."""
        router = self.served.router
        if router is None or not router.ready:
            raise Unavailable(f"No model is ready yet ({self.name}).")
        if name is not None and name != self.name:
            raise NotFound(f"Model {name!r} is not served here (serving {self.name!r}).")
        return router

    @property
    def ready(self) -> bool:
        router = self.served.router
        return router is not None and router.ready

    def pick(
        self, router: Router, body: Any, headers: Mapping[str, str], version: str | None
    ) -> str:
        """The route that answers: the one serving ``version`` when asked, else the
        policy's choice (by the sticky field's value, header or body, when it has one)."""
        if version is not None:
            for route, slot in router.slots.items():
                if slot.active is not None and str(slot.active.version) == version:
                    return route
            served = sorted({str(s.active.version) for s in router.slots.values() if s.active})
            raise NotFound(
                f"Version {version!r} of {self.name!r} is not served here "
                f"(serving {', '.join(served)})."
            )
        sticky = router.sticky
        key = None
        if sticky:
            key = header(headers, sticky)
            if key is None and isinstance(body, dict):
                record = body
                if isinstance(body.get("records"), list) and body["records"]:
                    record = body["records"][0]
                value = record.get(sticky) if isinstance(record, dict) else None
                key = None if value is None else str(value)
        return router.choose(key)

    # -- predict -------------------------------------------------------------------------
    async def infer(
        self,
        body: Any,
        *,
        endpoint: str = "predict",
        name: str | None = None,
        version: str | None = None,
        headers: Mapping[str, str] | None = None,
        explain: bool = False,
    ) -> Answer:
        """Answer a prediction request: ``endpoint`` ``predict`` (plain JSON records or
        columns), ``explain`` (the same) or ``infer`` (Open Inference Protocol); ``explain``
        adds the rows' explanation to the answer. ``body`` is parsed JSON or a
        :class:`RequestBody`. Never raises for a bad request: errors are answered with
        their status (and counted, and logged at access level) like any answer. Not
        gated: call :meth:`gate` first."""
        headers = headers or {}
        given = header(headers, "x-request-id")
        refused = given is not None and not fair_id(given)
        own = None if refused else given
        # a fresh id: 128 random bits as 32 hex digits (uuid4().hex's form, ~5x cheaper)
        call = Call(endpoint, own or os.urandom(16).hex(), time.perf_counter(), headers)
        call.explain = explain
        self.inflight += 1
        try:
            if refused:  # never echoed, kept or logged: a fresh id names the refusal
                status, payload, extra = error_answer(
                    InvalidRequest(
                        "X-Request-ID must be 1 to 128 printable characters (no control "
                        "characters); leave it out and the server names the request."
                    )
                )
            else:
                status, payload, extra = await self._answer(
                    call, body, given is None, name, version
                )
        finally:
            self.inflight -= 1
        seconds = time.perf_counter() - call.started
        self._record(call, status, seconds)
        if access.isEnabledFor(logging.INFO):
            self._access_line(call, status, seconds, payload)
        if status == 200:
            self._after(call, seconds)
        return Answer(status, payload, call.request_id, extra)

    async def _answer(
        self, call: Call, body: Any, may_rename: bool, name: str | None, version: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            call.router = router = self.router_for(name)
            if isinstance(body, RequestBody):
                body = await body.load()
            given = body.get("id") if may_rename and isinstance(body, dict) else None
            if isinstance(given, str) and fair_id(given):
                call.request_id = given  # an OIP request names itself: feedback uses that id
            call.route = self.pick(router, body, call.headers, version)
            return 200, await self._predict(call, body), {}
        except ShipyardError as exc:
            return error_answer(exc)
        except Exception as exc:
            log.exception("request %s failed", call.request_id)
            return 500, {"error": f"The model failed on this input: {exc}"}, {}

    async def _predict(self, call: Call, body: Any) -> dict[str, Any]:
        assert call.router is not None and call.route is not None
        call.active = active = call.router.slots[call.route].active
        assert active is not None
        signature = active.model.signature
        fast = None
        if (
            call.endpoint == "predict"
            and type(body) is dict
            and signature is not None
            and "records" not in body
            and "columns" not in body
        ):  # one record of numbers for a model of float inputs: converted in one step
            fast = signature.record_columns(body)
        big = False
        if fast is not None:
            call.record, rows = body, 1
            call.columns = columns = fast
        else:
            parse: Parse = oip_columns if call.endpoint == "infer" else plain_columns
            names = signature.names if signature is not None else []
            big = count_rows(body, call.endpoint) >= THREAD_ROWS  # seconds of Python: off loop
            raw, rows = await _maybe_thread(big, parse, body, names)
            call.raw = raw
            call.columns = columns = await _maybe_thread(big, validated, active.model, raw)
        wanted = requested_outputs(body, active.model) if call.endpoint == "infer" else []
        try:
            call.labels, call.proba, call.model_seconds = await active.batcher.predict(
                columns, rows
            )
        except InvalidInput:
            raise
        except Exception:
            self.pool.failed(call.router, call.route)
            self.breaker.failed(call.router, call.route)
            raise
        if call.endpoint == "infer":
            shape = functools.partial(self._infer_shape, active, body, call, wanted)
        else:
            shape = functools.partial(self._predict_shape, active, call.labels, call.proba)
        payload: dict[str, Any] = await _maybe_thread(big, shape)  # big: lists in a thread
        if call.explain:
            # always off the loop: an explanation may take seconds (model-agnostic methods)
            payload["explanation"] = await asyncio.to_thread(explanation_of, active.model, columns)
        payload.setdefault("id", call.request_id)
        return payload

    def _infer_shape(
        self, active: Active, body: Any, call: Call, wanted: list[tuple[str, bool]]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_name": self.name,
            "model_version": str(active.version),
            "outputs": oip_outputs(call.labels, call.proba, active.model, wanted),
        }
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            out["id"] = body["id"]
        return out

    @staticmethod
    def _predict_shape(
        active: Active, labels: np.ndarray, proba: np.ndarray | None
    ) -> dict[str, Any]:
        out = plain_outputs(labels, proba)
        out.update(model=active.name, version=active.version)
        if active.classes is not None and proba is not None:
            out["classes"] = list(active.classes)
        return out

    def _record(self, call: Call, code: int, seconds: float) -> None:
        """Prometheus: the request counted, its latency timed (answers under 400)."""
        active = call.active
        name, version = (active.name, str(active.version)) if active else ("", "")
        key = (call.endpoint, call.route or "", name, version, code)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.served.metrics.requests.labels(*key[:4], str(code))
        counter.inc()
        if code < 400:
            timer = self._timers.get(key[:4])
            if timer is None:
                timer = self._timers[key[:4]] = self.served.metrics.latency.labels(*key[:4])
            timer.observe(seconds)

    @staticmethod
    def _access_line(call: Call, status: int, seconds: float, payload: dict[str, Any]) -> None:
        active = call.active
        line = {
            "at": time.time(),
            "request_id": call.request_id,
            "endpoint": call.endpoint,
            "route": call.route,
            "model": active.name if active else None,
            "version": active.version if active else None,
            "status": status,
            "latency_ms": round(seconds * 1e3, 3),
            **({"error": payload["error"]} if status >= 400 else {}),
        }
        access.info(orjson.dumps(line).decode())

    def _after(self, call: Call, seconds: float) -> None:
        """A successful answer: statistics, its ticket (for feedback), the log, shadows."""
        route, active, labels = call.route, call.active, call.labels
        assert route is not None and active is not None and call.router is not None
        if type(labels) is np.ndarray and labels.ndim == 1 and labels.dtype.kind != "O":
            first = labels.item(0)  # a NumPy value as the Python value it holds
        else:
            first = labels[0]
            if isinstance(first, np.ndarray):  # a model with several outputs: a row of them
                first = first.tolist()
            elif hasattr(first, "item"):
                first = first.item()
        router = call.router
        ticket = Ticket(route, active.name, active.version, first, router.period)
        self.pool.answered(router, route, call.request_id, ticket, call.model_seconds)
        logged = self.log is not None and self.log.wanted()
        if logged:
            assert self.log is not None and call.columns is not None
            self.log.request(
                call.request_id, route, active.name, active.version, seconds, call.columns,
                labels, call.proba,
            )  # fmt: skip
        if router.shadows:  # a fast-path record is copied as parsing would have given it
            raw = call.raw
            if raw is None and call.record is not None:
                raw = {str(k): [v] for k, v in call.record.items()}
            self.shadows.offer(router, call.request_id, raw, labels, logged)

    # -- feedback, metadata, metrics -----------------------------------------------------
    async def feedback(self, body: Any) -> dict[str, int]:
        """Labels and rewards for earlier requests (one item or a list): logged, pooled, counted
        once per request whichever process answered it (``matched``: the items whose request
        any of them knows). InvalidRequest (400) for a bad item."""
        items = body if isinstance(body, list) else [body]
        check_feedback(items)
        if self.log is not None:
            for item in items:
                self.log.feedback(item["id"], item.get("label"), item.get("reward"))
        matched = await self.pool.feedback(items)
        return {"accepted": len(items), "matched": matched}

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The Open Inference Protocol's model metadata (NotFound, Unavailable)."""
        router = self.router_for(name)
        served = [s.active for s in router.slots.values() if s.active is not None]
        if version is not None:
            served = [a for a in served if str(a.version) == version]
            if not served:
                raise NotFound(f"Version {version!r} of {name!r} is not served here.")
        return oip_metadata(name, [a.model for a in served])

    def metrics(self) -> bytes:
        """The Prometheus exposition of this service's metrics, the policy's statistics
        on the pooled evidence computed at the scrape."""
        router, metrics = self.served.router, self.served.metrics
        if router is not None and self.served.deployment is not None:
            metrics.statistics(self.name, router.rollout.statistics(router.policy, self.stats))
        return metrics.exposition()
